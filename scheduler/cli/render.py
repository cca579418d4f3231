"""Rich tables for the terminal: what a scenario's cluster and gangs look like.

Every table fits a 100-column terminal: long cells end in an ellipsis instead of folding into tall columns,
and long lists stop after a screenful with a count of the rest. Text from the scenario (names, messages) is
escaped, because a bracket in a user's value would otherwise be read as Rich markup and vanish.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from scheduler.api.core import Node, Pod
from scheduler.api.membership import pod_group_of
from scheduler.api.podgroup import PodGroup
from scheduler.api.priority import group_priority, priority_class_values
from scheduler.api.quantity import format_scheduler_units
from scheduler.engine.cycle import Decision
from scheduler.sim.generate import ARRIVAL
from scheduler.sim.report import Summary
from scheduler.sim.scenario import Scenario

if TYPE_CHECKING:
    from scheduler.kube.explain import Explanation

GPU = "nvidia.com/gpu"
EMPTY = "\u2013"  # en dash: a figure that does not exist (no job started), unlike a zero
CLUSTER_ROWS = 20
WIDTH = 100  # the terminal the column caps are set for; a wider one lends its spare room to the names


def _spare(width: int, share: int) -> int:
    return max(0, width - WIDTH) // share


def natural_key(text: str) -> tuple[tuple[int, int | str], ...]:
    """Sort key that orders the numbers inside names by value: rack-2 before rack-10."""
    return tuple((0, int(part)) if part.isdigit() else (1, part) for part in re.split(r"(\d+)", text) if part)


def cap(text: str, width: int) -> str:
    """`text` cut to `width` characters, the cut shown by an ellipsis."""
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"


def _table(title: str) -> Table:
    # No edges and one space of padding: the frame of the default box costs a 9-column table 20 characters.
    return Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, show_edge=False, padding=(0, 1, 0, 0))


def _capped_lines(lines: Iterable[str], width: int, limit: int) -> str:
    items = list(lines)
    shown = [escape(cap(line, width)) for line in items[:limit]]
    if len(items) > limit:
        shown.append(f"… {len(items) - limit} more")
    return "\n".join(shown)


def decisions_table(
    decisions: list[Decision], title: str = "Decisions (queue order: priority, then age)", width: int = WIDTH
) -> Table:
    """One row per scheduling unit, in the order the queue decided them; why a unit waits is listed below
    the table (`decision_reasons`), as a sentence is too long for a cell."""
    table = _table(title)
    for name in ("Unit", "Priority", "Result", "Placement", "Preempted", "Solver"):
        table.add_column(name, no_wrap=True, overflow="ellipsis", justify="right" if name == "Priority" else "left")
    for decision in decisions:
        plan = decision.plan
        colour = "green" if decision.scheduled else "yellow"
        solver = f"{plan.status.value}, " if plan else ""
        solver += f"{decision.duration_s * 1000:.1f} ms"
        if plan and plan.placed:
            solver += f"\n{plan.method}"
        if plan and plan.gap:
            solver += f", gap {plan.gap:.1%}"
        placement = ""
        if plan and plan.placed:
            nodes = len(set(plan.assignments.values()))
            placement = f"{escape(cap(plan.domain, 14 + _spare(width, 4)))}\n{nodes} node{'s' if nodes != 1 else ''}"
        victims = ""
        if plan and plan.victims:
            victims = _capped_lines(plan.victims, 16 + _spare(width, 4), 3) + f"\n({len(plan.victim_pods)} pods)"
        table.add_row(
            escape(cap(decision.unit.key, 20 + _spare(width, 2))),
            str(decision.unit.priority),
            f"[{colour}]{decision.reason.value}[/]",
            placement,
            victims,
            solver,
        )
    return table


def decision_reasons(decisions: list[Decision]) -> list[Text]:
    """Why each unit that was not scheduled waits, one paragraph per unit."""
    out = []
    for decision in decisions:
        if not decision.scheduled and decision.message:
            line = Text(f"{decision.unit.key}: ", style="yellow")
            line.append(decision.message)
            out.append(line)
    return out


def render_scenario(console: Console, scenario: Scenario) -> None:
    console.rule(Text.assemble(("Scenario ", "bold"), (scenario.name, "bold"), f"  ({scenario.source})"))
    if scenario.description:
        console.print(scenario.description, highlight=False, markup=False)
    console.print(cluster_table(scenario, width=console.width))
    console.print(groups_table(scenario, width=console.width))
    singles = [p for p in scenario.pods if not pod_group_of(p)]
    console.print(
        f"{len(scenario.nodes)} nodes, {len(scenario.pod_groups)} pod groups "
        f"({len(scenario.workloads)} from Workloads), {len(scenario.pods)} pods ({len(singles)} without a group).",
        highlight=False,
    )
    for warning in scenario.warnings:
        console.print(Text.assemble(("warning: ", "yellow"), warning), highlight=False)


def cluster_table(scenario: Scenario, limit: int = CLUSTER_ROWS, width: int = WIDTH) -> Table:
    """One row per narrowest non-host domain (e.g. rack), with the path above it and its capacity."""
    levels = [lvl for lvl in scenario.topology_levels if lvl != "kubernetes.io/hostname"]
    domains: dict[tuple[str, ...], list[Node]] = defaultdict(list)
    for node in scenario.nodes:
        domains[tuple(node.metadata.labels.get(level, "-") for level in levels)].append(node)
    more = max(0, len(domains) - limit)
    title = "Cluster" + (f" (first {limit} of {len(domains)} {_plural(levels)})" if more else "")
    table = _table(title)
    # The narrowest level's names repeat the wider ones (block-1-rack-2), so it gets the room.
    widths = [10 + _spare(width, 6)] * (len(levels) - 1) + [18 + _spare(width, 3)] if levels else []
    for level in levels:
        table.add_column(level.rsplit("/", 1)[-1].capitalize(), no_wrap=True, overflow="ellipsis")
    for name in ("Nodes", "CPU", "Memory", "GPU"):
        table.add_column(name, justify="right", no_wrap=True)
    table.add_column("Taints", no_wrap=True, overflow="ellipsis")
    ordered = sorted(domains.items(), key=lambda item: tuple(natural_key(part) for part in item[0]))
    for path, nodes in ordered[:limit]:
        totals: dict[str, int] = defaultdict(int)
        for node in nodes:
            for resource, amount in node.allocatable().items():
                totals[resource] += amount
        usable = sum(n.ready and not n.spec.unschedulable for n in nodes)
        taints = sorted({f"{t.key}={t.value}:{t.effect.value}" for n in nodes for t in n.spec.taints})
        table.add_row(
            *(escape(cap(part, width)) for part, width in zip(path, widths, strict=True)),
            f"{len(nodes)}" + (f" ({len(nodes) - usable} off)" if usable < len(nodes) else ""),
            format_scheduler_units("cpu", totals["cpu"]),
            format_scheduler_units("memory", totals["memory"]),
            str(totals.get(GPU, 0)),
            _capped_lines(taints, 20 + _spare(width, 3), 2),
        )
    if more:
        rest = [n for _, nodes in ordered[limit:] for n in nodes]
        table.add_row(f"… {more} more", *([""] * (len(levels) - 1)), str(len(rest)), *([""] * 4))
    return table


def _plural(levels: list[str]) -> str:
    return (levels[-1].rsplit("/", 1)[-1] + "s") if levels else "domains"


def groups_table(scenario: Scenario, limit: int = 15, width: int = WIDTH) -> Table:
    classes = priority_class_values(list(scenario.priority_classes))
    more = max(0, len(scenario.pod_groups) - limit)
    title = "Pod groups" + (f" (first {limit} of {len(scenario.pod_groups)}, by arrival)" if more else "")
    table = _table(title)
    for name in ("Group", "From", "Policy", "Pods", "Priority", "Topology", "Evict", "Per-pod requests"):
        table.add_column(name, no_wrap=True, overflow="ellipsis", justify="right" if name == "Priority" else "left")

    def arrival(group: PodGroup) -> float:
        times = [float(p.metadata.annotations.get(ARRIVAL, 0) or 0) for p in scenario.pods_of(group)]
        return min(times, default=0.0)

    groups = sorted(scenario.pod_groups, key=lambda g: (arrival(g), g.metadata.namespace or "", g.metadata.name))
    for group in groups[:limit]:
        pods = scenario.pods_of(group)
        policy = group.spec.scheduling_policy
        priority = group_priority(group.spec, classes, pods)
        topology = [
            f"{'req' if c.mode.value == 'Required' else 'pref'} {c.key.rsplit('/', 1)[-1]}"
            for c in group.spec.scheduling_constraints.topology
        ]
        table.add_row(
            escape(cap(f"{group.metadata.namespace}/{group.metadata.name}", 22 + _spare(width, 2))),
            "Workload" if group.spec.workload_ref else "PodGroup",
            f"gang {policy.gang.min_count}" if policy.gang else "basic",
            _state(len(pods), policy.min_count),
            "[red]unknown[/]" if priority is None else str(priority),
            _capped_lines(topology, 10, 2) or "-",
            "whole" if group.spec.disruption_mode.value == "PodGroup" else "pod",
            _signatures(pods, 21 + _spare(width, 3)),
        )
    return table


def _state(present: int, needed: int) -> str:
    if present >= needed:
        return f"[green]{present}/{needed}[/]"
    return f"[yellow]{present}/{needed} short[/]"


_SHORT = {"cpu": "cpu", "memory": "", GPU: "gpu"}


def _signatures(pods: list[Pod], width: int) -> str:
    counts: dict[str, int] = defaultdict(int)
    for pod in pods:
        requests = pod.requests()
        shape = " ".join(
            f"{format_scheduler_units(name, amount)}{_SHORT[name]}"
            if name in _SHORT
            else f"{name.rsplit('/', 1)[-1]}={format_scheduler_units(name, amount)}"
            for name, amount in sorted(requests.items())
            if name != "pods"
        )
        counts[shape] += 1
    return _capped_lines((f"{count} x {shape}" for shape, count in counts.items()), width, 3) or "-"


def comparison_table(summaries: list[Summary]) -> Table:
    """Policies side by side on the same trace, every time average over the same window."""
    window = summaries[0] if summaries else None
    table = _table("Policies on the same trace" + (f", over 0{EMPTY}{_duration(window.window_s)}" if window else ""))
    if window is not None:
        table.caption = (
            f"Time averages and partial-gang hours span the same window for every policy, t=0 {window.window_basis}; "
            "waits count the jobs that started."
        )
        table.caption_justify = "left"
    table.add_column("Metric", overflow="fold")  # a narrow terminal wraps the names, never the figures
    resource = summaries[0].resource.rsplit("/", 1)[-1].upper() if summaries else ""
    rows: list[tuple[str, Callable[[Summary], str]]] = [
        ("jobs started / completed / never started", lambda s: f"{s.started} / {s.completed} / {s.never_started}"),
        ("wait until running p50 / p95", lambda s: _pair(s.p50_wait_s, s.p95_wait_s, _duration)),
    ]
    classes = [c.priority_class for c in summaries[0].waits_by_class] if summaries else []
    for index, name in enumerate(classes):
        rows.append((f"  {cap(name, 26)}: p50 / p95", _class_waits(index)))
    useful = f"{resource} held by running jobs (useful)"
    rows += [
        (f"{resource} allocated (time average)", lambda s: _share(s, s.utilisation)),
        (useful, lambda s: _share(s, s.useful_utilisation)),
        (f"{resource}-hours held by partial gangs", lambda s: f"{s.partial_hours:,.1f}"),
        ("preemptions / victim pods", lambda s: f"{s.preemptions} / {s.victim_pods}"),
        (f"{resource}-hours of work lost to preemption", lambda s: f"{s.lost_hours:,.1f}"),
        ("multi-pod jobs in one rack / block", lambda s: _pair(s.one_rack, s.one_block, lambda x: f"{x:.0%}")),
        ("decision (solver) time p50 / p99", lambda s: _pair(s.decision_p50_ms, s.decision_p99_ms, _ms)),
        ("makespan (last job completion)", lambda s: _duration(s.makespan_s)),
    ]
    if any(s.provision_requests for s in summaries):
        rows.append(("capacity requests / nodes added", lambda s: f"{s.provision_requests} / {s.nodes_added}"))
    cells = [[cell(s) for s in summaries] for _, cell in rows]
    for i, summary in enumerate(summaries):
        # Figures are never cut: on a narrow terminal the metric names give way instead.
        widest = max((len(row[i]) for row in cells), default=0)
        table.add_column(
            escape(summary.policy), justify="right", no_wrap=True, min_width=max(widest, len(summary.policy))
        )
    for (label, _), row in zip(rows, cells, strict=True):
        table.add_row(escape(label), *row)
    return table


def _class_waits(index: int) -> Callable[[Summary], str]:
    def cell(summary: Summary) -> str:
        if index >= len(summary.waits_by_class):
            return EMPTY
        waits = summary.waits_by_class[index]
        return _pair(waits.p50_s, waits.p95_s, _duration)

    return cell


def _share(summary: Summary, value: float) -> str:
    return f"{value:.1%}" if summary.window_s > 0 else EMPTY


def _pair(first: float | None, second: float | None, fmt: Callable[[float], str]) -> str:
    if first is None and second is None:
        return EMPTY
    return f"{EMPTY if first is None else fmt(first)} / {EMPTY if second is None else fmt(second)}"


def _ms(value: float) -> str:
    return f"{value:.1f} ms"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return EMPTY
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def render_explanation(console: Console, result: Explanation) -> None:
    meta, status = result.group.get("metadata", {}), result.group.get("status", {})
    console.rule(f"[bold]PodGroup {meta.get('namespace')}/{meta.get('name')}[/]")
    policy = result.group.get("spec", {}).get("schedulingPolicy", {})
    min_count = policy.get("gang", {}).get("minCount", 1)
    console.print(
        f"phase {status.get('phase', 'Pending')}, minCount {min_count}, scheduled {status.get('scheduled', 0)}, "
        f"running {status.get('running', 0)}, placement {status.get('placement', {}).get('domain') or '-'}",
        highlight=False,
    )
    for condition in status.get("conditions", []):
        console.print(
            f"{condition['type']}={condition['status']} ({condition['reason']}): {condition.get('message', '')}",
            highlight=False,
        )
    decision = status.get("lastDecision")
    if decision:
        gap = f", gap {decision['gap']:.1%}" if decision.get("gap") is not None else ""
        console.print(
            f"last decision: {decision['solverStatus']}{gap}, {decision.get('victims', 0)} victims, "
            f"{decision.get('durationSeconds', 0) * 1000:.1f} ms",
            highlight=False,
        )
    pods = Table(title="Pods", title_justify="left")
    for name in ("Pod", "Node", "Phase", "Why not scheduled"):
        pods.add_column(name, overflow="fold")
    for pod in result.pods:
        pods.add_row(pod["name"], pod["node"], pod["phase"], pod["message"])
    console.print(pods)
    events = Table(title="Events", title_justify="left")
    for name in ("Time", "Type", "Reason", "Object", "Message"):
        events.add_column(name, overflow="fold")
    for event in result.events[-20:]:
        events.add_row(event["time"], event["type"], event["reason"], event["object"], event["message"])
    console.print(events)

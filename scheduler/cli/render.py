"""Rich tables for the terminal: what a scenario's cluster and gangs look like, and each decision.

Every table fits a 100-column terminal: long cells end in an ellipsis instead of folding into tall columns,
and long lists stop after a screenful with a count of the rest. Text from the scenario (names, messages) is
escaped, because a bracket in a user's value would otherwise be read as Rich markup and vanish.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from scheduler.api.core import Node, Pod
from scheduler.api.membership import pod_group_of
from scheduler.api.podgroup import PodGroup
from scheduler.api.priority import group_priority, priority_class_values
from scheduler.api.quantity import format_scheduler_units
from scheduler.cli.cells import EMPTY as EMPTY
from scheduler.cli.cells import WIDTH, cap, plain_table, spare
from scheduler.cli.cells import natural_key as natural_key

# The comparison tables live in cli/compare.py; these names are re-exported for the callers that take every
# terminal table from here.
from scheduler.cli.compare import comparison_table as comparison_table
from scheduler.cli.compare import key_figures_table as key_figures_table
from scheduler.cli.compare import print_key_figures as print_key_figures
from scheduler.cli.compare import verdict_lines as verdict_lines
from scheduler.engine.cycle import Decision
from scheduler.sim.generate import ARRIVAL
from scheduler.sim.scenario import Scenario

if TYPE_CHECKING:
    from scheduler.kube.explain import Explanation

GPU = "nvidia.com/gpu"
CLUSTER_ROWS = 20


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
    table = plain_table(title)
    for name in ("Unit", "Priority", "Result", "Placement", "Preempted", "Solver"):
        table.add_column(name, no_wrap=True, overflow="ellipsis", justify="right" if name == "Priority" else "left")
    for decision in decisions:
        plan = decision.plan
        colour = "green" if decision.scheduled else "yellow"
        # A unit decided without the solver (its quorum is short, say) has no solver figures.
        solver = f"{plan.status.value}, {decision.duration_s * 1000:.1f} ms" if plan else EMPTY
        if plan and plan.placed:
            solver += f"\n{plan.method}"
        if plan and plan.gap:
            solver += f", gap {plan.gap:.1%}"
        placement = EMPTY
        if plan and plan.placed:
            nodes = len(set(plan.assignments.values()))
            placement = f"{escape(cap(plan.domain, 14 + spare(width, 4)))}\n{nodes} node{'s' if nodes != 1 else ''}"
        victims = EMPTY
        if plan and plan.victims:
            victims = _capped_lines(plan.victims, 16 + spare(width, 4), 3) + f"\n({len(plan.victim_pods)} pods)"
        table.add_row(
            escape(cap(decision.unit.key, 20 + spare(width, 2))),
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
        domains[tuple(node.metadata.labels.get(level, EMPTY) for level in levels)].append(node)
    more = max(0, len(domains) - limit)
    title = "Cluster" + (f" (first {limit} of {len(domains)} {_plural(levels)})" if more else "")
    table = plain_table(title)
    # The narrowest level's names repeat the wider ones (block-1-rack-2), so it gets the room.
    widths = [10 + spare(width, 6)] * (len(levels) - 1) + [18 + spare(width, 3)] if levels else []
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
            _capped_lines(taints, 20 + spare(width, 3), 2) or EMPTY,
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
    table = plain_table(title)
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
            escape(cap(f"{group.metadata.namespace}/{group.metadata.name}", 22 + spare(width, 2))),
            "Workload" if group.spec.template else "PodGroup",
            f"gang {policy.gang.min_count}" if policy.gang else "basic",
            _state(len(pods), policy.min_count),
            "[red]unknown[/]" if priority is None else str(priority),
            _capped_lines(topology, 10, 2) or EMPTY,
            "whole" if group.spec.disruption_mode.value == "PodGroup" else "pod",
            _signatures(pods, 21 + spare(width, 3)),
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
    return _capped_lines((f"{count} x {shape}" for shape, count in counts.items()), width, 3) or EMPTY


def render_explanation(console: Console, result: Explanation) -> None:
    meta, status = result.group.get("metadata", {}), result.group.get("status", {})
    console.rule(f"[bold]PodGroup {meta.get('namespace')}/{meta.get('name')}[/]")
    policy = result.group.get("spec", {}).get("schedulingPolicy", {})
    min_count = policy.get("gang", {}).get("minCount", 1)
    console.print(
        f"phase {status.get('phase', 'Pending')}, minCount {min_count}, scheduled {status.get('scheduled', 0)}, "
        f"running {status.get('running', 0)}, placement {status.get('placement', {}).get('domain') or EMPTY}",
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

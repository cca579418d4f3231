"""Rich tables for the terminal: what a scenario's cluster and gangs look like."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

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


def decisions_table(decisions: list[Decision], title: str = "Decisions (queue order: priority, then age)") -> Table:
    """One row per scheduling unit, in the order the queue decided them."""
    table = Table(title=title, title_justify="left")
    for name in ("Unit", "Priority", "Result", "Placement", "Nodes", "Preempted", "Solver", "Time", "Why"):
        table.add_column(name, overflow="fold")
    for decision in decisions:
        plan = decision.plan
        result = decision.reason.value
        colour = "green" if decision.scheduled else "yellow"
        solver = (
            f"{plan.status.value} ({plan.method})" if plan and plan.placed else (plan.status.value if plan else "-")
        )
        if plan and plan.gap:
            solver += f", gap {plan.gap:.1%}"
        table.add_row(
            decision.unit.key,
            str(decision.unit.priority),
            f"[{colour}]{result}[/]",
            plan.domain if plan else "",
            str(len(set(plan.assignments.values()))) if plan and plan.placed else "",
            "\n".join(plan.victims) + f"\n({len(plan.victim_pods)} pods)" if plan and plan.victims else "",
            solver,
            f"{decision.duration_s * 1000:.1f} ms",
            "" if decision.scheduled else decision.message,
        )
    return table


def render_scenario(console: Console, scenario: Scenario) -> None:
    console.rule(f"[bold]Scenario {scenario.name}[/]  ({scenario.source})")
    if scenario.description:
        console.print(scenario.description, highlight=False)
    console.print(cluster_table(scenario))
    console.print(groups_table(scenario))
    singles = [p for p in scenario.pods if not pod_group_of(p)]
    console.print(
        f"{len(scenario.nodes)} nodes, {len(scenario.pod_groups)} pod groups "
        f"({len(scenario.workloads)} from Workloads), {len(scenario.pods)} pods ({len(singles)} without a group).",
        highlight=False,
    )
    for warning in scenario.warnings:
        console.print(f"[yellow]warning:[/] {warning}", highlight=False)


def cluster_table(scenario: Scenario) -> Table:
    """One row per narrowest non-host domain (e.g. rack), with the path above it and its capacity."""
    levels = [lvl for lvl in scenario.topology_levels if lvl != "kubernetes.io/hostname"]
    table = Table(title="Cluster", title_justify="left")
    for level in levels:
        table.add_column(level.rsplit("/", 1)[-1].capitalize())
    for name in ("Nodes", "Usable", "CPU", "Memory", "GPU", "Taints"):
        table.add_column(name, justify="right" if name not in ("Taints",) else "left")
    domains: dict[tuple[str, ...], list[Node]] = defaultdict(list)
    for node in scenario.nodes:
        domains[tuple(node.metadata.labels.get(level, "-") for level in levels)].append(node)
    for path, nodes in sorted(domains.items()):
        totals: dict[str, int] = defaultdict(int)
        for node in nodes:
            for resource, amount in node.allocatable().items():
                totals[resource] += amount
        usable = sum(n.ready and not n.spec.unschedulable for n in nodes)
        taints = sorted({f"{t.key}={t.value}:{t.effect.value}" for n in nodes for t in n.spec.taints})
        table.add_row(
            *path,
            str(len(nodes)),
            f"{usable}" + (f" ({len(nodes) - usable} cordoned/NotReady)" if usable < len(nodes) else ""),
            format_scheduler_units("cpu", totals["cpu"]),
            format_scheduler_units("memory", totals["memory"]),
            str(totals.get(GPU, 0)),
            ", ".join(taints),
        )
    return table


def groups_table(scenario: Scenario, limit: int = 15) -> Table:
    classes = priority_class_values(list(scenario.priority_classes))
    more = max(0, len(scenario.pod_groups) - limit)
    title = "Pod groups" + (f" (first {limit} of {len(scenario.pod_groups)})" if more else "")
    table = Table(title=title, title_justify="left")
    for name in ("Group", "From", "Policy", "Pods", "Priority", "Topology", "Disruption", "Per-pod requests", "State"):
        table.add_column(name, overflow="fold")

    def arrival(group: PodGroup) -> float:
        times = [float(p.metadata.annotations.get(ARRIVAL, 0) or 0) for p in scenario.pods_of(group)]
        return min(times, default=0.0)

    groups = sorted(scenario.pod_groups, key=lambda g: (arrival(g), g.metadata.namespace or "", g.metadata.name))
    for group in groups[:limit]:
        pods = scenario.pods_of(group)
        policy = group.spec.scheduling_policy
        priority = group_priority(group.spec, classes, pods)
        topology = ", ".join(
            f"{c.mode.value} {c.key.rsplit('/', 1)[-1]}" for c in group.spec.scheduling_constraints.topology
        )
        ref = group.spec.workload_ref
        table.add_row(
            f"{group.metadata.namespace}/{group.metadata.name}",
            f"Workload {ref.workload_name}" if ref else "PodGroup",
            f"gang, minCount {policy.gang.min_count}" if policy.gang else "basic",
            f"{len(pods)}/{policy.min_count}",
            "[red]unknown class[/]" if priority is None else str(priority),
            topology or "-",
            group.spec.disruption_mode.value,
            _signatures(pods),
            _state(len(pods), policy.min_count),
        )
    return table


def _state(present: int, needed: int) -> str:
    if present >= needed:
        return "[green]ready to schedule[/]"
    return f"[yellow]waiting for pods {present}/{needed}[/]"


def _signatures(pods: list[Pod]) -> str:
    counts: dict[str, int] = defaultdict(int)
    for pod in pods:
        requests = pod.requests()
        shape = " ".join(
            f"{name.rsplit('/', 1)[-1]}={format_scheduler_units(name, amount)}"
            for name, amount in sorted(requests.items())
            if name != "pods"
        )
        counts[shape] += 1
    return "\n".join(f"{count} x {shape}" for shape, count in counts.items()) or "-"


def comparison_table(summaries: list[Summary]) -> Table:
    """Policies side by side on the same trace."""
    table = Table(title="Policies on the same trace", title_justify="left")
    table.add_column("Metric")
    for summary in summaries:
        table.add_column(summary.policy, justify="right")
    resource = summaries[0].resource.rsplit("/", 1)[-1].upper() if summaries else ""
    rows: list[tuple[str, Callable[[Summary], str]]] = [
        ("jobs started / completed / never", lambda s: f"{s.started} / {s.completed} / {s.never_started}"),
        ("mean wait until running", lambda s: _duration(s.mean_wait_s)),
        ("p95 wait until running", lambda s: _duration(s.p95_wait_s)),
        (f"{resource} allocated (time average)", lambda s: f"{s.utilisation:.1%}"),
        (f"{resource} held by running jobs", lambda s: f"{s.useful_utilisation:.1%}"),
        (f"{resource}-hours held by partial gangs", lambda s: f"{s.partial_hours:,.1f}"),
        ("preemptions / victim pods", lambda s: f"{s.preemptions} / {s.victim_pods}"),
        (f"{resource}-hours of work lost to preemption", lambda s: f"{s.lost_hours:,.1f}"),
        ("multi-pod jobs in one rack / block", lambda s: f"{s.one_rack:.0%} / {s.one_block:.0%}"),
        ("decision time p50 / p99", lambda s: f"{s.decision_p50_ms:.1f} / {s.decision_p99_ms:.1f} ms"),
        ("makespan", lambda s: _duration(s.makespan_s)),
    ]
    if any(s.provision_requests for s in summaries):
        rows.append(("capacity requests / nodes added", lambda s: f"{s.provision_requests} / {s.nodes_added}"))
    for label, cell in rows:
        table.add_row(label, *(cell(s) for s in summaries))
    return table


def _duration(seconds: float) -> str:
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

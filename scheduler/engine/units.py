"""Scheduling units: a PodGroup with its pending pods, or a lone pod, ready for the queue and the solver."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from scheduler.api.integrations import WAITING
from scheduler.api.podgroup import PodGroup, ScheduledReason
from scheduler.api.policy import GroupPolicy, PreemptionPolicy, TopologyMode
from scheduler.api.priority import group_priority, pod_priority
from scheduler.api.quantity import Quantity, format_scheduler_units, to_scheduler_units
from scheduler.engine.state import ClusterState, PodInfo
from scheduler.engine.storage import volume_needs
from scheduler.solver.problem import Gang, gang_from_pods

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
WAITING_PODS = ScheduledReason.WAITING_FOR_PODS


@dataclass(frozen=True)
class Unit:
    """What one cycle decides: `gang` is None while the unit waits (for pods, its group, its priority class)."""

    key: str  # group key, or pod key for a pod without a group
    priority: int
    created: datetime
    min_count: int
    pending: tuple[PodInfo, ...]
    bound: int  # pods of the group already bound (they count toward minCount)
    group: PodGroup | None = None
    gang: Gang | None = None
    waiting: ScheduledReason | None = None
    message: str = ""
    preemption: PreemptionPolicy = PreemptionPolicy.PREEMPT_LOWER_PRIORITY

    def order(self) -> tuple[int, datetime, str]:
        """Queue order, as written down: 1. priority (highest first) 2. creation time 3. key."""
        return (-self.priority, self.created, self.key)


def pending_units(
    state: ClusterState, scheduler_name: str, *, gangs: bool = True, keep: Callable[[str], bool] | None = None
) -> list[Unit]:
    """Every unit with pods of ours still to place, in queue order.

    With `gangs` off every pod is its own unit, as kube-scheduler's default profile sees them (the baseline
    that shows partial gangs and deadlock). `keep` (a unit's key) leaves out, before building them, the units
    the caller would not decide anyway (engine/backoff.py): building every waiting gang on every pass was most
    of a pass.
    """
    units: list[Unit] = []
    seen_groups: set[str] = set()
    for info in state.pods.values():
        if info.scheduler_name != scheduler_name or info.node is not None or info.deleting:
            continue  # a pod being deleted is never scheduled (kube-scheduler skips it too)
        if info.gates and (info.group_key is None or not gangs):
            message = f"waiting for scheduling gates: {', '.join(info.gates)}"
            units.append(_waiting(info.key, (info,), 1, 0, info.created or EPOCH, message, reason=WAITING_PODS))
        elif info.refused and (info.group_key is None or not gangs):
            units.append(_waiting(info.key, (info,), 1, 0, info.created or EPOCH, info.refused))
        elif info.held:
            waits = info.held.startswith(WAITING)
            reason = ScheduledReason.WAITING_FOR_PODS if waits else ScheduledReason.UNSCHEDULABLE
            units.append(_waiting(info.key, (info,), 1, 0, info.created or EPOCH, info.held, reason=reason))
        elif info.group_key is None or not gangs:
            if keep is None or keep(info.key):
                units.append(_single(state, info))
        elif info.group_key not in seen_groups:
            seen_groups.add(info.group_key)
            if keep is None or keep(info.group_key):
                units.append(_grouped(state, info.group_key, scheduler_name))
    return sorted(units, key=Unit.order)


def _single(state: ClusterState, info: PodInfo) -> Unit:
    priority = pod_priority(info.pod, state.priority_classes)
    created = info.created or EPOCH
    if priority is None:
        return _waiting(
            info.key, (info,), 1, 0, created, f"priority class {info.pod.spec.priority_class_name!r} not found"
        )
    gang = _gang(state, info.key, [info], 1)
    if isinstance(gang, str):
        return _waiting(info.key, (info,), 1, 0, created, gang)
    never = info.pod.spec.preemption_policy == PreemptionPolicy.NEVER
    policy = PreemptionPolicy.NEVER if never else PreemptionPolicy.PREEMPT_LOWER_PRIORITY
    return Unit(info.key, priority, created, 1, (info,), 0, gang=gang, preemption=policy)


def _gang(
    state: ClusterState,
    key: str,
    pods: list[PodInfo],
    need: int,
    policy: GroupPolicy | None = None,
    pinned: dict[str, str] | None = None,
) -> Gang | str:
    """The solver's view of the pods, with their labels kept where running pods' anti-affinity reads them and
    what their volumes ask of a node; or why a pod must wait (a claim missing, unbound, in use elsewhere)."""
    volumes = {}
    for pod in pods:
        needs = volume_needs(state.storage, pod.pod)
        if isinstance(needs, str):
            return needs if len(pods) == 1 else f"pod {pod.name}: {needs}"
        if needs:
            volumes[pod.key] = needs
    neighbours = state.neighbours
    return gang_from_pods(
        key,
        [(p.key, p.pod) for p in pods],
        need,
        policy,
        pinned,
        neighbours.anti_affinity_keys(),
        selected=neighbours.has_repellers(),
        volumes=volumes,
    )


def _grouped(state: ClusterState, group_key: str, scheduler_name: str) -> Unit:
    everyone = [m for m in state.members(group_key) if m.scheduler_name == scheduler_name]
    members = [m for m in everyone if not (m.deleting and m.node is None)]
    gated = [m for m in members if m.node is None and m.gates]
    pending = tuple(m for m in members if m.node is None and not m.gates)
    bound = sum(1 for m in members if m.node is not None and m.phase not in ("Succeeded", "Failed"))
    created = min((m.created or EPOCH for m in members), default=EPOCH)
    group = state.groups.get(group_key)
    if group is None:
        name = group_key.split("/", 1)[1]
        return _waiting(group_key, pending, 1, bound, created, f"PodGroup {name!r} does not exist")
    policy = group.spec
    min_count = policy.scheduling_policy.min_count
    created = group.metadata.creation_timestamp or created
    origin = group.origin
    problem = state.clashes.get(group_key) or (origin.refusal if origin else "")
    if not problem and origin is not None and origin.uniform_pods:
        problem = _disagreement(state, state.members(group_key))
    if problem:
        error = ScheduledReason.SCHEDULER_ERROR
        return _waiting(group_key, pending, min_count, bound, created, problem, group, error)
    priority = group_priority(policy, state.priority_classes, [m.pod for m in members])
    if priority is None:
        message = f"priority class {policy.priority_class_name!r} not found"
        return _waiting(group_key, pending, min_count, bound, created, message, group)
    refused = [m for m in pending if m.refused]
    if refused:
        message = f"pod {refused[0].name}: {refused[0].refused}"
        return _waiting(group_key, pending, min_count, bound, created, message, group)
    present = len(pending) + bound
    if policy.scheduling_policy.gang is not None and present < min_count:
        message = f"waiting for pods: {present}/{min_count} present"
        if gated:
            gates = sorted({g for m in gated for g in m.gates})
            message += f", {len(gated)} more waiting for scheduling gates ({', '.join(gates)})"
        return _waiting(group_key, pending, min_count, bound, created, message, group, WAITING_PODS)
    if not pending:
        gates = sorted({g for m in gated for g in m.gates})
        message = f"{len(gated)} pod(s) waiting for scheduling gates ({', '.join(gates)})"
        return _waiting(group_key, pending, min_count, bound, created, message, group, WAITING_PODS)
    if policy.min_resources and (short := _short_of(state, policy.min_resources, members)):
        return _waiting(group_key, pending, min_count, bound, created, short, group)
    need = 1 if policy.scheduling_policy.basic is not None else max(1, min_count - bound)
    pinned = _bound_domains(state, members, policy) if bound and policy.scheduling_policy.gang else {}
    gang = _gang(state, group_key, list(pending), need, policy, pinned)
    if isinstance(gang, str):
        return _waiting(group_key, pending, min_count, bound, created, gang, group)
    return Unit(
        group_key,
        priority,
        created,
        min_count,
        pending,
        bound,
        group=group,
        gang=gang,
        preemption=policy.preemption_policy,
    )


def _waiting(
    key: str,
    pending: tuple[PodInfo, ...],
    min_count: int,
    bound: int,
    created: datetime,
    message: str,
    group: PodGroup | None = None,
    reason: ScheduledReason = ScheduledReason.UNSCHEDULABLE,
) -> Unit:
    return Unit(key, 0, created, min_count, pending, bound, group=group, waiting=reason, message=message)


def _bound_domains(state: ClusterState, members: list[PodInfo], policy: GroupPolicy) -> dict[str, str]:
    """The Required domains the gang's bound pods already sit in: the rest of the gang must join them (after a
    restart mid-binding, or when a member is replaced). A level they already straddle pins nothing."""
    required = [c.key for c in policy.scheduling_constraints.topology if c.mode is TopologyMode.REQUIRED]
    pinned: dict[str, str] = {}
    for key in required:
        values = set()
        for member in members:
            node = state.nodes.get(member.node) if member.node and member.holds_capacity else None
            if node is not None:
                values.add(node.labels.get(key, ""))
        if len(values) == 1 and "" not in values:
            pinned[key] = values.pop()
    return pinned


def _disagreement(state: ClusterState, members: list[PodInfo]) -> str:
    """Upstream's rule for its groups: every pod agrees on scheduler, priority and preemption policy, or the
    group is a SchedulerError naming the pods (placing it would let one member's settings decide for all)."""
    for what, value_of in (
        ("schedulerName", lambda m: m.scheduler_name),
        ("priority", lambda m: str(pod_priority(m.pod, state.priority_classes))),
        ("preemptionPolicy", lambda m: m.pod.spec.preemption_policy or PreemptionPolicy.PREEMPT_LOWER_PRIORITY),
    ):
        values: dict[str, list[str]] = {}
        for member in members:
            values.setdefault(str(value_of(member)), []).append(member.name)
        if len(values) > 1:
            sides = "; ".join(
                f"{', '.join(names[:5])}{' …' if len(names) > 5 else ''} {v}" for v, names in sorted(values.items())
            )
            return f"the group's pods disagree on {what} ({sides}): all pods of a group must agree"
    return ""


def _short_of(state: ClusterState, wanted: Mapping[str, Quantity], members: list[PodInfo]) -> str:
    """Coscheduling's minResources check: the cluster's free capacity, counting what the group's own pods
    already hold as free, must cover it before the gang is tried; else why not."""
    free = state.free_capacity()
    for member in members:
        if member.holds_capacity:
            for resource, amount in member.requests.items():
                free[resource] = free.get(resource, 0) + amount
    for resource, quantity in sorted(wanted.items()):
        need = to_scheduler_units(resource, quantity)
        have = free.get(resource, 0)
        if have < need:
            return (
                f"minResources {resource}={quantity} exceeds what the cluster has free "
                f"({format_scheduler_units(resource, max(have, 0))})"
            )
    return ""

"""PodGroup status as `kubectl get podgroups` shows it, derived from the cache and the last decision."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from scheduler.api.conditions import make_condition, remove_condition, set_condition
from scheduler.api.meta import Condition
from scheduler.api.podgroup import (
    DISRUPTION_TARGET,
    POD_GROUP_SCHEDULED,
    PREEMPTION_BY_SCHEDULER,
    Decision,
    GroupOrigin,
    Placement,
    PodGroup,
    PodGroupPhase,
    PodGroupStatus,
    ScheduledReason,
    SolverStatus,
    TopologyDomain,
)
from scheduler.engine.cycle import Decision as EngineDecision
from scheduler.engine.state import ClusterState


def pod_group_status(
    state: ClusterState,
    key: str,
    group: PodGroup,
    last: EngineDecision | None,
    preempting: bool,
    disrupted: str | None = None,
    capacity: Condition | None = None,
) -> dict[str, Any]:
    """The status to write (wire form); the transition time of an unchanged condition is kept."""
    members = state.members(key)
    min_count = group.spec.scheduling_policy.min_count
    scheduled = sum(1 for m in members if m.node and not m.assumed)
    running = sum(1 for m in members if m.node and m.phase == "Running")
    succeeded = sum(1 for m in members if m.phase == "Succeeded")
    failed = sum(1 for m in members if m.phase == "Failed")
    previous = group.status.conditions if group.status else []
    if succeeded >= min_count:
        phase, reason, message = PodGroupPhase.SUCCEEDED, ScheduledReason.SCHEDULED, f"{succeeded} pods succeeded"
    elif failed and failed > len(members) - min_count:
        phase, reason, message = PodGroupPhase.FAILED, ScheduledReason.SCHEDULED, f"{failed} pods failed"
    elif running >= min_count:
        phase, reason, message = PodGroupPhase.RUNNING, ScheduledReason.SCHEDULED, f"{running} pods running"
    elif scheduled >= min_count:
        phase, reason, message = PodGroupPhase.SCHEDULED, ScheduledReason.SCHEDULED, f"{scheduled} pods bound"
    elif preempting:
        phase, reason = PodGroupPhase.PREEMPTING, ScheduledReason.WAITING_FOR_PREEMPTION
        message = last.message if last else "waiting for preempted pods to terminate"
    elif last is not None and last.reason is ScheduledReason.WAITING_FOR_PODS:
        phase, reason, message = PodGroupPhase.PENDING, last.reason, last.message
    elif last is not None and not last.scheduled:
        phase, reason, message = PodGroupPhase.UNSCHEDULABLE, last.reason, last.message
    elif last is not None and any(m.assumed for m in members):  # placed: the binding cycle is in flight
        phase, reason, message = PodGroupPhase.SCHEDULING, ScheduledReason.WAITING_FOR_PODS, "binding pods"
    else:  # not decided yet, or placed once and short of members now (one lost, its replacement to come)
        phase, reason = PodGroupPhase.PENDING, ScheduledReason.WAITING_FOR_PODS
        message = f"{len(members)}/{min_count} pods present"
    condition = make_condition(
        POD_GROUP_SCHEDULED,
        reason is ScheduledReason.SCHEDULED,
        reason.value,
        message,
        observed_generation=group.metadata.generation,
    )
    conditions: list[Condition] = set_condition(previous, condition)
    if disrupted is not None:  # preempted whole: say so on the group, as on each of its pods
        target = make_condition(DISRUPTION_TARGET, True, PREEMPTION_BY_SCHEDULER, disrupted)
        conditions = set_condition(conditions, target)
    elif scheduled >= min_count:  # back in place: the disruption is over
        conditions = remove_condition(conditions, DISRUPTION_TARGET)
    if capacity is not None:  # where the gang's capacity request stands (kube/provisioning.py)
        conditions = set_condition(conditions, capacity)
    status = PodGroupStatus(
        phase=phase,
        observed_generation=group.metadata.generation,
        scheduled=scheduled,
        running=running,
        placement=_placement(last) or (group.status.placement if group.status else None),
        last_decision=_decision(last) or (group.status.last_decision if group.status else None),
        conditions=conditions,
    )
    return status.to_wire()


def _placement(decision: EngineDecision | None) -> Placement | None:
    if decision is None or decision.plan is None or not decision.plan.placed:
        return None
    path = decision.plan.placement
    return Placement(
        domain=path[-1][1] if path else "",
        level=path[-1][0] if path else "",
        path=[TopologyDomain(key=k, value=v) for k, v in path],
    )


def _decision(decision: EngineDecision | None) -> Decision | None:
    if decision is None or decision.plan is None:
        return None
    plan = decision.plan
    return Decision(
        time=datetime.now(UTC).replace(microsecond=0),
        solver_status=plan.status if isinstance(plan.status, SolverStatus) else SolverStatus(plan.status),
        objective=float(plan.objective) if plan.objective is not None else None,
        bound=float(plan.bound) if plan.bound is not None else None,
        gap=plan.gap,
        victims=len(plan.victim_pods),
        duration_seconds=round(decision.duration_s, 6),
        message=decision.message[:4096],
    )


def comparable(status: Mapping[str, Any]) -> dict[str, Any]:
    """Status without timestamps, to decide whether a patch is worth sending."""
    out = {k: v for k, v in status.items() if k != "lastDecision"}
    out["conditions"] = untimed(status.get("conditions", []))
    decision = status.get("lastDecision") or {}
    out["decision"] = {k: v for k, v in decision.items() if k not in ("time", "durationSeconds")}
    return out


def untimed(conditions: Any) -> list[dict[str, Any]]:
    return [{k: v for k, v in c.items() if k != "lastTransitionTime"} for c in conditions]


def foreign_conditions(origin: GroupOrigin, status: Mapping[str, Any]) -> list[dict[str, Any]] | None:
    """The conditions to write on a group of another API, from our status: its scheduling condition under the
    name its release uses, with upstream's reasons (Scheduled, Unschedulable, SchedulerError), never turned
    back to False once True; DisruptionTarget as ours; anyone else's conditions kept. None: that API's
    status is not ours to write (coscheduling's controller owns it)."""
    if origin.condition is None:
        return None
    watched = {c.get("type"): c for c in origin.conditions}
    ours = {c.get("type"): c for c in status.get("conditions", [])}
    out = [dict(c) for c in origin.conditions if c.get("type") not in (origin.condition, DISRUPTION_TARGET)]
    shown, scheduled = watched.get(origin.condition), ours.get(POD_GROUP_SCHEDULED)
    if shown is not None and shown.get("status") == "True":
        out.append(dict(shown))  # upstream's rule: it records that the group was once placed whole
    elif scheduled is not None and scheduled.get("reason") != ScheduledReason.WAITING_FOR_PODS:
        # Not "waiting for pods" (upstream says nothing until a gang is complete); waiting for victims to go
        # is, in upstream's words, Unschedulable for now.
        reason = scheduled["reason"]
        if reason == ScheduledReason.WAITING_FOR_PREEMPTION:
            reason = ScheduledReason.UNSCHEDULABLE.value
        condition = {**scheduled, "type": origin.condition, "reason": reason}
        if shown is not None and shown.get("status") == condition.get("status"):
            condition["lastTransitionTime"] = shown.get("lastTransitionTime", condition.get("lastTransitionTime"))
        out.append(condition)
    elif shown is not None:
        out.append(dict(shown))
    if DISRUPTION_TARGET in ours:
        out.append(dict(ours[DISRUPTION_TARGET]))
    return out

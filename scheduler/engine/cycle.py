"""The scheduling cycle, one unit at a time (numbered as in DESIGN.md §3):

1. Pop the next unit in queue order (priority, creation time, key); a unit whose quorum is not present waits.
2. Snapshot the cache: free capacity over the current topology tree.
3-5. Filter, place (CP-SAT with greedy fallback) — the solver.
6. Validate the plan independently of the solver, then reserve it (assume every pod) so the next cycle sees
   the capacity as used. A plan that fails validation is never reserved: it is a scheduler error.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from scheduler.api.podgroup import ScheduledReason, SolverStatus
from scheduler.engine.state import ClusterState
from scheduler.engine.units import Unit, pending_units
from scheduler.solver.filters import FilterCache
from scheduler.solver.placement import place_gang
from scheduler.solver.plan import Plan
from scheduler.solver.problem import SolverParams
from scheduler.solver.validate import validate_plan


@dataclass(frozen=True)
class Decision:
    unit: Unit
    reason: ScheduledReason
    message: str
    plan: Plan | None = None
    duration_s: float = 0.0
    violations: tuple[str, ...] = field(default=())

    @property
    def scheduled(self) -> bool:
        return self.reason is ScheduledReason.SCHEDULED


class Scheduler:
    def __init__(self, state: ClusterState, params: SolverParams | None = None, name: str = "phalanx") -> None:
        self.state = state
        self.params = params or SolverParams()
        self.name = name
        self._filters: FilterCache | None = None

    def schedule_pending(self) -> list[Decision]:
        """One pass over every pending unit, in queue order; each decision sees the ones before it."""
        return [self.schedule_one(unit) for unit in pending_units(self.state, self.name)]

    def schedule_one(self, unit: Unit) -> Decision:
        started = time.perf_counter()
        # 1. Quorum.
        if unit.gang is None:
            return Decision(unit, unit.waiting or ScheduledReason.UNSCHEDULABLE, unit.message)
        # 2. Snapshot; the static filter cache lives as long as the tree does.
        requested = {r for s in unit.gang.pod_sets for r, _ in s.signature.requests}
        capacity = self.state.capacity(requested)
        if self._filters is None or self._filters.tree is not capacity.tree:
            self._filters = FilterCache(capacity.tree)
        # 3-5. Filter and place.
        plan = place_gang(capacity, unit.gang, self.params, self._filters)
        elapsed = time.perf_counter() - started
        if not plan.placed:
            reason = ScheduledReason.UNSCHEDULABLE
            if plan.status is SolverStatus.TIMEOUT:
                reason = ScheduledReason.SCHEDULER_ERROR
            return Decision(unit, reason, plan.explanation, plan, elapsed)
        # 6. Validate, then reserve.
        violations = validate_plan(capacity, unit.gang, plan)
        if violations:
            message = "solver returned an invalid plan: " + "; ".join(violations)
            return Decision(unit, ScheduledReason.SCHEDULER_ERROR, message, plan, elapsed, tuple(violations))
        for pod, node in plan.assignments.items():
            self.state.assume(pod, node)
        return Decision(unit, ScheduledReason.SCHEDULED, plan.explanation, plan, time.perf_counter() - started)

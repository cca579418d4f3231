"""The scheduling cycle, one unit at a time (numbered as in DESIGN.md §3):

1. Pop the next unit in queue order (priority, creation time, key); a unit whose quorum is not present waits.
2. Snapshot the cache: free capacity over the current topology tree.
3-5. Filter, place (CP-SAT with greedy fallback) — the solver.
   If nothing fits and the unit may preempt: the preemption model picks victims (whole PodGroups where their
   disruptionMode says so) and nominates nodes; the engine evicts, then `admit` reserves the nominations.
6. Validate the plan independently of the solver, then reserve it (assume every pod) so the next cycle sees
   the capacity as used. A plan that fails validation is never reserved: it is a scheduler error.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from scheduler.api.podgroup import ScheduledReason, SolverStatus
from scheduler.api.policy import PreemptionPolicy
from scheduler.engine.preemption import budgets, victim_units
from scheduler.engine.state import ClusterState
from scheduler.engine.units import Unit, pending_units
from scheduler.solver.filters import FilterCache
from scheduler.solver.placement import place_gang
from scheduler.solver.plan import Plan
from scheduler.solver.preemption import preempt_gang
from scheduler.solver.problem import SolverParams
from scheduler.solver.validate import validate_plan, validate_preemption
from scheduler.solver.victims import eligible
from scheduler.topology.capacity import Capacity


@dataclass(frozen=True)
class EngineConfig:
    name: str = "phalanx"
    params: SolverParams = field(default_factory=SolverParams)
    preemption: bool = True
    allow_pdb_violations: bool = True
    victims_own_pods_only: bool = False
    # Baselines for comparison: greedy best-fit with reverse reprieve instead of CP-SAT; pods one by one.
    greedy: bool = False
    gangs: bool = True


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
    def __init__(self, state: ClusterState, config: EngineConfig | None = None) -> None:
        self.state = state
        self.config = config or EngineConfig()
        self._filters: FilterCache | None = None
        # Lowest priority of any running pod, once per pass: with many gangs waiting on a cluster where nothing
        # runs below them, rebuilding the victim list for each one cost more than deciding them.
        self._lowest: int | None = None
        self._lowest_known = False

    def schedule_pending(
        self, *, skip: Callable[[Unit], bool] | None = None, keep: Callable[[str], bool] | None = None
    ) -> list[Decision]:
        """One pass over every pending unit, in queue order; each decision sees the ones before it.

        A preemption decision stays a nomination (the victims keep running): the engine (driver.py) evicts
        them and admits it once they are gone. `skip` lets the caller back off units that nothing has happened
        to since they last failed; `keep` (a unit's key) leaves such units out before they are even built.
        """
        decisions = []
        self._lowest_known = False
        # Lone pods alike in all that placement reads, after one of them fitted nowhere and could preempt nothing:
        # within a pass capacity is only taken, never freed, and the units between come no lower in priority
        # (so none is a victim for the next), so every later one fails the same way. A backlog of thousands of
        # identical pods on a full cluster costs one search per pass, not one each.
        refused: dict[tuple[object, ...], Decision] = {}
        for unit in pending_units(self.state, self.config.name, gangs=self.config.gangs, keep=keep):
            if skip is not None and skip(unit):
                continue
            alike = _alike(unit)
            if alike is not None and (earlier := refused.get(alike)) is not None:
                assert unit.gang is not None
                assert earlier.plan is not None
                plan = replace(earlier.plan, gang=unit.gang.name, duration_s=0.0)
                decisions.append(Decision(unit, earlier.reason, earlier.message, plan))
                continue
            decision = self.schedule_one(unit)
            if alike is not None and decision.reason is ScheduledReason.UNSCHEDULABLE and decision.plan is not None:
                refused[alike] = decision
            decisions.append(decision)
        return decisions

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
        # 3-5. Filter and place; preempt if nothing fits.
        plan = place_gang(
            capacity,
            unit.gang,
            self.config.params,
            self._filters,
            greedy_only=self.config.greedy,
            neighbours=self.state.neighbours,
        )
        if not plan.placed:
            return self._preempt(unit, capacity, plan, started)
        # 6. Validate, then reserve.
        violations = validate_plan(capacity, unit.gang, plan, check_score=False, neighbours=self.state.neighbours)
        if violations:
            return self._invalid(unit, plan, violations, started)
        for pod, node in plan.assignments.items():
            self.state.assume(pod, node)
        return Decision(unit, ScheduledReason.SCHEDULED, plan.explanation, plan, time.perf_counter() - started)

    def _preempt(self, unit: Unit, capacity: Capacity, placement: Plan, started: float) -> Decision:
        assert unit.gang is not None
        reason = ScheduledReason.UNSCHEDULABLE
        if placement.status is SolverStatus.TIMEOUT:
            reason = ScheduledReason.SCHEDULER_ERROR
        if not self.config.preemption:
            return Decision(unit, reason, placement.explanation, placement, time.perf_counter() - started)
        if unit.preemption is PreemptionPolicy.NEVER:
            message = f"{placement.explanation}; preemptionPolicy is Never, so the gang waits"
            return Decision(unit, reason, message, placement, time.perf_counter() - started)
        own = self.config.name if self.config.victims_own_pods_only else None
        if not self._lowest_known:
            everyone = victim_units(self.state, own_only=own, gangs=self.config.gangs)
            self._lowest, self._lowest_known = min((u.priority for u in everyone), default=None), True
        if self._lowest is None or self._lowest >= unit.priority:
            # Evictions later in the pass only raise the lowest priority: a stale value is merely cautious.
            message = f"{placement.explanation}; preemption cannot help: no running pod has a lower priority"
            return Decision(unit, reason, message, placement, time.perf_counter() - started)
        units = victim_units(self.state, own_only=own, exclude=unit.key, gangs=self.config.gangs)
        pdbs = budgets(self.state, list(self.state.budgets.values()))
        candidates = eligible(units, pdbs, unit.priority)
        if not candidates.units:
            # Nothing of lower priority runs: no victim set exists, and the placement just failed, so the
            # solver need not be asked again (a queue of waiting gangs would otherwise redo it on every change).
            message = f"{placement.explanation}; preemption cannot help: no running pod has a lower priority"
            return Decision(unit, reason, message, placement, time.perf_counter() - started)
        plan = preempt_gang(
            capacity,
            unit.gang,
            candidates,
            self.config.params,
            self._filters,
            allow_violations=self.config.allow_pdb_violations,
            greedy_only=self.config.greedy,
            neighbours=self.state.neighbours,
        )
        elapsed = time.perf_counter() - started
        if not plan.placed:
            return Decision(unit, reason, f"{placement.explanation}; {plan.explanation}", plan, elapsed)
        violations = validate_preemption(
            capacity,
            unit.gang,
            plan,
            units,
            pdbs,
            unit.priority,
            allow_violations=self.config.allow_pdb_violations,
            check_score=False,
            neighbours=self.state.neighbours,
        )
        if violations:
            return self._invalid(unit, plan, violations, started)
        return Decision(unit, ScheduledReason.WAITING_FOR_PREEMPTION, plan.explanation, plan, elapsed)

    def admit(self, decision: Decision) -> Decision:
        """Once the victims are gone, reserve the nominated nodes (the plan was validated against their
        absence), and the decision becomes a scheduled one."""
        assert decision.plan is not None
        for pod, node in decision.plan.assignments.items():
            self.state.assume(pod, node)
        return Decision(decision.unit, ScheduledReason.SCHEDULED, decision.message, decision.plan, decision.duration_s)

    def _invalid(self, unit: Unit, plan: Plan, violations: list[str], started: float) -> Decision:
        message = "solver returned an invalid plan: " + "; ".join(violations)
        elapsed = time.perf_counter() - started
        return Decision(unit, ScheduledReason.SCHEDULER_ERROR, message, plan, elapsed, tuple(violations))


def _alike(unit: Unit) -> tuple[object, ...] | None:
    """What a lone pod's decision depends on, when nothing but the cluster does (no inter-pod rules or ports,
    which read the pod's own labels and namespace); None for any other unit."""
    gang = unit.gang
    if gang is None or unit.group is not None or gang.size != 1 or gang.topology:
        return None
    signature = gang.pod_sets[0].signature
    if signature.relations is not None:
        return None
    return (signature, unit.priority, unit.preemption)

"""The engine: every scheduling decision and what follows from it, as effects for an adapter to carry out.

Adapters translate: they apply watch events to the cache and call `changed()`, call `step()` when woken (and
at least every `next_wakeup()`), submit the effects a pass returns, and hand each effect's answer to `done()`.
The kube adapter does that over the API server with a monotonic clock; the simulator in memory with its
simulated clock. Both run this code for every decision and effect, so a figure from the simulator holds for
the operator.

Each pass (numbered as in DESIGN.md §3):
1. nominations whose victims are gone are admitted and bound; stale ones are given up;
2. bindings in flight onto nodes another scheduler has filled are noted, and due retries are sent;
3. every pending unit is decided in queue order, except those backing off with nothing new to try (backoff.py:
   decided again only when something that could change its answer happened);
4. preemptions evict their victims (concurrently, off the decision path) and nominate nodes; scheduled gangs
   start their binding cycle (binding.py);
5. PodGroup status, pod conditions and events, only where they differ from what the cluster shows.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, field, replace
from typing import Any

import structlog

from scheduler.api.podgroup import ScheduledReason
from scheduler.engine import binding as cycle
from scheduler.engine.backoff import Backoff as Backoff  # re-exported: the kube adapter sets a backoff of its own
from scheduler.engine.backoff import backoff_after, note_placements
from scheduler.engine.binding import Binding, Failed
from scheduler.engine.cycle import Decision, EngineConfig, Scheduler
from scheduler.engine.effects import (
    AskCapacity,
    Bind,
    Done,
    Effect,
    Evict,
    Nominate,
    Outbox,
    Outcome,
    PostEvent,
    Release,
    SelectNode,
    SetPodCondition,
    SettleCapacity,
    WriteStatus,
    group_ref,
    pod_ref,
)
from scheduler.engine.nomination import Nomination
from scheduler.engine.observer import Observer, Quiet
from scheduler.engine.release import stranded_release
from scheduler.engine.reporting import Reporter
from scheduler.engine.state import ClusterState
from scheduler.engine.storage import claims_to_select
from scheduler.engine.timings import Timings
from scheduler.engine.units import Unit

log = structlog.get_logger(__name__)
RELEASE_INTERVAL_S = 30.0  # a released gang's deletions get this long before it is released again
MAX_REPLANS = 3  # permanent binding failures a gang is placed again after, before it is released
NOMINATION_TIMEOUT_S = 300.0
# The gauges of what waits (how many, why, how long) walk every waiting unit: once per interval, not every pass
# (tens a second under load); a scrape every few seconds sees no difference.
GAUGE_INTERVAL_S = 0.5


@dataclass
class Engine:
    state: ClusterState
    config: EngineConfig
    clock: Callable[[], float]
    observer: Observer = field(default_factory=Quiet)
    nomination_timeout_s: float = NOMINATION_TIMEOUT_S
    capacity_condition: Callable[[str], object] = lambda key: None  # the provisioner's condition, per unit
    outbox: Outbox = field(default_factory=Outbox)

    def __post_init__(self) -> None:
        self.scheduler = Scheduler(self.state, self.config)
        self.reporter = Reporter(self.state, self.outbox, self.capacity_condition)
        self.last: dict[str, Decision] = {}
        self.nominations: dict[str, Nomination] = {}
        self.binding: dict[str, Binding] = {}
        self.backoff: dict[str, Backoff] = {}
        self.disrupted: dict[str, str] = {}  # PodGroup preempted whole -> why
        self.released: dict[str, float] = {}
        self.replans: dict[str, int] = {}  # unit -> permanent binding failures so far
        self.conflicts: set[tuple[str, str]] = set()
        self.changes = 0  # bumps on anything that may help a waiting unit
        self.woken: set[str] = set()  # units an event of their own touched since the last pass
        self.seq = 0  # decisions acted on so far
        self.placed = 0  # seq of the last unit placed in this pass (0: none)
        self.passes = 0
        self.decisions: list[Decision] = []  # of the last pass, for observers (the simulator's report)
        self.timings = Timings(self.observer)
        self.evicting: set[tuple[str, str]] = set()  # (preemptor, victim pod) evictions not yet answered
        self.gauges_due = float("-inf")

    # Inputs -------------------------------------------------------------------------------------------------

    def changed(self) -> None:
        """The cache changed in a way that may help any waiting unit (capacity freed, a node)."""
        self.changes += 1

    def wake(self, unit: str) -> None:
        """An event touched this unit (one of its pods, its group): on the next pass it is decided again, whatever
        its backoff, if what it is decided on changed (`inputs`). The last member of a gang is then bound within a
        pass of being seen, while the watch echoing a status or condition we wrote costs no decision."""
        self.woken.add(unit)

    def done(self, done: Done) -> None:
        """An effect's answer."""
        effect = done.effect
        if isinstance(effect, Bind | SelectNode):
            self._bound(done)
        elif isinstance(effect, SetPodCondition | WriteStatus):
            self.reporter.done(done)
        elif isinstance(effect, Evict) and done.outcome is Outcome.OK:
            self.evicting.discard((effect.unit, effect.pod))
        elif isinstance(effect, Evict):
            log.warning("eviction failed", pod=effect.pod, error=done.error, outcome=done.outcome.value)
            nomination = self.nominations.get(effect.unit)
            if nomination is not None and done.outcome is Outcome.TRANSIENT:
                self.outbox.add(effect)  # a victim left running would hold the preemptor's nodes until timeout
            else:
                self.evicting.discard((effect.unit, effect.pod))
                if nomination is not None:
                    self._give_up(effect.unit, f"eviction of {effect.pod} failed: {done.error}")
        elif isinstance(effect, Release) and done.outcome is not Outcome.OK:
            log.warning("release failed", pod=effect.pod, error=done.error)

    # The pass -------------------------------------------------------------------------------------------------

    def step(self) -> list[Effect]:
        now = self.clock()
        # 1. Nominations.
        admitted = self._settle_nominations(now)
        # 2. Bindings overtaken by another scheduler; retries that are due.
        self._find_conflicts()
        for binding in list(self.binding.values()):
            self._send(binding, now)
        # 3. Decide.
        skipped: list[Unit] = []
        decisions = self.scheduler.schedule_pending(
            skip=lambda u: self._backing_off(u, now, skipped), keep=lambda key: not self._idle(key, now, skipped)
        )
        self.woken.clear()
        # 4. Act.
        acted = []
        for i, decision in enumerate(decisions):
            self.observer.queued(self._let_in_by(decision.unit.key))
            self._act(decision, now)
            acted.append(decision)
            if decision.reason is ScheduledReason.WAITING_FOR_PREEMPTION and decision.plan is not None:
                # A preemptor's nodes are reserved only now (admit), so the units decided after it did not see
                # them: forget their reservations and decide them on the next pass, or two gangs could be given
                # the same room.
                for later in decisions[i + 1 :]:
                    for pod in later.plan.assignments if later.scheduled and later.plan else ():
                        self.state.forget(pod)
                self.changes += 1
                break
        self._note_placements()
        self.decisions = admitted + acted
        if now >= self.gauges_due:
            self.gauges_due = now + GAUGE_INTERVAL_S
            preemptors = [n.decision.unit for n in self.nominations.values()]
            self.timings.waiting(acted, skipped, self.last, preemptors, len(self.evicting), now)
        # 5. Report.
        self.reporter.report(now, {d.unit.key for d in acted}, self.last, set(self.nominations), self.disrupted)
        self.passes += 1
        if self.passes % 100 == 0:
            self._prune()
        return self.outbox.take()

    def next_wakeup(self) -> float | None:
        """When a pass is next due with nothing new (a retry, a backoff expiring, a nomination's deadline, a
        status write held back).
        Only times still ahead count: what was due has been looked at by the pass just run, and what waits on an
        answer (a condition write holding a binding back) is woken by the answer."""
        now = self.clock()
        times = [b.retry_at for b in self.binding.values() if b.waiting]
        times += [b.retry_at for b in self.backoff.values()]
        times += [n.deadline for n in self.nominations.values()]
        if (held := self.reporter.next_due()) is not None:
            times.append(held)
        return min((t for t in times if t > now), default=None)

    # Decisions ----------------------------------------------------------------------------------------------

    def _idle(self, key: str, now: float, skipped: list[Unit]) -> bool:
        """Nothing to decide, known from the key alone (so the unit is not even built): its binding is in flight,
        or it backs off and no event of its own came. It is then what it was at its last decision."""
        if key in self.binding:
            return True
        seen = self.backoff.get(key)
        if seen is None or key in self.woken or not seen.skips(now, self.changes):
            return False
        last = self.last.get(key)
        if last is not None:
            skipped.append(last.unit)
        return True

    def _backing_off(self, unit: Unit, now: float, skipped: list[Unit]) -> bool:
        if unit.key in self.binding:
            return True  # its binding cycle is still in flight: nothing to decide
        seen = self.backoff.get(unit.key)
        if seen is None:
            return False
        if unit.key in self.woken and seen.changed_for(unit):
            del self.backoff[unit.key]  # a change of its own: decided now, its backoff starting over
            return False
        skip = seen.skips(now, self.changes)
        if skip:
            skipped.append(unit)
        return skip

    def _let_in_by(self, key: str) -> str:
        """What let this unit into the attempt just made (observer.EVENTS), read before acting on it."""
        if key not in self.last:
            return "new"
        seen = self.backoff.get(key)
        if seen is None:  # a change of its own ended its backoff, or a preemption or binding of it was given up
            return "retry" if self.last[key].reason is ScheduledReason.SCHEDULER_ERROR else "unit-changed"
        return "cluster-changed" if seen.changes not in (None, self.changes) else "retry"

    def _act(self, decision: Decision, now: float) -> None:
        key = decision.unit.key
        self.last[key] = decision
        self.seq += 1
        self.timings.decided(decision, now)
        self.observer.observe(decision)
        if decision.reason is ScheduledReason.WAITING_FOR_PREEMPTION and decision.plan is not None:
            self._preempt(decision, now)
            return
        if decision.reason is not ScheduledReason.SCHEDULED:
            if decision.reason is ScheduledReason.UNSCHEDULABLE:
                self._release_if_stranded(decision.unit, now, "its other pods cannot join it")
                self.outbox.add(AskCapacity(key, decision))  # fits nowhere even with preemption
            waits = decision.reason in (ScheduledReason.UNSCHEDULABLE, ScheduledReason.WAITING_FOR_PODS)
            self._back_off(decision.unit, now, self.changes, waits=waits)
            return
        self.placed = self.seq
        self.backoff.pop(key, None)
        self.disrupted.pop(key, None)
        self.outbox.add(SettleCapacity(key))
        self._start_binding(decision, now)

    def _back_off(self, unit: Unit, now: float, changes: int | None, *, waits: bool = False) -> None:
        previous = self.backoff.get(unit.key)
        self.backoff[unit.key] = backoff_after(previous, unit, now, changes, self.seq, waits=waits)

    def _note_placements(self) -> None:
        if self.placed:
            note_placements(self.backoff.values(), self.placed)
            self.placed = 0

    def _preempt(self, decision: Decision, now: float) -> None:
        assert decision.plan is not None
        key = decision.unit.key
        victims = {p: self._uid(p) for p in decision.plan.victim_pods}
        message = f"preempted to make room for {key}"
        for pod, uid in victims.items():
            self.outbox.add(Evict(key, pod, uid, message))
            self.evicting.add((key, pod))
        for group in {v for v in decision.plan.victims if v in self.state.groups}:
            why = f"preempted whole to make room for {key}"
            self.disrupted[group] = why
            self.outbox.add(PostEvent(group_ref(group, self._group_uid(group)), "Normal", "Preempted", why))
        self.timings.preempting(key, now)
        admitted = self.scheduler.admit(decision)  # reserve the nominated nodes while the victims terminate
        pods = {p: self._uid(p) for p in decision.plan.assignments}
        self.nominations[key] = Nomination(admitted, victims, now + self.nomination_timeout_s, pods)
        for pod, node in decision.plan.assignments.items():
            self.outbox.add(Nominate(pod, node))
        log.info("preempting", unit=key, victims=len(victims), units=list(decision.plan.victims))

    def _settle_nominations(self, now: float) -> list[Decision]:
        """Admit the nominations whose victims are gone (their gangs start binding); give up on stale ones."""
        admitted = []
        for key, nomination in list(self.nominations.items()):
            if nomination.preemptor_replaced(self._uid):
                self._give_up(key, "a preemptor pod was deleted or recreated meanwhile; deciding again")
            elif nomination.victims_gone(self.state):
                del self.nominations[key]
                self.timings.victims_gone(key, now)
                self.observer.queued("victims-gone")
                self._act(nomination.decision, now)
                admitted.append(nomination.decision)
            elif now > nomination.deadline:
                self._give_up(key, "preempted pods did not terminate in time; trying again")
        return admitted

    def _give_up(self, key: str, message: str) -> None:
        nomination = self.nominations.pop(key, None)
        if nomination is None:
            return
        self.timings.given_up(key, self.clock())
        assert nomination.decision.plan is not None
        for pod in nomination.decision.plan.assignments:
            self.state.forget(pod)
            self.outbox.add(Nominate(pod, ""))
        self.last[key] = Decision(nomination.decision.unit, ScheduledReason.SCHEDULER_ERROR, message)
        self.changes += 1

    # Binding ------------------------------------------------------------------------------------------------

    def _start_binding(self, decision: Decision, now: float) -> None:
        """Bindings carry the UID the plan was made for (the decision's pods), never a newer pod's."""
        assert decision.plan is not None
        claims: set[tuple[str, str]] = set()
        uids = {p.key: p.uid for p in decision.unit.pending}
        for pod, node in decision.plan.assignments.items():
            info = self.state.pods.get(pod)
            if info is not None:
                claims |= {(c, node) for c in claims_to_select(self.state.storage, info.pod)}
        binding = cycle.start(decision, uids, sorted(claims), now)
        self.binding[decision.unit.key] = binding
        self._send(binding, now)

    def _send(self, binding: Binding, now: float) -> None:
        for effect in cycle.ready(binding, self.reporter.writing_conditions(), now):
            self.outbox.add(effect)

    def _bound(self, done: Done) -> None:
        effect = done.effect
        assert isinstance(effect, Bind | SelectNode)
        binding = self.binding.get(effect.unit)
        if binding is None:
            return
        now = self.clock()
        if isinstance(effect, SelectNode):
            failed = cycle.selected(binding, done)
        else:
            failed = cycle.bound(binding, done, now, self.conflicts)
            if done.outcome is not Outcome.OK:
                self.observer.bind_errors_seen(1)
        if failed is not None:
            self._hand_back(binding, failed, now)
        elif cycle.complete(binding):
            self._finish(binding, now)
        else:
            self._send(binding, now)

    def _finish(self, binding: Binding, now: float) -> None:
        del self.binding[binding.key]
        self.replans.pop(binding.key, None)
        plan = binding.decision.plan
        assert plan is not None
        unit = binding.decision.unit
        self.timings.bound(unit, now)
        # A line per gang; a line per single pod only at debug, as kube-scheduler logs each binding at -v=2 (at
        # hundreds of pods a second that line was 4 % of the operator's time).
        gang = len(plan.assignments) > 1 or unit.group is not None
        if gang or logging.getLogger(__name__).isEnabledFor(logging.DEBUG):
            (log.info if gang else log.debug)(
                "gang bound",
                unit=binding.key,
                pods=len(plan.assignments),
                bind_seconds=round(now - binding.started, 3),
                domain=plan.domain,
                solver=plan.status.value,
                seconds=round(binding.decision.duration_s, 4),
            )
        for pod, node in sorted(plan.assignments.items()):
            message = f"Successfully assigned {pod} to {node}"
            self.outbox.add(PostEvent(pod_ref(pod, self._uid(pod)), "Normal", "Scheduled", message))

    def _hand_back(self, binding: Binding, failed: Failed, now: float) -> None:
        """Forget the pods that could not be bound (the rest of the gang stays bound) and place them again;
        after MAX_REPLANS permanent failures the gang is released so it can be placed whole."""
        key = binding.key
        del self.binding[key]
        unbound = {*binding.waiting, *binding.in_flight, *failed.pods} - binding.bound
        for pod in unbound:
            self.state.forget(pod)
        log.warning("bindings failed, placing those pods again", unit=key, pods=len(unbound), error=failed.error)
        if failed.conflict:
            self.outbox.add(PostEvent(group_ref(key, self._group_uid(key)), "Warning", "BindConflict", failed.error))
        unit = replace(
            binding.decision.unit, pending=tuple(p for p in binding.decision.unit.pending if p.key in unbound)
        )
        self.last[key] = Decision(unit, ScheduledReason.SCHEDULER_ERROR, failed.error, binding.decision.plan)
        self.changes += 1
        if failed.permanent:
            self.replans[key] = self.replans.get(key, 0) + 1
            if self.replans[key] >= MAX_REPLANS:
                self.replans.pop(key, None)
                self._release_if_stranded(unit, now, f"a member cannot be bound: {failed.error}", force=True)
        # Not straight back to a binding that was just refused (a webhook, a missing right): that would be a hot
        # loop against the API server, and every status write of ours counts as a change.
        self._back_off(unit, now, None)

    def _find_conflicts(self) -> None:
        """Pods whose binding is in flight, planned onto a node the fresh cache shows overcommitted: a second
        scheduler bound something there after the plan was made. Checked before each retry."""
        conflicts = cycle.overcommitted(self.binding.values(), self.state)
        self.conflicts = conflicts
        for binding in list(self.binding.values()):
            stuck = [pod for pod, bind in binding.waiting.items() if (pod, bind.node) in conflicts]
            if stuck:
                pod, node = stuck[0], binding.waiting[stuck[0]].node
                message = f"node {node} filled up (another scheduler's pod) while {pod} waited to bind there"
                failed = Failed(binding.key, tuple(stuck), message, permanent=False, conflict=True)
                self._hand_back(binding, failed, self.clock())

    def _release_if_stranded(self, unit: Unit, now: float, why: str, *, force: bool = False) -> None:
        if now - self.released.get(unit.key, -RELEASE_INTERVAL_S) < RELEASE_INTERVAL_S:
            return  # the deletions are on their way
        effects = stranded_release(self.state, unit, why, force=force)
        if effects:
            self.released[unit.key] = now
            for effect in effects:
                self.outbox.add(effect)

    # Bookkeeping --------------------------------------------------------------------------------------------

    def _uid(self, pod: str) -> str:
        info = self.state.pods.get(pod)
        return info.uid if info is not None else ""

    def _group_uid(self, key: str) -> str | None:
        group = self.state.groups.get(key)
        return group.metadata.uid if group is not None else None

    def _prune(self) -> None:
        """Forget units, pods and objects that no longer exist, so a long-running scheduler stays small."""
        live = self.state.pods.keys() | self.state.groups.keys()
        tables: tuple[MutableMapping[str, Any], ...] = (
            self.last,
            self.backoff,
            self.released,
            self.replans,
            self.disrupted,
        )
        for table in tables:
            for key in [k for k in table if k not in live]:
                del table[key]
        self.timings.prune(live)
        self.reporter.prune()

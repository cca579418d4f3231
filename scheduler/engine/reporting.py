"""What users read: PodGroup status, PodScheduled=False on pods that wait, FailedScheduling events.

A status is written only when it differs from what the cluster shows (the watched object) and from what is
already on its way; one write per PodGroup at a time, the newest one next. Only groups something happened to
are looked at: decided in the pass, their members or object changed (the cache marks them), or held back and
now due. Every write costs the API server a write and a watch event to each watcher, so they are few: a phase
that lasts (Scheduled, Unschedulable, Preempting, Running, ...) is said at once, and so is leaving one (a gang
preempted or broken); on the way to the first outcome, a passing phase (Pending while pods arrive, Scheduling
while bindings are out) is said only once it has lasted PASSING_S; any other change at most once per
STATUS_INTERVAL_S (a gang of 512 pods arriving one by one does not cost 512 writes). A gang placed soon after
it is complete gets one write, its outcome.
"""

from __future__ import annotations

from collections.abc import Callable, KeysView, Mapping
from typing import Any

from scheduler.api.meta import Condition
from scheduler.api.podgroup import GroupOrigin, PodGroupPhase, ScheduledReason
from scheduler.engine.cycle import Decision
from scheduler.engine.effects import Done, Outbox, Outcome, PostEvent, SetPodCondition, WriteStatus, group_ref, pod_ref
from scheduler.engine.state import ClusterState
from scheduler.engine.status import comparable, foreign_conditions, pod_group_status, untimed

STATUS_INTERVAL_S = 1.0  # per PodGroup, unless it reaches a phase that lasts
PASSING_S = 5.0  # a passing phase (Pending, Scheduling) is said once it has lasted this long
EVENT_INTERVAL_S = 10.0  # per object
# A status sent this long ago that the watch still does not show is sent again (someone may have written over
# it). Under load the watch runs seconds behind: sooner would send every status twice.
WATCH_LAG_S = 30.0
# Decisions worth a PodScheduled=False condition and a FailedScheduling event (not "waiting for pods 3/4").
EXPLAINED = frozenset({ScheduledReason.UNSCHEDULABLE, ScheduledReason.SCHEDULER_ERROR})
PASSING = frozenset({PodGroupPhase.PENDING.value, PodGroupPhase.SCHEDULING.value})


class Reporter:
    def __init__(self, state: ClusterState, outbox: Outbox, capacity: Callable[[str], object]) -> None:
        self.state, self.outbox, self.capacity = state, outbox, capacity
        self.written: dict[str, dict[str, Any]] = {}  # group -> summary of the last status sent
        self.written_at: dict[str, float] = {}
        self.in_flight: set[str] = set()  # groups with a status write out
        self.queued: dict[str, WriteStatus] = {}  # group -> the newest status, behind the one in flight
        self.pod_messages: dict[str, str] = {}
        self.conditions: dict[str, int] = {}  # pod -> condition writes in flight
        self.evented: dict[str, tuple[str, float]] = {}
        self.held: dict[str, float] = {}  # group -> when to look at it again (a write held back)
        self.entered: dict[str, tuple[object, float]] = {}  # group -> the phase it is in, since when

    def writing_conditions(self) -> KeysView[str]:
        """Pods with a PodScheduled=False write out: their binding waits, or the write could land after it. A
        live view, not a copy: it is asked once per binding per pass."""
        return self.conditions.keys()

    def report(
        self,
        now: float,
        decided: set[str],
        last: Mapping[str, Decision],
        preempting: set[str],
        disrupted: Mapping[str, str],
    ) -> None:
        groups = self.state.groups
        due = {key for key, at in self.held.items() if at <= now}
        for key in due:
            del self.held[key]
        wanted = decided | self.state.touched | due
        self.state.touched = set()
        for key in sorted(wanted):
            group = groups.get(key)
            if group is None:
                continue
            capacity = self.capacity(key)
            status = pod_group_status(
                self.state,
                key,
                group,
                last.get(key),
                key in preempting,
                disrupted.get(key),
                capacity if isinstance(capacity, Condition) else None,
            )
            summary = comparable(status)
            shown = comparable(group.status.to_wire()) if group.status is not None else None
            origin = group.origin
            foreign = foreign_conditions(origin, status) if origin is not None else None
            if origin is not None and foreign is not None:
                summary["upstream"] = untimed(foreign)
                if shown is not None:
                    shown["upstream"] = untimed(origin.conditions)
            if summary == shown:
                continue
            if summary == self.written.get(key) and now - self.written_at.get(key, now) < WATCH_LAG_S:
                self._hold(key, self.written_at[key] + WATCH_LAG_S)  # sent: the watch has not shown it yet
                continue

            previous = self.written.get(key) or shown or {}
            phase = summary.get("phase")
            entered = self.entered.get(key)
            if entered is None or entered[0] != phase:
                self.entered[key] = entered = (phase, now)
            before = previous.get("phase")
            if before == phase:
                wait = self.written_at.get(key, float("-inf")) + STATUS_INTERVAL_S - now
            elif phase in PASSING and (before is None or before in PASSING):
                wait = entered[1] + PASSING_S - now  # on its way to an outcome: said if it lasts
            else:
                wait = 0.0  # a phase that lasts reached, or one left (a gang preempted, a member lost): said at once
            if wait > 0:
                self._hold(key, now + wait)  # a later look writes the newest
                continue
            self.written[key], self.written_at[key] = summary, now
            if key in self.in_flight:
                self.queued[key] = self._write(key, status, origin, foreign)
            else:
                self.in_flight.add(key)
                self.outbox.add(self._write(key, status, origin, foreign))
            decision = last.get(key)
            if decision is not None and decision.reason in EXPLAINED and self._due(key, decision.message, now):
                self.outbox.add(
                    PostEvent(group_ref(key, group.metadata.uid), "Warning", "FailedScheduling", decision.message)
                )
        for key, decision in [(k, last[k]) for k in decided if k in last]:
            if decision.reason not in EXPLAINED or key in preempting:
                continue
            for pod in decision.unit.pending:
                info = self.state.pods.get(pod.key)
                if info is None or info.node is not None or self.pod_messages.get(pod.key) == decision.message:
                    continue
                self.pod_messages[pod.key] = decision.message
                reason = "SchedulerError" if decision.reason is ScheduledReason.SCHEDULER_ERROR else "Unschedulable"
                condition = {"type": "PodScheduled", "status": "False", "reason": reason, "message": decision.message}
                self.conditions[pod.key] = self.conditions.get(pod.key, 0) + 1
                self.outbox.add(SetPodCondition(pod.key, condition))
                if decision.unit.group is None and self._due(pod.key, decision.message, now):
                    ref = pod_ref(pod.key, info.uid)
                    self.outbox.add(PostEvent(ref, "Warning", "FailedScheduling", decision.message))

    def next_due(self) -> float | None:
        """When the earliest held-back group is to be looked at again."""
        return min(self.held.values(), default=None)

    def _hold(self, key: str, until: float) -> None:
        self.held[key] = min(until, self.held.get(key, until))

    def done(self, done: Done) -> None:
        effect = done.effect
        if isinstance(effect, SetPodCondition):
            left = self.conditions.get(effect.pod, 1) - 1
            if left:
                self.conditions[effect.pod] = left
            else:
                self.conditions.pop(effect.pod, None)
            if done.outcome is not Outcome.OK and self.pod_messages.get(effect.pod) == effect.condition.get("message"):
                del self.pod_messages[effect.pod]  # not written: write it again on the next look
        elif isinstance(effect, WriteStatus):
            self.in_flight.discard(effect.group)
            if done.outcome is Outcome.TRANSIENT:
                self.written.pop(effect.group, None)  # try again next pass
            # A permanent refusal keeps `written`: the same status is sent again only after WATCH_LAG_S, not on
            # every pass (a server that rejects it would otherwise be asked hundreds of times a second).
            if (queued := self.queued.pop(effect.group, None)) is not None:
                self.in_flight.add(effect.group)
                self.outbox.add(queued)

    @staticmethod
    def _write(
        key: str, status: Mapping[str, Any], origin: GroupOrigin | None, foreign: list[dict[str, Any]] | None
    ) -> WriteStatus:
        if origin is None:
            return WriteStatus(key, status)
        return WriteStatus(key, status, origin.api_version, tuple(foreign) if foreign is not None else None)

    def _due(self, key: str, message: str, now: float) -> bool:
        """An event per object when its message changes, at most every EVENT_INTERVAL_S (kube aggregates too)."""
        last_message, last_time = self.evented.get(key, ("", float("-inf")))
        if message == last_message or now - last_time < EVENT_INTERVAL_S:
            return False
        self.evented[key] = (message, now)
        return True

    def prune(self) -> None:
        live = self.state.pods.keys() | self.state.groups.keys()
        tables = (self.pod_messages, self.evented, self.written, self.written_at, self.queued)
        for table in (*tables, self.held, self.entered):
            for key in [k for k in table if k not in live]:
                del table[key]

"""The engine's clocks for the SLIs: when each unit was first decided, when its quorum was first present, when
its preemption was decided; told to the observer as the unit moves on (engine/observer.py), with the gauges of
what waits."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Set

from scheduler.api.podgroup import ScheduledReason
from scheduler.engine.cycle import Decision
from scheduler.engine.observer import Observer, family
from scheduler.engine.units import Unit


def priority_class(unit: Unit) -> str:
    """The unit's priority class name, as the SLIs are labelled ("" for none)."""
    cls = unit.group.spec.priority_class_name if unit.group is not None else None
    if cls is None and unit.pending:
        cls = unit.pending[0].pod.spec.priority_class_name
    return cls or ""


class Timings:
    def __init__(self, observer: Observer) -> None:
        self.observer = observer
        self.first_attempt: dict[str, float] = {}
        self.quorum_at: dict[str, float] = {}
        self.preempted_at: dict[str, float] = {}  # preemptor -> when its preemption was decided

    def decided(self, decision: Decision, now: float) -> None:
        key = decision.unit.key
        self.first_attempt.setdefault(key, now)
        if decision.reason is not ScheduledReason.WAITING_FOR_PODS:
            self.quorum_at.setdefault(key, now)

    def preempting(self, key: str, now: float) -> None:
        self.preempted_at[key] = now

    def victims_gone(self, key: str, now: float) -> None:
        self.observer.preemption("victims-gone", now - self.preempted_at.get(key, now))

    def given_up(self, key: str, now: float) -> None:
        self.observer.preemption("given-up", now - self.preempted_at.pop(key, now))

    def bound(self, unit: Unit, now: float) -> None:
        since_quorum = now - self.quorum_at.pop(unit.key, now)
        self.observer.gang_bound(priority_class(unit), since_quorum, now - self.first_attempt.pop(unit.key, now))
        if (preempted := self.preempted_at.pop(unit.key, None)) is not None:
            self.observer.preemption("bound", now - preempted)

    def waiting(
        self,
        acted: list[Decision],
        skipped: list[Unit],
        last: Mapping[str, Decision],
        preemptors: list[Unit],
        evicting: int,
        now: float,
    ) -> None:
        """The gauges of what waits, from a pass (which looked at every waiting unit: decided or skipped): how
        many, in which family of reasons, the longest waits; preemptors read as waiting for their victims."""
        waiting = [d.unit for d in acted if not d.scheduled and d.reason is not ScheduledReason.WAITING_FOR_PREEMPTION]
        self.observer.pending(
            len(waiting), sum(len(u.pending) for u in waiting), len(skipped), sum(len(u.pending) for u in skipped)
        )
        families = Counter(family(last[u.key]) for u in [*waiting, *skipped] if u.key in last)
        if preemptors:  # their decisions are the admitted ones, which read as placed
            families["preemption"] += len(preemptors)
        self.observer.waiting_by_family(families)
        self.observer.evictions_in_flight(evicting)
        self.observer.longest_waits(self.longest_waits([*waiting, *skipped, *preemptors], now))

    def longest_waits(self, units: Iterable[Unit], now: float) -> dict[str, float]:
        """Per priority class, the longest any of these waiting units has waited since its quorum was present."""
        longest: dict[str, float] = {}
        for unit in units:
            if (since := self.quorum_at.get(unit.key)) is not None:
                cls = priority_class(unit)
                longest[cls] = max(longest.get(cls, 0.0), now - since)
        return longest

    def prune(self, live: Set[str]) -> None:
        for table in (self.first_attempt, self.quorum_at, self.preempted_at):
            for key in [k for k in table if k not in live]:
                del table[key]

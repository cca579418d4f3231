"""What the engine tells metrics: kube/metrics.py implements it over Prometheus; the simulator ignores it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from scheduler.api.podgroup import ScheduledReason
from scheduler.engine.cycle import Decision

# Why units wait, in families an operator can act on (bounded: a fixed set, never a message or an object name).
FAMILIES = ("resources", "topology", "affinity-spread", "ports", "volumes", "quorum", "preemption", "invalid", "other")
# What let a unit into a scheduling attempt, as kube-scheduler's queue events: new (first seen), unit-changed (a
# member arrived, its group changed), cluster-changed (capacity freed, a node, another unit placed or its plan
# undone), retry (its backoff ran out, or a binding or preemption of it was given up), victims-gone (a preemptor
# admitted).
EVENTS = ("new", "unit-changed", "cluster-changed", "retry", "victims-gone")
# How far a preemption got, each timed from its decision: every victim gone, the preemptor bound, or given up.
STAGES = ("victims-gone", "bound", "given-up")


def family(decision: Decision) -> str:
    """The family of a decision that left its unit waiting, read from the reason and the explanation."""
    if decision.reason is ScheduledReason.WAITING_FOR_PODS:
        return "quorum"
    if decision.reason is ScheduledReason.WAITING_FOR_PREEMPTION:
        return "preemption"
    text = decision.message
    for name, marks in (
        ("volumes", ("volume", "persistentvolumeclaim", "PersistentVolumeClaim")),
        ("ports", ("free ports", "host port")),
        ("invalid", ("is not supported by Phalanx", "invalid", "priority class", "not found", "does not exist")),
        # Inter-pod rules only: "node(s) didn't match Pod's node affinity/selector" is in nearly every message
        # (a gang's nodeSelector leaves most nodes out) and says nothing about why the nodes it keeps are no good.
        ("affinity-spread", ("pod affinity", "anti-affinity", "topology spread")),
        ("resources", ("Insufficient", "Too many pods")),
        ("topology", ("room for", "topology", "label required")),
    ):
        if any(mark in text for mark in marks):
            return name
    return "other"


class Observer(Protocol):
    """What the engine tells metrics (kube/metrics.py implements it; the simulator may ignore it)."""

    def observe(self, decision: Decision) -> None: ...

    def pending(self, active_units: int, active_pods: int, backoff_units: int, backoff_pods: int) -> None: ...

    def bind_errors_seen(self, count: int) -> None: ...

    def gang_bound(self, priority_class: str, since_quorum_s: float, since_first_attempt_s: float) -> None: ...

    def waiting_by_family(self, families: Mapping[str, int]) -> None: ...

    def longest_waits(self, by_priority_class: Mapping[str, float]) -> None: ...

    def evictions_in_flight(self, count: int) -> None: ...

    def queued(self, event: str) -> None: ...

    def preemption(self, stage: str, seconds: float) -> None: ...


class Quiet:
    def observe(self, decision: Decision) -> None:
        pass

    def pending(self, active_units: int, active_pods: int, backoff_units: int, backoff_pods: int) -> None:
        pass

    def bind_errors_seen(self, count: int) -> None:
        pass

    def gang_bound(self, priority_class: str, since_quorum_s: float, since_first_attempt_s: float) -> None:
        pass

    def waiting_by_family(self, families: Mapping[str, int]) -> None:
        pass

    def longest_waits(self, by_priority_class: Mapping[str, float]) -> None:
        pass

    def evictions_in_flight(self, count: int) -> None:
        pass

    def queued(self, event: str) -> None:
        pass

    def preemption(self, stage: str, seconds: float) -> None:
        pass

"""The executor contract: how a decision reaches a cluster, whichever cluster it is.

The kube adapter implements `ClusterApi` with the API server (pods/binding, DisruptionTarget and eviction);
the simulator implements it in memory. The engine's side is the same for both: evict the victims of a
preemption, then bind the gang's pods; if any binding fails, unreserve what it assumed and report the error,
never leaving a gang half-bound by this decision.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from scheduler.api.podgroup import ScheduledReason
from scheduler.engine.cycle import Decision
from scheduler.engine.state import ClusterState


class ClusterApi(Protocol):
    def bind(self, pod: str, node: str) -> None:
        """Bind a pod (namespace/name) to a node; raise on failure."""

    def evict(self, pod: str, reason: str, message: str) -> None:
        """Mark a pod as a disruption target and delete it; raise on failure."""

    def release(self, pod: str, message: str) -> None:
        """Undo a binding this scheduler made (in Kubernetes: delete the pod; its controller recreates it)."""


class BindError(RuntimeError):
    """A binding the cluster refused."""


@dataclass(frozen=True)
class Outcome:
    decision: Decision
    bound: tuple[str, ...] = ()
    error: str = ""


class Executor:
    def __init__(self, state: ClusterState, api: ClusterApi) -> None:
        self.state = state
        self.api = api

    def evict(self, decision: Decision) -> tuple[str, ...]:
        """Evict a preemption decision's victims (before the engine admits its nominations).

        Every victim is tried even when one fails: a gang evicted whole must not be left half-evicted because
        one call failed midway. The first error is raised once all were tried.
        """
        assert decision.plan is not None
        evicted = []
        errors: list[Exception] = []
        for pod in decision.plan.victim_pods:
            try:
                self.api.evict(pod, "PreemptionByScheduler", f"preempted to make room for {decision.unit.key}")
            except Exception as exc:
                errors.append(exc)
                continue
            evicted.append(pod)
        if errors:
            raise errors[0]
        return tuple(evicted)

    def bind(self, decision: Decision) -> Outcome:
        """Bind every pod a scheduled decision assumed. If one binding fails, the ones already made are released
        and every assumption forgotten: the gang is retried whole, never left short of minCount."""
        if decision.reason is not ScheduledReason.SCHEDULED or decision.plan is None:
            return Outcome(decision)
        bound: list[str] = []
        for pod, node in sorted(decision.plan.assignments.items()):
            try:
                self.api.bind(pod, node)
            except Exception as exc:
                error = f"binding {pod} to {node} failed: {exc}"
                for done in bound:
                    self.api.release(done, f"rolled back: {error}")
                for key in decision.plan.assignments:
                    self.state.forget(key)
                return Outcome(decision, (), error=error)
            bound.append(pod)
        return Outcome(decision, tuple(bound))

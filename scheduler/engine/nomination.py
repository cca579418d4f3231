"""A preemption in progress: the preemptor's nodes reserved while its victims terminate."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from scheduler.engine.cycle import Decision
from scheduler.engine.state import ClusterState


@dataclass
class Nomination:
    decision: Decision
    victims: dict[str, str]  # pod key -> uid: a pod recreated under a victim's name is not the victim
    deadline: float
    pods: dict[str, str]  # the preemptor's pods -> their uids: one recreated meanwhile gets no reservation

    def victims_gone(self, state: ClusterState) -> bool:
        """Every victim holds no node any more: deleted, unbound, or another pod under its name by now."""
        return all(
            (info := state.pods.get(pod)) is None or not info.holds_capacity or (uid and info.uid and info.uid != uid)
            for pod, uid in self.victims.items()
        )

    def preemptor_replaced(self, uid_of: Callable[[str], str]) -> bool:
        """A preemptor pod was deleted or recreated since the preemption was decided."""
        return any(uid_of(pod) != uid for pod, uid in self.pods.items())

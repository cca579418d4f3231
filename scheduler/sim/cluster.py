"""The in-memory cluster behind the simulator: the engine's effects carried out on its cache, at once.

Binding confirms an assumed pod; eviction and release put the pod back to pending under a new UID, as its
controller would recreate it; status, conditions, events and nominations have nothing to change here. Every
effect is answered, as the kube adapter answers it, so the engine's policy runs unchanged.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import replace

from scheduler.engine.effects import AskCapacity, Bind, Done, Effect, Evict, Outcome, Release, SelectNode
from scheduler.engine.state import ClusterState
from scheduler.engine.storage import claims_to_select


class SimCluster:
    """`on_evicted` lets the simulator stop the job that lost a pod; `on_ask` hands it capacity requests."""

    def __init__(
        self,
        state: ClusterState,
        on_evicted: Callable[[str, str], None],
        on_ask: Callable[[AskCapacity], None] = lambda ask: None,
    ) -> None:
        self.state = state
        self.on_evicted = on_evicted
        self.on_ask = on_ask
        self._uids = itertools.count(1)

    def carry(self, effects: Sequence[Effect]) -> list[Done]:
        return [self._one(effect) for effect in effects]

    def _one(self, effect: Effect) -> Done:
        if isinstance(effect, Bind):
            error = self.bind(effect.pod, effect.node, effect.uid)
            return Done(effect, Outcome.PERMANENT, error) if error else Done(effect)
        if isinstance(effect, Evict):
            self.release(effect.pod)
            self.on_evicted(effect.pod, effect.unit)
        elif isinstance(effect, Release):
            self.release(effect.pod)
            self.on_evicted(effect.pod, "")
        elif isinstance(effect, SelectNode):
            self.state.storage.select_node(effect.claim, effect.node)
        elif isinstance(effect, AskCapacity):
            self.on_ask(effect)
        return Done(effect)

    def bind(self, pod: str, node: str, uid: str = "") -> str:
        """Bind, or say why not, as the API server would."""
        info = self.state.pods.get(pod)
        if info is None or (uid and info.uid != uid):
            return f"pod {pod} (uid {uid}) does not exist"
        if info.node not in (None, node) and not info.assumed:
            return f"pod {pod} is already bound to {info.node}"
        for claim in claims_to_select(self.state.storage, info.pod):  # as the operator's PreBind writes it
            self.state.storage.select_node(claim, node)
        self.state.upsert_pod(replace(info, node=node, assumed=False))
        return ""

    def release(self, pod: str) -> None:
        """The pod is deleted and its controller makes it again: pending, under a new UID."""
        info = self.state.pods.get(pod)
        if info is not None:
            self.state.upsert_pod(
                replace(info, node=None, assumed=False, phase="Pending", uid=f"sim-{next(self._uids)}")
            )

"""The in-memory cluster behind the simulator: `ClusterApi` over the engine's cache, instantly consistent."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from scheduler.engine.state import ClusterState
from scheduler.engine.storage import claims_to_select


class SimCluster:
    """Binding confirms an assumed pod; eviction and release put the pod back to pending, as its controller
    would recreate it. `on_evicted` lets the simulator stop the job that lost a pod."""

    def __init__(self, state: ClusterState, on_evicted: Callable[[str], None]) -> None:
        self.state = state
        self.on_evicted = on_evicted

    def bind(self, pod: str, node: str) -> None:
        info = self.state.pods.get(pod)
        if info is None:
            raise KeyError(f"pod {pod} does not exist")
        if info.node not in (None, node):
            raise ValueError(f"pod {pod} is already bound to {info.node}")
        for claim in claims_to_select(self.state.storage, info.pod):  # as the operator's PreBind writes it
            self.state.storage.select_node(claim, node)
        self.state.upsert_pod(replace(info, node=node, assumed=False))

    def evict(self, pod: str, reason: str, message: str) -> None:
        self.release(pod, message)
        self.on_evicted(pod)

    def release(self, pod: str, message: str) -> None:
        info = self.state.pods.get(pod)
        if info is not None:
            self.state.upsert_pod(replace(info, node=None, assumed=False, phase="Pending"))

"""A simulated cluster autoscaler that honours capacity requests atomically, after a delay.

When a unit fits nowhere (even with preemption) the simulator asks, as the operator would with a
ProvisioningRequest: the autoscaler finds the fewest new nodes of its shape on which the whole unit can be
placed (the engine's own placement decides, so selectors, taints and topology rules count), and adds them all
at once after `delaySeconds`, in a new domain at every topology level, as one node group in one zone would. A
gang gets all of its nodes or none; under the pod-by-pod baseline each pod asks alone, as the upstream
autoscaler sees pending pods.
"""

from __future__ import annotations

import math
from typing import Annotated

from pydantic import Field

from scheduler.api.base import ApiModel
from scheduler.api.core import Node
from scheduler.engine.state import ClusterState
from scheduler.sim.generate import NodeShape, shape_node
from scheduler.solver.placement import place_gang
from scheduler.solver.problem import Gang, SolverParams
from scheduler.topology.nodes import strip_node


class AutoscalerSpec(ApiModel):
    delay_seconds: Annotated[float, Field(ge=0)] = 300.0
    max_nodes: Annotated[int, Field(ge=1, le=100_000)] = 64  # added over the whole run
    shape: NodeShape


class SimAutoscaler:
    def __init__(self, spec: AutoscalerSpec, levels: tuple[str, ...]) -> None:
        self.spec = spec
        self.levels = levels
        self.added = 0
        self.requests = 0
        self._params = SolverParams(time_limit_s=1.0, deterministic=True)

    def plan(self, gang: Gang, requests: list[dict[str, int]]) -> list[Node] | None:
        """The nodes to add so that `gang` fits on them alone, or None when no number within budget will do.

        `requests` are the gang's pods' requests, for a lower bound on the node count.
        """
        budget = self.spec.max_nodes - self.added
        per_node = strip_node(shape_node("probe", {}, self.spec.shape)).allocatable
        lower = 1
        need = gang.min_count
        ordered = sorted(requests, key=lambda r: -sum(r.values()))[:need]
        for resource in {r for req in ordered for r in req}:
            total = sum(req.get(resource, 0) for req in ordered)
            available = per_node.get(resource, 0)
            if total and not available:
                return None  # no node of this shape has it at all
            if available:
                lower = max(lower, math.ceil(total / available))
        for count in range(lower, min(budget, lower + 8) + 1):
            nodes = self._nodes(self.requests + 1, count)
            state = ClusterState(self.levels)
            for node in nodes:
                state.upsert_node(strip_node(node))
            if place_gang(state.capacity(), gang, self._params, greedy_only=True).placed:
                self.requests += 1
                self.added += count
                return nodes
        return None

    def _nodes(self, request: int, count: int) -> list[Node]:
        host = self.levels[-1]
        domain = {level: f"auto-{request}" for level in self.levels[:-1]}
        out = []
        for i in range(count):
            name = f"auto-{request}-n{i}"
            out.append(shape_node(name, {**domain, host: name, **self.spec.shape.labels}, self.spec.shape))
        return out

"""Fluent builders for test clusters and gangs (in the spirit of Kueue's MakeNode("x").Label(...).Obj())."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from scheduler.solver.problem import Gang, PodSet, Requirement, Signature, Toleration, TopologyRule
from scheduler.solver.victims import VictimPod, VictimUnit
from scheduler.topology.capacity import Capacity
from scheduler.topology.nodes import NodeInfo, TaintInfo
from scheduler.topology.tree import TopologyTree

ZONE = "topology.kubernetes.io/zone"
BLOCK = "network.phalanx.dev/block"
RACK = "network.phalanx.dev/rack"
HOST = "kubernetes.io/hostname"
LEVELS = (ZONE, BLOCK, RACK, HOST)
GPU = "nvidia.com/gpu"
GI = 2**30


@dataclass
class NodeBuilder:
    info: NodeInfo

    def label(self, key: str, value: str) -> NodeBuilder:
        self.info = replace(self.info, labels={**self.info.labels, key: value})
        return self

    def taint(self, key: str, value: str = "", effect: str = "NoSchedule") -> NodeBuilder:
        self.info = replace(self.info, taints=(*self.info.taints, TaintInfo(key, value, effect)))
        return self

    def cordoned(self) -> NodeBuilder:
        self.info = replace(self.info, unschedulable=True)
        return self

    def not_ready(self) -> NodeBuilder:
        self.info = replace(self.info, ready=False)
        return self

    def obj(self) -> NodeInfo:
        return self.info


def make_node(name: str, cpu: int = 64, memory_gi: int = 512, gpu: int = 8, pods: int = 110) -> NodeBuilder:
    alloc = {"cpu": cpu * 1000, "memory": memory_gi * GI, "pods": pods}
    if gpu:
        alloc[GPU] = gpu
    return NodeBuilder(NodeInfo(name, {HOST: name}, alloc))


def grid(zones: int = 1, blocks: int = 2, racks: int = 2, nodes: int = 4, **shape: int) -> list[NodeInfo]:
    """A regular cluster: zone z<i>, block z<i>-b<j>, rack z<i>-b<j>-r<k>, node z<i>-b<j>-r<k>-n<l>."""
    out = []
    for z in range(zones):
        for b in range(blocks):
            for r in range(racks):
                for n in range(nodes):
                    rack = f"z{z}-b{b}-r{r}"
                    out.append(
                        make_node(f"{rack}-n{n}", **shape)
                        .label(ZONE, f"z{z}")
                        .label(BLOCK, f"z{z}-b{b}")
                        .label(RACK, rack)
                        .obj()
                    )
    return out


@dataclass
class SignatureBuilder:
    requests: dict[str, int] = field(default_factory=dict)
    selector: dict[str, str] = field(default_factory=dict)
    affinity: list[list[Requirement]] | None = None
    tolerations: list[Toleration] = field(default_factory=list)

    def obj(self) -> Signature:
        requests = {**self.requests, "pods": 1}
        return Signature(
            requests=tuple(sorted(requests.items())),
            node_selector=tuple(sorted(self.selector.items())),
            affinity=None if self.affinity is None else tuple(tuple(t) for t in self.affinity),
            tolerations=tuple(self.tolerations),
        )


def shape(cpu: float = 1, memory_gi: float = 1, gpu: int = 0, **extra: int) -> SignatureBuilder:
    requests = {"cpu": int(cpu * 1000), "memory": int(memory_gi * GI), **extra}
    if gpu:
        requests[GPU] = gpu
    return SignatureBuilder(requests)


def gang(
    name: str,
    *sets: tuple[int, Signature],
    min_count: int | None = None,
    required: Iterable[str] = (),
    preferred: Iterable[str] = (),
    basic: bool = False,
) -> Gang:
    pod_sets = []
    for index, (count, signature) in enumerate(sets):
        pod_sets.append(PodSet(signature, tuple(f"{name}-{index}-{i}" for i in range(count))))
    size = sum(count for count, _ in sets)
    rules = [TopologyRule(k, True) for k in required] + [TopologyRule(k, False) for k in preferred]
    rules.sort(key=lambda r: LEVELS.index(r.key) if r.key in LEVELS else len(LEVELS))
    return Gang(name, tuple(pod_sets), size if min_count is None else min_count, tuple(rules), basic)


def snapshot(nodes: list[NodeInfo], used: dict[str, dict[str, int]] | None = None) -> Capacity:
    return Capacity(TopologyTree(LEVELS, nodes), used or {})


def running(key: str, priority: int, *placements: tuple[str, dict[str, int]], whole: bool = False) -> VictimUnit:
    """A running victim unit: one pod per (node, requests); `whole` for a PodGroup evicted as a whole."""
    pods = tuple(
        VictimPod(f"{key}/{i}" if whole or len(placements) > 1 else key, node, requests)
        for i, (node, requests) in enumerate(placements)
    )
    return VictimUnit(key, priority, pods, whole_group=whole)


def occupied(nodes: list[NodeInfo], units: Iterable[VictimUnit]) -> Capacity:
    """A snapshot in which the given units' pods use their nodes' capacity."""
    used: dict[str, dict[str, int]] = {}
    for unit in units:
        for pod in unit.pods:
            per_node = used.setdefault(pod.node, {})
            for resource, amount in pod.requests.items():
                per_node[resource] = per_node.get(resource, 0) + amount
    return snapshot(nodes, used)

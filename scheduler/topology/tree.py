"""The topology tree: zone ⊃ block ⊃ rack ⊃ node, from node labels named by the configured levels.

Nodes are ordered by their label path, so every domain at every level is a contiguous range of node indices.
That turns per-domain aggregation into one `numpy.add.reduceat` per level, and lets a solver restrict itself to
a domain by slicing. The networkx graph holds the same structure for traversal and explanations.

A node without a level's label sits in that level's *unlabelled* domain (value ""), which can never satisfy a
Required constraint at that level: we do not know where such a node really is.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass

import networkx as nx
import numpy as np
import numpy.typing as npt

from scheduler.topology.nodes import NodeInfo

HOSTNAME = "kubernetes.io/hostname"
ROOT = "<cluster>"


@dataclass(frozen=True, slots=True)
class Domain:
    level: int
    key: str
    value: str  # "" for the unlabelled domain at this level
    path: tuple[str, ...]  # values from the widest level down to this one
    start: int  # node index range [start, end)
    end: int

    @property
    def labelled(self) -> bool:
        return self.value != ""

    @property
    def size(self) -> int:
        return self.end - self.start

    @property
    def graph_id(self) -> tuple[int, tuple[str, ...]]:
        return (self.level, self.path)


@dataclass(frozen=True)
class Partition:
    """Per node, the index of its value of `key` in `values`, or -1 where the node lacks the label."""

    key: str
    ids: npt.NDArray[np.int64]
    values: tuple[str, ...]

    @property
    def size(self) -> int:
        return len(self.values)


class TopologyTree:
    """Immutable, built once per node generation and shared read-only by every cycle's snapshot."""

    def __init__(self, levels: Sequence[str], nodes: Iterable[NodeInfo], generation: int = 0) -> None:
        # The hostname level is the node itself; keeping it as a domain level would only duplicate the leaves.
        self.levels: tuple[str, ...] = tuple(lvl for lvl in levels if lvl != HOSTNAME)
        self.generation = generation
        keyed = sorted(
            ((tuple(n.labels.get(k, "") for k in self.levels), n.name, n) for n in nodes), key=lambda t: t[:2]
        )
        self.nodes: tuple[NodeInfo, ...] = tuple(t[2] for t in keyed)
        self._paths = [[t[0][: depth + 1] for t in keyed] for depth in range(len(self.levels))]
        self.index: dict[str, int] = {n.name: i for i, n in enumerate(self.nodes)}
        # Nodes that can take any pod at all (tolerating the unschedulable taint aside).
        self.usable: npt.NDArray[np.bool_] = np.fromiter(
            (n.ready and not n.unschedulable for n in self.nodes), dtype=np.bool_, count=len(self.nodes)
        )
        if len(self.index) != len(self.nodes):
            raise ValueError("node names must be unique")
        self.domains: list[list[Domain]] = []
        self.domain_of: list[npt.NDArray[np.int32]] = []
        for depth in range(len(self.levels)):
            self._build_level(depth)
        self._graph: nx.DiGraph | None = None
        self._partitions: dict[str, Partition] = {}

    @property
    def graph(self) -> nx.DiGraph:
        """The same structure as a networkx tree, built on first use: scheduling works on the arrays, and a
        cluster whose nodes churn should not pay for a graph nobody reads."""
        if self._graph is None:
            self._graph = self._build_graph()
        return self._graph

    def _build_level(self, depth: int) -> None:
        key = self.levels[depth]
        domains: list[Domain] = []
        owner = np.empty(len(self.nodes), dtype=np.int32)
        start = 0
        paths = self._paths[depth]
        for i in range(1, len(self.nodes) + 1):
            if i == len(self.nodes) or paths[i] != paths[start]:
                path = paths[start]
                owner[start:i] = len(domains)
                domains.append(Domain(depth, key, path[-1], path, start, i))
                start = i
        self.domains.append(domains)
        self.domain_of.append(owner)

    def _build_graph(self) -> nx.DiGraph:
        graph = nx.DiGraph()
        graph.add_node(ROOT, kind="root")
        for depth, domains in enumerate(self.domains):
            for domain in domains:
                graph.add_node(domain.graph_id, kind="domain", domain=domain)
                graph.add_edge(self._parent_id(depth, domain.start), domain.graph_id)
        for i, node in enumerate(self.nodes):
            graph.add_node(node.name, kind="node", index=i)
            graph.add_edge(self._parent_id(len(self.levels), i), node.name)
        return graph

    def _parent_id(self, depth: int, node_index: int) -> Hashable:
        """Graph id of the domain at `depth - 1` holding a node (the root above the widest level)."""
        if depth == 0:
            return ROOT
        return self.domains[depth - 1][int(self.domain_of[depth - 1][node_index])].graph_id

    def __len__(self) -> int:
        return len(self.nodes)

    def partition(self, key: str) -> Partition:
        """Nodes grouped by their value of any label key (a level or not): what inter-pod rules count in."""
        found = self._partitions.get(key)
        if found is None:
            values: dict[str, int] = {}
            ids = np.fromiter(
                (values.setdefault(v, len(values)) if (v := n.labels.get(key)) is not None else -1 for n in self.nodes),
                dtype=np.int64,
                count=len(self.nodes),
            )
            found = Partition(key, ids, tuple(values))
            self._partitions[key] = found
        return found

    def level_of(self, key: str) -> int | None:
        """Depth of a level key, None for hostname (the nodes themselves) or an unknown key."""
        return self.levels.index(key) if key in self.levels else None

    def domain_starts(self, depth: int) -> npt.NDArray[np.intp]:
        return np.fromiter((d.start for d in self.domains[depth]), dtype=np.intp, count=len(self.domains[depth]))

    def aggregate(self, values: npt.NDArray[np.int64], depth: int) -> npt.NDArray[np.int64]:
        """Sum a per-node array (first axis) over each domain at `depth`."""
        if len(self.nodes) == 0:
            return np.zeros((0, *values.shape[1:]), dtype=values.dtype)
        return np.add.reduceat(values, self.domain_starts(depth), axis=0)

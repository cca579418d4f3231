"""The topology tree: zone ⊃ block ⊃ rack ⊃ node, from node labels named by the configured levels.

The structure is a networkx graph (cluster root -> one vertex per domain of each level -> the nodes), built
once per node generation (topology/cache.py). Everything else is read off it: a depth-first walk in child
order lists the nodes so that every domain at every level is a contiguous range of node indices, which turns
per-domain aggregation into one `numpy.add.reduceat` per level and lets a solver restrict itself to a domain by
slicing; which nodes a domain holds, the domains a node sits in (the paths explanations print) and the layout
of the report's heat map come from the graph itself.

A node without a level's label sits in that level's *unlabelled* domain (value ""), which can never satisfy a
Required constraint at that level: we do not know where such a node really is.
"""

from __future__ import annotations

import gc
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import cast

import networkx as nx
import numpy as np
import numpy.typing as npt

from scheduler.topology.nodes import NodeInfo

HOSTNAME = "kubernetes.io/hostname"
ROOT = "<cluster>"  # no node is called this: node names are DNS subdomains


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
    """Immutable, built once per node generation and shared read-only by every cycle's snapshot: `graph` is the
    structure, and `nodes`, `domains`, `domain_of` and `index` are its depth-first order as arrays."""

    def __init__(self, levels: Sequence[str], nodes: Iterable[NodeInfo], generation: int = 0) -> None:
        # The hostname level is the node itself; keeping it as a domain level would only duplicate the leaves.
        self.levels: tuple[str, ...] = tuple(lvl for lvl in levels if lvl != HOSTNAME)
        self.generation = generation
        # The build allocates a few containers per node and keeps every one: the cyclic collector would rescan
        # the growing heap again and again for garbage that cannot exist yet (nothing is dropped, no cycles).
        collecting = gc.isenabled()
        gc.disable()
        try:
            graph, by_name = _grow(self.levels, nodes)
            ordered, self.domains = _flatten(graph, self.levels, by_name)
        finally:
            if collecting:
                gc.enable()
        self.graph: nx.DiGraph = graph
        self.nodes: tuple[NodeInfo, ...] = ordered
        self.index: dict[str, int] = {n.name: i for i, n in enumerate(self.nodes)}
        # Nodes that can take any pod at all (tolerating the unschedulable taint aside).
        self.usable: npt.NDArray[np.bool_] = np.fromiter(
            (n.ready and not n.unschedulable for n in self.nodes), dtype=np.bool_, count=len(self.nodes)
        )
        self.domain_of: list[npt.NDArray[np.int32]] = [
            np.repeat(np.arange(len(domains), dtype=np.int32), [d.size for d in domains]) for domains in self.domains
        ]
        self._partitions: dict[str, Partition] = {}

    def __len__(self) -> int:
        return len(self.nodes)

    # Reading the graph ---------------------------------------------------------------------------------------

    def domain(self, vertex: Hashable) -> Domain | None:
        """The domain a graph vertex stands for; None for the root and for nodes."""
        found: Domain | None = self.graph.nodes[vertex].get("domain")
        return found

    def children(self, vertex: Hashable = ROOT) -> list[Hashable]:
        """A vertex's children in tree order: domains of the next level, or node names under the narrowest."""
        return list(self.graph.successors(vertex))

    def members(self, domain: Domain) -> tuple[NodeInfo, ...]:
        """The nodes a domain holds, in tree order."""
        attrs = self.graph.nodes
        leaves = (v for v in nx.dfs_preorder_nodes(self.graph, domain.graph_id) if attrs[v]["kind"] == "node")
        return tuple(self.nodes[self.index[name]] for name in leaves)

    def path_of(self, node: str) -> tuple[Domain, ...]:
        """The domains holding a node, widest first (walked up the graph from the node to the root)."""
        if node not in self.index:
            raise KeyError(f"no node {node!r} in the topology")
        found: list[Domain] = []
        pred, attrs = self.graph.pred, self.graph.nodes
        vertex: Hashable = node
        while (parents := pred[vertex]) and (parent := next(iter(parents))) != ROOT:
            found.append(attrs[parent]["domain"])
            vertex = parent
        return tuple(reversed(found))

    def common_path(self, nodes: Iterable[str]) -> tuple[Domain, ...]:
        """The domains holding every one of the nodes, widest first: its last is the narrowest such domain.
        Empty when the nodes share no domain (or there are none)."""
        try:
            indices = [self.index[n] for n in nodes]
        except KeyError as exc:
            raise KeyError(f"no node {exc.args[0]!r} in the topology") from None
        if not indices:
            return ()
        first, last = min(indices), max(indices)
        # Domains are node ranges in tree order: those holding the first and the last node hold every one between.
        return tuple(d for d in self.path_of(self.nodes[first].name) if d.end > last)

    # Arrays read off the graph -------------------------------------------------------------------------------

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


def _grow(levels: tuple[str, ...], nodes: Iterable[NodeInfo]) -> tuple[nx.DiGraph, dict[str, NodeInfo]]:
    """The graph: the root, a vertex `(depth, path)` per domain, each node (by name) under its narrowest domain.
    Children are added sorted by label value (nodes by name), so the graph's own child order is the tree order.
    Also returns the nodes by name: graph vertices stay plain names, so adding them takes networkx's fast path."""
    keyed = sorted(((tuple(n.labels.get(k, "") for k in levels), n.name, n) for n in nodes), key=itemgetter(0, 1))
    domains: list[tuple[int, tuple[str, ...]]] = []
    edges: list[tuple[Hashable, Hashable]] = []
    parents: list[Hashable] = [ROOT] * (len(levels) + 1)  # the vertex above each depth for the current path
    previous: tuple[str, ...] | None = None
    for path, name, _ in keyed:
        if path != previous:
            # Only the domains from the first level where the path differs from the previous node's are new.
            first = 0
            if previous is not None:
                while path[first] == previous[first]:
                    first += 1
            for depth in range(first, len(levels)):
                vertex = (depth, path[: depth + 1])
                domains.append(vertex)
                edges.append((parents[depth], vertex))
                parents[depth + 1] = vertex
            previous = path
        edges.append((parents[-1], name))
    by_name = {name: node for _, name, node in keyed}
    if len(by_name) != len(keyed):
        raise ValueError("node names must be unique")
    graph = nx.DiGraph()
    graph.add_node(ROOT, kind="root")
    graph.add_nodes_from(domains, kind="domain")
    graph.add_nodes_from(by_name, kind="node")
    graph.add_edges_from(edges)
    return graph, by_name


def _flatten(
    graph: nx.DiGraph, levels: tuple[str, ...], by_name: dict[str, NodeInfo]
) -> tuple[tuple[NodeInfo, ...], list[list[Domain]]]:
    """Walk the graph depth first in child order: the nodes in tree order, and per level its domains with the
    node range each holds. Each domain is recorded when its walk ends (its range is known then), which keeps
    every level's domains in tree order too."""
    names: list[str] = []
    domains: list[list[Domain]] = [[] for _ in levels]
    succ, attrs = graph.succ, graph.nodes

    def walk(vertex: Hashable, depth: int) -> None:
        start = len(names)
        if depth == len(levels) - 1:
            names.extend(succ[vertex])
        else:
            for child in succ[vertex]:
                walk(child, depth + 1)
        if depth >= 0:
            level, path = cast(tuple[int, tuple[str, ...]], vertex)
            domain = Domain(level, levels[level], path[-1], path, start, len(names))
            attrs[vertex]["domain"] = domain
            domains[depth].append(domain)

    walk(ROOT, -1)
    return tuple(by_name[name] for name in names), domains

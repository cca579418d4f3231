"""Node store with a generation counter: the tree (its networkx graph and the arrays read off it) is built at most
once per generation, on first use, and a generation only ends when a scheduling-relevant field of some node
changed (heartbeats produce an equal NodeInfo and are ignored)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from scheduler.topology.nodes import NodeInfo
from scheduler.topology.tree import TopologyTree


class TopologyCache:
    def __init__(self, levels: Sequence[str], nodes: Iterable[NodeInfo] = ()) -> None:
        self.levels = tuple(levels)
        self._nodes: dict[str, NodeInfo] = {n.name: n for n in nodes}
        self.generation = 0
        self._tree: TopologyTree | None = None

    def upsert(self, node: NodeInfo) -> bool:
        """Store a node; return True when it changed something scheduling reads."""
        if self._nodes.get(node.name) == node:
            return False
        self._nodes[node.name] = node
        self._bump()
        return True

    def remove(self, name: str) -> bool:
        if self._nodes.pop(name, None) is None:
            return False
        self._bump()
        return True

    def _bump(self) -> None:
        self.generation += 1
        self._tree = None

    def get(self, name: str) -> NodeInfo | None:
        return self._nodes.get(name)

    def tree(self) -> TopologyTree:
        if self._tree is None:
            self._tree = TopologyTree(self.levels, self._nodes.values(), generation=self.generation)
        return self._tree

    def __len__(self) -> int:
        return len(self._nodes)

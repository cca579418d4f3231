"""Per-cycle capacity: allocatable, used and free as (nodes x resources) integer arrays in tree order."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import numpy.typing as npt

from scheduler.topology.tree import TopologyTree

IntArray = npt.NDArray[np.int64]


class Capacity:
    """Free capacity of every node of one tree. `resources` names the columns; a resource no node offers is a
    column of zeros, so a request for it is simply insufficient everywhere."""

    def __init__(self, tree: TopologyTree, used: Mapping[str, Mapping[str, int]], extra: Iterable[str] = ()) -> None:
        names = {r for n in tree.nodes for r in n.allocatable} | set(extra)
        names |= {r for per_node in used.values() for r in per_node}
        self.tree = tree
        self.resources: tuple[str, ...] = tuple(sorted(names))
        self.column: dict[str, int] = {r: i for i, r in enumerate(self.resources)}
        self.allocatable: IntArray = np.zeros((len(tree), len(self.resources)), dtype=np.int64)
        self.used: IntArray = np.zeros_like(self.allocatable)
        for i, node in enumerate(tree.nodes):
            for resource, amount in node.allocatable.items():
                self.allocatable[i, self.column[resource]] = amount
            for resource, amount in used.get(node.name, {}).items():
                self.used[i, self.column[resource]] = amount
        self._fractions: dict[int, npt.NDArray[np.float64]] = {}

    @classmethod
    def from_arrays(
        cls, tree: TopologyTree, resources: tuple[str, ...], allocatable: IntArray, used: IntArray
    ) -> Capacity:
        """A snapshot over arrays the caller keeps up to date (the engine's cache): no per-node Python loop."""
        capacity = cls.__new__(cls)
        capacity.tree, capacity.resources = tree, resources
        capacity.column = {r: i for i, r in enumerate(resources)}
        capacity.allocatable, capacity.used = allocatable, used
        capacity._fractions = {}
        return capacity

    def without(self, pods: Iterable[tuple[str, Mapping[str, int]]]) -> Capacity:
        """A copy in which the given (node, requests) no longer use capacity: the cluster after evictions."""
        copy = Capacity.__new__(Capacity)
        copy.tree, copy.resources, copy.column = self.tree, self.resources, self.column
        copy.allocatable = self.allocatable
        copy.used = self.used.copy()
        copy._fractions = {}
        for node, requests in pods:
            i = self.tree.index.get(node)
            if i is None:
                continue
            for resource, amount in requests.items():
                column = self.column.get(resource)
                if column is not None:
                    copy.used[i, column] -= amount
        return copy

    @property
    def free(self) -> IntArray:
        free: IntArray = np.maximum(self.allocatable - self.used, 0)
        return free

    def vector(self, requests: Mapping[str, int]) -> IntArray:
        """A request as a row in this capacity's column order (unknown resources must be added via `extra`)."""
        row = np.zeros(len(self.resources), dtype=np.int64)
        for resource, amount in requests.items():
            row[self.column[resource]] = amount
        return row

    def domain_free(self, depth: int) -> IntArray:
        return self.tree.aggregate(self.free, depth)

    def free_fraction(self, column: int) -> npt.NDArray[np.float64]:
        """Per node, how free it and the domains above it are for one resource, from 0 (full) to 1.

        The node counts its own free share; each domain above it counts its usable free capacity (cordoned and
        NotReady nodes offer none) relative to the largest domain of its level. Packing on the average is best
        fit at every level: full nodes in full racks in small or busy blocks first, which keeps whole empty
        domains for the big gangs that need them.
        """
        cached = self._fractions.get(column)
        if cached is not None:
            return cached
        alloc = self.allocatable[:, column]
        free = self.free[:, column] * self.tree.usable
        total = _share(free, alloc)
        for depth in range(len(self.tree.levels)):
            domain_alloc = self.tree.aggregate(alloc, depth)
            largest = np.full(len(domain_alloc), domain_alloc.max() if len(domain_alloc) else 0)
            share = _share(self.tree.aggregate(free, depth), largest)
            total = total + share[self.tree.domain_of[depth]]
        result: npt.NDArray[np.float64] = total / (len(self.tree.levels) + 1)
        self._fractions[column] = result
        return result


def _share(free: IntArray, alloc: IntArray) -> npt.NDArray[np.float64]:
    return np.divide(free, alloc, out=np.ones(len(free)), where=alloc > 0)

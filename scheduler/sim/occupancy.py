"""What every node held during a run, for the report's heat map.

The simulator records the measured resource bound on each node at every sample, kept as the nodes whose amount
changed since the sample before (a 5,000-node run stores a few numbers per binding, not a matrix per instant),
and every node set it ran on, so the cluster at any instant can be drawn again afterwards.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from scheduler.topology.capacity import Capacity
from scheduler.topology.nodes import NodeInfo
from scheduler.topology.tree import TopologyTree


@dataclass(frozen=True)
class Snapshot:
    t: float
    nodes: tuple[NodeInfo, ...]  # present at t
    held: Mapping[str, int]  # node -> amount of the resource bound on it (absent: none)


@dataclass
class Occupancy:
    resource: str
    levels: tuple[str, ...] = ()
    _node_sets: list[tuple[float, tuple[NodeInfo, ...]]] = field(default_factory=list)
    _changes: list[tuple[float, dict[str, int]]] = field(default_factory=list)
    _tree: TopologyTree | None = None
    _column: npt.NDArray[np.int64] | None = None  # the last sample's amounts, in the order of _tree
    _held: dict[str, int] = field(default_factory=dict)  # the last sample's non-zero amounts

    @property
    def changes(self) -> list[tuple[float, dict[str, int]]]:
        """Per sample that changed anything: its time and the nodes whose amount changed, with the new amount."""
        return self._changes

    def record(self, t: float, capacity: Capacity) -> None:
        """One sample: what each node of the snapshot holds now."""
        tree = capacity.tree
        column = capacity.column.get(self.resource)
        amounts = capacity.used[:, column].copy() if column is not None else np.zeros(len(tree), dtype=np.int64)
        if tree is self._tree and self._column is not None:
            indices = np.flatnonzero(amounts != self._column).tolist()
            changed = {tree.nodes[i].name: int(amounts[i]) for i in indices}
        else:
            # Another node set: compare by name, as node indices moved.
            self.levels = tree.levels
            self._node_sets.append((t, tree.nodes))
            now = {tree.nodes[i].name: int(amounts[i]) for i in np.flatnonzero(amounts).tolist()}
            changed = {n: v for n, v in now.items() if self._held.get(n) != v}
            changed.update((n, 0) for n in self._held if n not in now)
        self._tree, self._column = tree, amounts
        for name, amount in changed.items():
            if amount:
                self._held[name] = amount
            else:
                self._held.pop(name, None)
        if changed:
            self._changes.append((t, changed))

    def at(self, t: float) -> Snapshot:
        """The cluster as the last sample at or before `t` left it."""
        sets = bisect_right([s for s, _ in self._node_sets], t)
        nodes = self._node_sets[sets - 1][1] if sets else ()
        held: dict[str, int] = {}
        for _, changed in self._changes[: bisect_right([s for s, _ in self._changes], t)]:
            held.update(changed)
        present = {n.name for n in nodes}
        return Snapshot(t, nodes, {n: v for n, v in held.items() if v and n in present})

"""Greedy placement under joint constraints: the gang's pods one at a time, as kube-scheduler would place them,
each seeing the pods placed before it.

This is the baseline and the model's hint whenever a gang has joint constraints (solver/joint.py). Every step
is a feasible upstream step, so its plans are valid by construction. Node choice keeps the objective's order:
no new domain at a preferred level if avoidable, then no new node, then the best-fit packing cost; the first
pod of a group kept together goes to a domain that can hold the whole group, tightest first.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from scheduler.solver.context import GangContext
from scheduler.solver.joint import Joint, ids_of
from scheduler.topology.capacity import IntArray

Counts = dict[tuple[int, int], int]
BoolArray = npt.NDArray[np.bool_]


class _Placer:
    """Per-range state, updated incrementally: a pod placed changes one node's room and a few domain counts."""

    def __init__(self, ctx: GangContext, start: int, end: int, free: IntArray) -> None:
        self.ctx, self.start, self.end = ctx, start, end
        self.joint: Joint = ctx.joint
        self.free = free[start:end].copy()
        self.placed = np.zeros((len(ctx.fits), end - start), dtype=np.int64)
        keys = self.joint.domain_keys()
        self.ids = {key: ids_of(ctx.tree, key)[start:end] for key in keys}
        self.size = {key: int(ids_of(ctx.tree, key).max(initial=-1)) + 1 for key in keys}
        self.dom = {key: np.zeros((len(ctx.fits), self.size[key]), dtype=np.int64) for key in keys}
        self.room = np.stack([self._room(s, slice(None)) for s in range(len(ctx.fits))])
        self.spans = [
            ctx.tree.domain_of[d][start:end].astype(np.int64) if d != ctx.leaf else np.arange(end - start)
            for d in ctx.span_depths
        ]
        self.taken = [np.zeros(int(span.max(initial=-1)) + 1, dtype=np.bool_) for span in self.spans]
        # One integer key per node: a new domain at a wider level outweighs everything narrower, then cost.
        self.weights = []
        weight = int(ctx.cost.max(initial=0)) + 1
        for _ in reversed(self.spans):
            self.weights.append(weight)
            weight *= 2
        self.weights.reverse()

    def _room(self, s: int, where: slice | int) -> IntArray:
        """How many more pods of shape s fit on the nodes `where`: its cap less those placed, and free room."""
        request = self.ctx.requests[s]
        positive = request > 0
        left = self.ctx.cap[s, self.start : self.end][where] - self.placed[s][where]
        if positive.any():
            fits = (self.free[where][..., positive] // request[positive]).min(axis=-1)
            left = np.minimum(left, fits)
        result: IntArray = np.maximum(left, 0)
        return result

    def feasible(self, s: int) -> BoolArray:
        ok = self.room[s] > 0
        for cap in self.joint.caps:
            if s in cap.members:
                ids = self.ids[cap.key]
                held = self.dom[cap.key][list(cap.members)].sum(axis=0)
                ok &= (ids < 0) | (held[np.maximum(ids, 0)] < cap.limit)
        for apart in self.joint.apart:
            if s in (apart.a, apart.b):
                other = apart.b if s == apart.a else apart.a
                ids = self.ids[apart.key]
                ok &= (ids < 0) | (self.dom[apart.key][other][np.maximum(ids, 0)] == 0)
        for group in self.joint.together:
            if s in group.members:
                ok &= self._together(group.key, group.members, group.anchors, s)
        for rule in self.joint.spread:
            if rule.constrained != s and s not in rule.counted:
                continue
            ids = self.ids[rule.key]
            counts = rule.existing + self.dom[rule.key][list(rule.counted)].sum(axis=0)
            low = rule.minimum(counts)
            mine = 1 if s in rule.counted else 0
            within = counts[np.maximum(ids, 0)] + mine - low <= rule.max_skew
            if rule.constrained == s:
                ok &= (ids >= 0) & within
            else:
                # A pod the rule counts may not push a domain that already holds the rule's pods over the skew:
                # the final counts are what the model and the validator check.
                received = self.dom[rule.key][rule.constrained] > 0
                ok &= (ids < 0) | ~received[np.maximum(ids, 0)] | within
        result: BoolArray = ok
        return result

    def _together(self, key: str, members: tuple[int, ...], anchors: tuple[int, ...], s: int) -> BoolArray:
        ids = self.ids[key]
        held = self.dom[key][list(members)].sum(axis=0)
        chosen = np.flatnonzero(held)
        if len(chosen):
            same: BoolArray = ids == int(chosen[0])
            return same
        ok = ids >= 0
        if s not in anchors:
            ok &= self.dom[key][list(anchors)].sum(axis=0)[np.maximum(ids, 0)] > 0
        # The first pod picks the domain: one that can hold every member pod, the tightest such.
        room = np.zeros(self.size[key], dtype=np.int64)
        for m in members:
            np.add.at(room, np.maximum(ids, 0), np.where(ids >= 0, self.ctx.cap[m, self.start : self.end], 0))
        wanted = int(self.ctx.counts[list(members)].sum())
        enough = room >= wanted
        if enough[np.maximum(ids, 0)][ok].any():
            tightest = np.where(enough, room, np.iinfo(np.int64).max)
            ok &= room[np.maximum(ids, 0)] == tightest[enough].min()
        return ok

    def place(self, s: int, node: int) -> None:
        self.placed[s, node] += 1
        self.free[node] -= self.ctx.requests[s]
        for t in range(len(self.ctx.fits)):
            self.room[t, node] = self._room(t, node)
        for key, ids in self.ids.items():
            if ids[node] >= 0:
                self.dom[key][s, ids[node]] += 1
        for span, taken in zip(self.spans, self.taken, strict=True):
            taken[span[node]] = True

    def choose(self, s: int, ok: BoolArray) -> int:
        """The allowed node with the least key (ties: tree order, as argmin takes the first)."""
        key = self.ctx.cost[s, self.start : self.end].astype(np.int64)
        for span, taken, weight in zip(self.spans, self.taken, self.weights, strict=True):
            key = key + weight * ~taken[span]
        return int(np.argmin(np.where(ok, key, np.iinfo(np.int64).max)))


def sequential_counts(ctx: GangContext, start: int, end: int, free: IntArray) -> Counts | None:
    """Place the gang's pods one by one inside [start, end); None if fewer than the gang needs fit."""
    placer = _Placer(ctx, start, end, free)
    anchors = {a for group in ctx.joint.together for a in group.anchors}
    order = sorted(range(len(ctx.fits)), key=lambda s: (s not in anchors, -int(ctx.requests[s].max()), s))
    total = 0
    for s in order:
        for _ in range(int(ctx.counts[s])):
            ok = placer.feasible(s)
            if not ok.any():
                break
            placer.place(s, placer.choose(s, ok))
            total += 1
    if total < ctx.need:
        return None
    rows, cols = np.nonzero(placer.placed)
    return {(int(s), int(n) + start): int(placer.placed[s, n]) for s, n in zip(rows, cols, strict=True)}

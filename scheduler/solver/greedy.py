"""Greedy best-fit gang placement: the baseline (as Volcano and upstream place gangs), the CP-SAT hint, and the
fallback when the model times out.

Inside a region it descends the preferred levels: at each level it takes the fewest domains that can hold what
is left (largest first, then swaps the last one for the smallest that still suffices: best fit), and at the
bottom fills the chosen nodes, largest pods first, most-allocated nodes first.
"""

from __future__ import annotations

import numpy as np

from scheduler.solver.context import GangContext
from scheduler.solver.sequential import sequential_counts
from scheduler.topology.capacity import IntArray

Counts = dict[tuple[int, int], int]  # (signature index, node index) -> pods


def greedy_counts(ctx: GangContext, start: int, end: int, free: IntArray) -> Counts | None:
    """Place as many of the gang's pods as fit inside [start, end); None if fewer than the gang needs."""
    if ctx.joint.active:
        return sequential_counts(ctx, start, end, free)
    target = min(ctx.total, ctx.ub(start, end))
    if target < ctx.need:
        return None
    nodes = _descend(ctx, start, end, 0, target)
    counts: Counts = {}
    local = {n: free[n].copy() for n in nodes}
    placed = _fill(ctx, nodes, local, counts)
    if placed < target:
        # Bounds ignore that pod shapes share nodes; widen to the whole region before giving up.
        chosen = set(nodes)
        extra = [n for n in _rank_nodes(ctx, start, end) if n not in chosen]
        local.update({n: free[n].copy() for n in extra})
        placed = _fill(ctx, nodes + extra, local, counts)
    return counts if placed >= ctx.need else None


def fewest_nodes_counts(ctx: GangContext, start: int, end: int, free: IntArray) -> Counts | None:
    """The plan the nodes-used bound points at (context.py, `fewest_nodes_domains`): its deepest-level domains
    filled largest nodes first. Where the bound is tight it is met, which greedy's best fit by capacity often
    misses; None when the gang has joint constraints, no preferred level, or the domains fall short."""
    if ctx.joint.active:
        return None
    domains = ctx.fewest_nodes_domains(start, end)
    if domains is None:
        return None
    nodes = [n for a, b in domains for n in _rank_nodes(ctx, a, b)]
    ubs = ctx.node_ub[nodes]
    cost = ctx.cost[:, nodes].min(axis=0)
    order = np.lexsort((np.asarray(nodes), cost, -ubs))
    ranked = [nodes[i] for i in order]
    counts: Counts = {}
    placed = _fill(ctx, ranked, {n: free[n].copy() for n in ranked}, counts)
    return counts if placed >= min(ctx.total, ctx.ub(start, end)) and placed >= ctx.need else None


def _descend(ctx: GangContext, start: int, end: int, level: int, need: int) -> list[int]:
    depth = ctx.span_depths[level]
    if depth == ctx.leaf:
        ranked = _rank_nodes(ctx, start, end)
        ubs = ctx.node_ub[ranked]
        return [ranked[i] for i in _choose(ubs, need)]
    starts, ends, ubs = ctx.unit_ubs(depth, start, end)
    nodes: list[int] = []
    remaining = need
    for i in _choose(ubs, need):
        take = min(int(ubs[i]), remaining)
        nodes.extend(_descend(ctx, int(starts[i]), int(ends[i]), level + 1, take))
        remaining -= take
    return nodes


def _rank_nodes(ctx: GangContext, start: int, end: int) -> list[int]:
    """Nodes that can take a pod, most pods first, then most allocated, then tree order."""
    idx = np.arange(start, end)
    ubs = ctx.node_ub[start:end]
    keep = ubs > 0
    idx, ubs = idx[keep], ubs[keep]
    cost = ctx.cost[:, idx].min(axis=0) if len(idx) else ubs
    return idx[np.lexsort((idx, cost, -ubs))].tolist()  # type: ignore[no-any-return]


def _choose(ubs: IntArray, need: int) -> list[int]:
    """Indices of the fewest units whose capacity reaches `need`, the last one swapped for the tightest fit.

    `ubs` is in preference order (ties keep it); when the units cannot reach `need`, every unit with room is
    returned.
    """
    ubs = np.asarray(ubs)
    order = np.argsort(-ubs, kind="stable")
    order = order[ubs[order] > 0]
    reach = np.cumsum(ubs[order])
    if not len(order) or reach[-1] < need:
        return [int(i) for i in order]
    count = int(np.searchsorted(reach, need)) + 1
    chosen = order[:count]
    short = need - (int(reach[count - 1]) - int(ubs[chosen[-1]]))
    fitting = np.ones(len(ubs), dtype=np.bool_)
    fitting[chosen[:-1]] = False
    fitting &= ubs >= short
    candidates = np.flatnonzero(fitting)
    best = candidates[np.lexsort((candidates, ubs[candidates]))[0]]  # tightest, then earliest
    return [*(int(i) for i in chosen[:-1]), int(best)]


def _fill(ctx: GangContext, nodes: list[int], free: dict[int, IntArray], counts: Counts) -> int:
    """Fill nodes in order with the remaining pods, largest shape first; returns the pods placed in total."""
    placed_per_sig = [sum(k for (s, _), k in counts.items() if s == sig) for sig in range(len(ctx.fits))]
    for s in _largest_first(ctx):
        request = ctx.requests[s]
        positive = request > 0
        for n in nodes:
            remaining = int(ctx.counts[s]) - placed_per_sig[s]
            if remaining == 0:
                break
            if ctx.cap[s, n] == 0:
                continue
            room = int((free[n][positive] // request[positive]).min()) if positive.any() else remaining
            # The cap can be tighter than the free room (one pod per node: anti-affinity, host ports).
            k = min(remaining, room, int(ctx.cap[s, n]) - counts.get((s, n), 0))
            if k > 0:
                counts[(s, n)] = counts.get((s, n), 0) + k
                free[n] -= k * request
                placed_per_sig[s] += k
    return sum(placed_per_sig)


def _largest_first(ctx: GangContext) -> list[int]:
    peak = np.maximum(ctx.capacity.allocatable.max(axis=0), 1) if len(ctx.tree) else np.ones(1)
    size = (ctx.requests / peak).max(axis=1)
    return sorted(range(len(ctx.fits)), key=lambda s: (-float(size[s]), s))

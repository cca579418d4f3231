"""Per-decision arrays for one gang on one snapshot, and the cheap bounds that let us skip or shrink the model.

Everything here works on contiguous node ranges: a domain at any level is a range in tree order, and the
leaf "level" (depth == len(tree.levels)) has single nodes as its units.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scheduler.solver.filters import COST_SCALE, SignatureFit
from scheduler.solver.joint import Joint
from scheduler.solver.plan import Score, score_weights, weighted
from scheduler.solver.problem import Gang
from scheduler.topology.capacity import Capacity, IntArray
from scheduler.topology.tree import HOSTNAME, TopologyTree

Range = tuple[int, int]
MAX_MULTIPLIERS = 16  # Lagrange multipliers tried for the nodes-used bound


@dataclass(frozen=True)
class Region:
    """A node range a placement may be confined to, with a lower bound on any placement inside it."""

    start: int
    end: int
    scope: int  # index of the required-domain scope it lies in
    bound: Score


class GangContext:
    def __init__(
        self, tree: TopologyTree, capacity: Capacity, gang: Gang, fits: list[SignatureFit], joint: Joint | None = None
    ) -> None:
        self.tree = tree
        self.capacity = capacity
        self.gang = gang
        self.fits = fits
        # Constraints among the gang's own pods; with any, node classes are not merged and regions not split.
        self.joint = joint if joint is not None else Joint()
        self.leaf = len(tree.levels)
        self.counts: IntArray = np.array([f.count for f in fits], dtype=np.int64)
        self.cap: IntArray = np.stack([f.cap for f in fits]) if len(tree) else np.zeros((len(fits), 0), np.int64)
        self.cost: IntArray = np.stack([f.cost for f in fits]) if len(tree) else np.zeros_like(self.cap)
        self.requests: IntArray = np.stack([capacity.vector(_known(f, capacity)) for f in fits])
        self.total = int(self.counts.sum())
        self.need = 1 if gang.basic else gang.min_count
        # Free capacity of nodes no signature may use does not count toward any bound.
        self.free: IntArray = capacity.free * (self.cap.sum(axis=0) > 0)[:, None]
        self.shared = len(fits) > 1
        # Per-node upper bound on pods: exact for one signature; for several, also bounded by pooled capacity.
        self.node_ub: IntArray = self.cap.sum(axis=0)
        if self.shared and len(tree):
            self.node_ub = np.minimum(self.node_ub, self._pooled(self.free))
        self.unknown_keys = [r.key for r in gang.topology if self.depth_of(r.key) is None]
        self.required_depths = sorted(
            d for r in gang.topology if r.required and (d := self.depth_of(r.key)) is not None
        )
        self.scope_depth = self.required_depths[-1] if self.required_depths else None
        preferred = {d for r in gang.topology if not r.required and (d := self.depth_of(r.key)) is not None}
        floor = -1 if self.scope_depth is None else self.scope_depth
        # Span levels: preferred levels inside the scope, widest first, then the nodes themselves.
        self.span_depths = [d for d in sorted(preferred) if floor < d < self.leaf] + [self.leaf]
        self.weights = score_weights(self.total, len(self.span_depths), max(COST_SCALE, int(self.cost.max(initial=0))))
        self._cluster_packing: int | None = None
        self._bounds: dict[int, tuple[IntArray, IntArray]] = {}

    def depth_of(self, key: str) -> int | None:
        if key == HOSTNAME:
            return self.leaf
        return self.tree.level_of(key)

    # Ranges and upper bounds -------------------------------------------------------------------------------

    def units(self, depth: int, start: int, end: int) -> tuple[IntArray, IntArray]:
        """The domains at `depth` overlapping [start, end), as arrays of range starts and ends clipped to it (a
        range narrower than the level, a single node say, lies inside one of its domains)."""
        if end <= start:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        if depth == self.leaf:
            starts = np.arange(start, end, dtype=np.int64)
            return starts, starts + 1
        owner = self.tree.domain_of[depth]
        first, last = int(owner[start]), int(owner[end - 1])
        bounds = self._domain_bounds(depth)
        starts = np.maximum(bounds[0][first : last + 1], start)
        ends = np.minimum(bounds[1][first : last + 1], end)
        return starts, ends

    def _domain_bounds(self, depth: int) -> tuple[IntArray, IntArray]:
        cached = self._bounds.get(depth)
        if cached is None:
            domains = self.tree.domains[depth]
            cached = (
                np.fromiter((d.start for d in domains), dtype=np.int64, count=len(domains)),
                np.fromiter((d.end for d in domains), dtype=np.int64, count=len(domains)),
            )
            self._bounds[depth] = cached
        return cached

    def unit_ubs(self, depth: int, start: int, end: int) -> tuple[IntArray, IntArray, IntArray]:
        """Units at `depth` in a range (starts, ends) and the pods each could hold at most."""
        starts, ends = self.units(depth, start, end)
        if depth == self.leaf:
            return starts, ends, self.node_ub[start:end]
        if not len(starts):
            return starts, ends, np.zeros(0, np.int64)
        offsets = starts - start
        per_sig = np.add.reduceat(self.cap[:, start:end], offsets, axis=1)
        ubs = np.minimum(per_sig, self.counts[:, None]).sum(axis=0)
        if self.shared:
            ubs = np.minimum(ubs, self._pooled(np.add.reduceat(self.free[start:end], offsets, axis=0)))
        return starts, ends, ubs

    def ub(self, start: int, end: int) -> int:
        bound = int(np.minimum(self.cap[:, start:end].sum(axis=1), self.counts).sum())
        if self.shared:
            bound = min(bound, int(self._pooled(self.free[start:end].sum(axis=0, keepdims=True))[0]))
        return bound

    def _pooled(self, free: IntArray) -> IntArray:
        """Most pods each row of free capacity could hold if it were one pool: smallest requests first, per
        resource (a valid bound when shapes differ, where per-shape caps double-count shared room)."""
        best = np.full(len(free), self.total, dtype=np.int64)
        for r in range(self.requests.shape[1]):
            sizes = self.requests[:, r]
            if not (sizes > 0).any():
                continue
            order = np.argsort(sizes, kind="stable")
            sizes, counts = sizes[order], self.counts[order]
            block_cost = np.cumsum(sizes * counts)
            block_pods = np.cumsum(counts)
            full = np.searchsorted(block_cost, free[:, r], side="right")
            pods = np.where(full > 0, block_pods[np.maximum(full - 1, 0)], 0)
            spent = np.where(full > 0, block_cost[np.maximum(full - 1, 0)], 0)
            nxt = np.minimum(full, len(sizes) - 1)
            partial = np.where(full < len(sizes), (free[:, r] - spent) // np.maximum(sizes[nxt], 1), 0)
            best = np.minimum(best, pods + np.minimum(partial, counts[nxt]))
        return best

    def scopes(self) -> tuple[list[Range], IntArray]:
        """Node ranges satisfying every Required rule, and the pods each could hold at most.

        They are the domains at the narrowest required level whose path is labelled at every required level, or
        the whole cluster when nothing is required.
        """
        if len(self.tree) == 0:
            return [], np.zeros(0, np.int64)
        if self.scope_depth is None:
            return [(0, len(self.tree))], np.array([self.ub(0, len(self.tree))], dtype=np.int64)
        starts, ends, ubs = self.unit_ubs(self.scope_depth, 0, len(self.tree))
        wider = self.required_depths[:-1] if self.scope_depth == self.leaf else self.required_depths
        keep = [i for i, a in enumerate(starts) if all(self._label(int(a), d) for d in wider)]
        return [(int(starts[i]), int(ends[i])) for i in keep], ubs[keep]

    def _label(self, node_index: int, depth: int) -> str:
        return self.tree.nodes[node_index].labels.get(self.tree.levels[depth], "")

    # Lower bounds ------------------------------------------------------------------------------------------

    def lower_bound(self, start: int, end: int, min_spans_from: int | None = None) -> Score:
        """A tuple no placement inside [start, end) can beat; with `min_spans_from`, span levels at or below that
        depth count at least 2 (for placements known to cross two of its units)."""
        placeable = min(self.total, self.ub(start, end))
        bound: list[int] = [self.total - placeable]
        for depth in self.span_depths:
            if depth == self.leaf:
                # Nodes used, counted once the spans above are at their bound: a placement spanning more domains
                # scores worse whatever its node count, so only those within the deepest level's bound count.
                within = bound[-1] if len(self.span_depths) > 1 else None
                nodes = self._nodes_bound(start, end, placeable, within)
                if min_spans_from is not None and depth >= min_spans_from:
                    nodes = max(nodes, 2)  # crossing nodes: on two at least
                bound.append(nodes)
                continue
            _, _, ubs = self.unit_ubs(depth, start, end)
            spans = _units_needed(ubs, placeable)
            if min_spans_from is not None and depth >= min_spans_from:
                spans = max(spans, 2)
            bound.append(spans)
        bound.append(self._packing_bound(start, end, placeable))
        return tuple(bound)

    def _nodes_bound(self, start: int, end: int, placeable: int, within: int | None) -> int:
        """Fewest nodes of [start, end) that hold `placeable` pods, in at most `within` domains of the deepest
        preferred level (None: anywhere, where the largest nodes first are the answer).

        With the domain limit it is a Lagrangian bound: for any m >= 0, j nodes in at most R domains hold at most
        m * j plus the R largest per-domain sums of max(0, cap - m) over their nodes, so j >= (pods - those
        sums) / m. The best m lies among the nodes' caps (the dual's breakpoints); on the busy-cluster bench the
        bound equals the exact minimum over every choice of R racks.
        """
        cap = np.minimum(self.node_ub[start:end], placeable)
        plain = _units_needed(cap, placeable)
        if within is None or plain > len(cap) or not placeable:
            return plain
        best = plain
        for m, per_domain in self._excess(start, end, cap, within):
            held = int(np.sort(per_domain)[::-1][:within].sum())
            if held < placeable:
                best = max(best, -(-(placeable - held) // m))
        return best

    def _excess(self, start: int, end: int, cap: IntArray, within: int) -> list[tuple[int, IntArray]]:
        """Per multiplier m, each deepest-level domain's sum of max(0, cap - m) over its nodes in [start, end);
        nothing when at most `within` domains exist (then the domain limit binds nothing)."""
        starts, _ = self.units(self.span_depths[-2], start, end)
        if len(starts) <= within:
            return []
        offsets = starts - start
        multipliers = np.unique(cap[cap > 0])
        if len(multipliers) > MAX_MULTIPLIERS:  # any m gives a valid bound: a spread of them suffices
            multipliers = multipliers[np.linspace(0, len(multipliers) - 1, MAX_MULTIPLIERS).astype(np.int64)]
        return [(m, np.add.reduceat(np.maximum(cap - m, 0), offsets)) for m in multipliers.tolist()]

    def fewest_nodes_domains(self, start: int, end: int) -> list[Range] | None:
        """The deepest-level domains of [start, end) that the nodes-used bound points at: for the multiplier
        whose top domains hold the pods on the fewest nodes, those domains (None: no domain limit applies)."""
        if len(self.span_depths) < 2:
            return None
        placeable = min(self.total, self.ub(start, end))
        depth = self.span_depths[-2]
        starts, ends, ubs = self.unit_ubs(depth, start, end)
        within = _units_needed(ubs, placeable)
        cap = np.minimum(self.node_ub[start:end], placeable)
        best: tuple[int, list[int]] | None = None
        for _, per_domain in self._excess(start, end, cap, within):
            top = np.argsort(-per_domain, kind="stable")[:within]
            union = np.concatenate([cap[starts[i] - start : ends[i] - start] for i in top])
            count = _units_needed(union, placeable)
            if best is None or count < best[0]:
                best = (count, sorted(int(i) for i in top))
        return None if best is None else [(int(starts[i]), int(ends[i])) for i in best[1]]

    def _packing_bound(self, start: int, end: int, placeable: int) -> int:
        """Cheapest slots ignoring node sharing: optimal for the relaxation (a partition matroid), so a bound."""
        costs: list[IntArray] = []
        multiplicity: list[IntArray] = []
        for s in range(len(self.fits)):
            cap, cost = self.cap[s, start:end], self.cost[s, start:end]
            order = np.argsort(cost, kind="stable")
            taken = np.minimum(np.cumsum(cap[order]), self.counts[s])
            per_node = np.diff(taken, prepend=0)
            costs.append(cost[order])
            multiplicity.append(per_node)
        all_costs = np.concatenate(costs)
        all_mult = np.concatenate(multiplicity)
        order = np.argsort(all_costs, kind="stable")
        taken = np.minimum(np.cumsum(all_mult[order]), placeable)
        return int((np.diff(taken, prepend=0) * all_costs[order]).sum())

    def scalar(self, score: Score) -> int:
        return weighted(score, self.weights)

    # Regions -----------------------------------------------------------------------------------------------

    def regions(
        self, scopes: list[Range], ubs: IntArray, limit: int, scope_limit: int | None = None
    ) -> tuple[list[Region], Score | None]:
        """Candidate regions for the placement, best lower bound first, and a bound on everything else.

        Each feasible scope is split into the narrowest units that can each hold the gang on their own
        ("smallest feasible level first"). At most `scope_limit` scopes (default `limit`), and `limit` units per
        scope, get an exact bound; the rest, and placements crossing units, are covered by the returned bound
        (None: nothing else). Scopes left out get only a weak bound, which on a cluster of many blocks is too
        loose to prove any plan: the caller keeps `scope_limit` well above the blocks a cluster has.
        """
        order = sorted(range(len(scopes)), key=lambda i: (int(ubs[i]), scopes[i][0]))  # best fit first
        regions: list[Region] = []
        others: list[Score] = []
        scope_limit = limit if scope_limit is None else scope_limit
        if len(order) > scope_limit:
            others.append(self._weak_bound(int(ubs[order[scope_limit:]].max())))
        for index in order[:scope_limit]:
            start, end = scopes[index]
            split = self._smallest_holding(start, end)
            if split is None:
                regions.append(Region(start, end, index, self.lower_bound(start, end)))
                continue
            depth, starts, ends, ranked, exact = split
            top, rest = ranked[:limit], ranked[limit:]
            if exact is not None:
                # Single nodes holding every pod: their bound is exact (one span everywhere, known packing).
                ones = (0, *([1] * len(self.span_depths)))
                regions.extend(Region(int(starts[i]), int(ends[i]), index, (*ones, int(exact[i]))) for i in top)
                if len(rest):
                    others.append((*ones, int(exact[rest[0]])))
            else:
                regions.extend(
                    Region(int(starts[i]), int(ends[i]), index, self.lower_bound(int(starts[i]), int(ends[i])))
                    for i in top
                )
                if len(rest):
                    others.append(self.lower_bound(start, end))  # valid for any range inside the scope
            others.append(self.lower_bound(start, end, min_spans_from=depth))
        regions.sort(key=lambda r: (r.bound, r.start))
        return regions, min(others) if others else None

    def _smallest_holding(
        self, start: int, end: int
    ) -> tuple[int, IntArray, IntArray, IntArray, IntArray | None] | None:
        """The narrowest span level at which more than one unit exists and some can hold the whole gang.

        Returns its depth, the units (starts, ends), the holding ones most promising first (tightest fit;
        cheapest packing for single nodes), and for single nodes holding every pod their exact packing cost.
        """
        target = min(self.total, self.ub(start, end))
        for depth in reversed(self.span_depths):
            starts, ends, ubs = self.unit_ubs(depth, start, end)
            holding = np.nonzero(ubs >= target)[0]
            if not len(holding) or len(starts) < 2:
                continue
            if depth == self.leaf:
                nodes = holding + start
                key = (self.cost[:, nodes] * self.counts[:, None]).sum(axis=0)
                order = np.lexsort((nodes, key))
                exact = np.zeros(len(starts), np.int64)
                exact[holding] = key
                return depth, starts, ends, holding[order], exact if target == self.total else None
            return depth, starts, ends, holding[np.lexsort((holding, ubs[holding]))], None
        return None

    def _weak_bound(self, placeable: int) -> Score:
        """A bound valid for any region holding at most `placeable` pods: one span per level, cheapest slots."""
        placeable = min(self.total, placeable)
        if self._cluster_packing is None:
            self._cluster_packing = self._packing_bound(0, len(self.tree), self.total)
        packing = (
            self._cluster_packing if placeable == self.total else self._packing_bound(0, len(self.tree), placeable)
        )
        return (self.total - placeable, *([1] * len(self.span_depths)), packing)


def _units_needed(ubs: IntArray, target: int) -> int:
    if target <= 0:
        return 0
    ordered = np.sort(ubs)[::-1]
    reached = np.searchsorted(np.cumsum(ordered), target)
    return int(reached) + 1 if reached < len(ordered) else len(ordered) + 1


def _known(fit: SignatureFit, capacity: Capacity) -> dict[str, int]:
    """Requests restricted to resources the capacity knows (an unknown one already zeroed the fit's cap)."""
    return {r: a for r, a in fit.signature.requests if r in capacity.column}


def score_counts(ctx: GangContext, counts: dict[tuple[int, int], int]) -> Score:
    """The lexicographic score of a placement given as pod counts per (signature, node)."""
    nodes = sorted({n for (_, n), k in counts.items() if k > 0})
    placed = sum(counts.values())
    spans = [
        len(nodes) if depth == ctx.leaf else len({int(ctx.tree.domain_of[depth][n]) for n in nodes})
        for depth in ctx.span_depths
    ]
    packing = sum(int(ctx.cost[s, n]) * k for (s, n), k in counts.items())
    return (ctx.total - placed, *spans, packing)


def assign_pods(ctx: GangContext, counts: dict[tuple[int, int], int]) -> dict[str, str]:
    """Pods of each signature to nodes, in pod order then tree order (deterministic)."""
    assignments: dict[str, str] = {}
    for s, fit in enumerate(ctx.fits):
        pods = iter(fit.pods)
        for (sig, n), k in sorted(counts.items()):
            if sig == s:
                for _ in range(k):
                    assignments[next(pods)] = ctx.tree.nodes[n].name
    return assignments

"""Node filtering per signature, vectorised over the tree's nodes.

The static part (cordon, readiness, selector and affinity, taints) depends only on the tree, so it is cached per
tree generation and signature; the capacity part is one numpy expression per cycle. Reasons are counted per node
as kube-scheduler does, for explanations.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from scheduler.solver.interpod import REASONS, RelationFit, relation_fit
from scheduler.solver.neighbours import Neighbours
from scheduler.solver.predicates import insufficient_reason, static_reason
from scheduler.solver.preferences import penalty, static_scores
from scheduler.solver.problem import Gang, Signature
from scheduler.topology.capacity import Capacity, IntArray
from scheduler.topology.tree import TopologyTree

BoolArray = npt.NDArray[np.bool_]
# Packing cost of one pod on a node: the free share of the requested resources, averaged over the node and its
# domains (Capacity.free_fraction), 0 (all full) to 100 (all empty).
COST_SCALE = 100


@dataclass(frozen=True)
class StaticFit:
    ok: BoolArray
    reasons: Counter[str]


@dataclass(frozen=True)
class SignatureFit:
    signature: Signature
    pods: tuple[str, ...]
    static: StaticFit
    cap: IntArray  # pods of this signature that fit on each node on their own
    cost: IntArray  # packing cost per pod on each node
    reasons: Counter[str]  # nodes rejected, by reason
    relation: RelationFit | None = None  # what the pods around the nodes allow (inter-pod rules, ports)
    limits: tuple[str, ...] = ()  # per-node caps the gang's own rules add ("at most 1 pod per node (…)")

    def with_cap(self, cap: IntArray, reasons: Counter[str], limits: tuple[str, ...] = ()) -> SignatureFit:
        return SignatureFit(self.signature, self.pods, self.static, cap, self.cost, reasons, self.relation, limits)

    @property
    def count(self) -> int:
        return len(self.pods)

    @property
    def feasible_nodes(self) -> int:
        return int(np.count_nonzero(self.cap))


class FilterCache:
    """Static filter results of one tree generation; a new tree gets a new (empty) cache."""

    def __init__(self, tree: TopologyTree) -> None:
        self.tree = tree
        self._static: dict[tuple[object, ...], StaticFit] = {}
        self._scores: dict[tuple[object, ...], tuple[IntArray, IntArray] | None] = {}

    def scores(self, signature: Signature) -> tuple[IntArray, IntArray] | None:
        """Preferred node affinity and PreferNoSchedule taint scores, per tree generation and signature."""
        key = signature.static_key()
        if key not in self._scores:
            self._scores[key] = static_scores(self.tree, signature)
        return self._scores[key]

    def static(self, signature: Signature) -> StaticFit:
        key = signature.static_key()
        found = self._static.get(key)
        if found is None:
            found = self._compute(signature)
            self._static[key] = found
        return found

    def _compute(self, signature: Signature) -> StaticFit:
        ok = np.ones(len(self.tree), dtype=np.bool_)
        reasons: Counter[str] = Counter()
        trivial = not signature.node_selector and signature.affinity is None and not signature.volumes
        for i, node in enumerate(self.tree.nodes):
            if trivial and node.ready and not node.unschedulable and not node.taints:
                continue  # the common case, without building a reason
            reason = static_reason(node, signature)
            if reason is not None:
                ok[i] = False
                reasons[reason] += 1
        return StaticFit(ok, reasons)


def fit_signature(
    capacity: Capacity,
    cache: FilterCache,
    signature: Signature,
    pods: tuple[str, ...],
    neighbours: Neighbours | None = None,
) -> SignatureFit:
    static = cache.static(signature)
    free = capacity.free
    n = len(capacity.tree)
    allowed = static.ok
    reasons = Counter(static.reasons)
    relation = None
    if neighbours is not None and signature.relations is not None:
        relation = relation_fit(capacity.tree, neighbours, signature.relations, static.ok)
        allowed = static.ok & relation.ok
        reasons.update(relation.reasons)
    cap = np.where(allowed, np.iinfo(np.int64).max, 0).astype(np.int64)
    fractions: list[npt.NDArray[np.float64]] = []
    for resource, amount in signature.requests:
        if amount == 0:
            continue
        column = capacity.column.get(resource)
        if column is None:
            cap[:] = 0
            reasons[insufficient_reason(resource)] += int(np.count_nonzero(allowed))
            continue
        cap = np.minimum(cap, free[:, column] // amount)
        short = allowed & (free[:, column] < amount)
        if short.any():
            reasons[insufficient_reason(resource)] += int(np.count_nonzero(short))
        if resource != "pods":
            fractions.append(capacity.free_fraction(column))
    cap = np.minimum(cap, len(pods))
    mean = np.mean(fractions, axis=0) if fractions else np.ones(n)
    cost = np.rint(mean * COST_SCALE).astype(np.int64)
    # Preferences come before packing: (100 - score) * (COST_SCALE + 1) outweighs any packing difference.
    # Normalised over the nodes the static filters pass (upstream: every filter), so that the validator can
    # recompute them on its own.
    preferred = penalty(capacity.tree, neighbours, signature, cache.scores(signature), static.ok)
    if preferred is not None:
        cost = preferred * (COST_SCALE + 1) + cost
    return SignatureFit(signature, pods, static, cap, cost, reasons, relation)


def fit_gang(
    capacity: Capacity, cache: FilterCache, gang: Gang, neighbours: Neighbours | None = None
) -> list[SignatureFit]:
    return [fit_signature(capacity, cache, s.signature, s.pods, neighbours) for s in gang.pod_sets]


def node_reason(fit: SignatureFit, capacity: Capacity, index: int) -> str | None:
    """Why one node cannot take a pod of this shape (the first failing filter, in upstream's order), or None."""
    reason = static_reason(capacity.tree.nodes[index], fit.signature)
    if reason is not None:
        return reason
    if fit.relation is not None and fit.relation.codes[index]:
        return REASONS[int(fit.relation.codes[index]) - 1]
    short = [
        insufficient_reason(resource)
        for resource, amount in fit.signature.requests
        if amount and ((column := capacity.column.get(resource)) is None or capacity.free[index, column] < amount)
    ]
    if short:
        return ", ".join(short)  # upstream lists every resource that is short
    if fit.cap[index] == 0:
        return "node(s) ruled out by the constraints among the gang's own pods"
    return None


def format_reasons(total: int, fits: int, reasons: Counter[str]) -> str:
    """kube-scheduler's shape: `0/5000 nodes fit: 3200 Insufficient nvidia.com/gpu, 1000 node(s) had …`."""
    parts = [f"{count} {reason}" for reason, count in sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))]
    return f"{fits}/{total} nodes fit" + (": " + ", ".join(parts) if parts else "")

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

from scheduler.solver.predicates import insufficient_reason, static_reason
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
        trivial = not signature.node_selector and signature.affinity is None
        for i, node in enumerate(self.tree.nodes):
            if trivial and node.ready and not node.unschedulable and not node.taints:
                continue  # the common case, without building a reason
            reason = static_reason(node, signature)
            if reason is not None:
                ok[i] = False
                reasons[reason] += 1
        return StaticFit(ok, reasons)


def fit_signature(capacity: Capacity, cache: FilterCache, signature: Signature, pods: tuple[str, ...]) -> SignatureFit:
    static = cache.static(signature)
    free = capacity.free
    n = len(capacity.tree)
    cap = np.where(static.ok, np.iinfo(np.int64).max, 0).astype(np.int64)
    reasons = Counter(static.reasons)
    fractions: list[npt.NDArray[np.float64]] = []
    for resource, amount in signature.requests:
        if amount == 0:
            continue
        column = capacity.column.get(resource)
        if column is None:
            cap[:] = 0
            reasons[insufficient_reason(resource)] += int(np.count_nonzero(static.ok))
            continue
        cap = np.minimum(cap, free[:, column] // amount)
        short = static.ok & (free[:, column] < amount)
        if short.any():
            reasons[insufficient_reason(resource)] += int(np.count_nonzero(short))
        if resource != "pods":
            fractions.append(capacity.free_fraction(column))
    cap = np.minimum(cap, len(pods))
    mean = np.mean(fractions, axis=0) if fractions else np.ones(n)
    cost = np.rint(mean * COST_SCALE).astype(np.int64)
    return SignatureFit(signature, pods, static, cap, cost, reasons)


def fit_gang(capacity: Capacity, cache: FilterCache, gang: Gang) -> list[SignatureFit]:
    return [fit_signature(capacity, cache, s.signature, s.pods) for s in gang.pod_sets]


def format_reasons(total: int, fits: int, reasons: Counter[str]) -> str:
    """kube-scheduler's shape: `0/5000 nodes fit: 3200 Insufficient nvidia.com/gpu, 1000 node(s) had …`."""
    parts = [f"{count} {reason}" for reason, count in sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))]
    return f"{fits}/{total} nodes fit" + (": " + ", ".join(parts) if parts else "")

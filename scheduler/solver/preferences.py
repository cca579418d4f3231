"""Scoring where kube-scheduler scores: preferred node affinity, PreferNoSchedule taints, preferred inter-pod
affinity and anti-affinity, ScheduleAnyway topology spread.

Each plugin's score is normalised over the nodes that pass the filters exactly as upstream normalises it
(0-100), and the plugins are combined with the default profile's weights. The result enters the objective as a
per-pod penalty (100 - score) placed *after* the gang and topology terms and *before* packing: it decides among
placements that are equally good for the gang, and never makes a gang span more domains or nodes. What the
gang's own pods prefer of each other is not scored (only the pods already placed): a gang's pods are placed
together, there is no "earlier pod" to prefer.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from scheduler.solver.neighbours import Neighbours
from scheduler.solver.predicates import term_matches, tolerates
from scheduler.solver.problem import Signature
from scheduler.topology.tree import TopologyTree

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
MAX_SCORE = 100
# kube-scheduler's default profile: TaintToleration 3, NodeAffinity 2, InterPodAffinity 2, PodTopologySpread 2.
WEIGHTS = {"taint": 3, "node_affinity": 2, "inter_pod": 2, "spread": 2}


def static_scores(tree: TopologyTree, signature: Signature) -> tuple[IntArray, IntArray] | None:
    """Raw per-node NodeAffinity and TaintToleration scores (weights matched, intolerable PreferNoSchedule
    taints): they depend on the tree only, so they are cached with the static filter."""
    taints = np.fromiter(
        (
            sum(
                1
                for t in n.taints
                if t.effect == "PreferNoSchedule"
                and not any(tolerates(o, t) for o in signature.tolerations if o.effect in ("", "PreferNoSchedule"))
            )
            for n in tree.nodes
        ),
        dtype=np.int64,
        count=len(tree),
    )
    weights = np.zeros(len(tree), dtype=np.int64)
    for weight, term in signature.preferred:
        weights += weight * np.fromiter((term_matches(term, n) for n in tree.nodes), dtype=np.bool_, count=len(tree))
    if not taints.any() and not weights.any():
        return None
    return weights, taints


def penalty(
    tree: TopologyTree,
    neighbours: Neighbours | None,
    signature: Signature,
    static: tuple[IntArray, IntArray] | None,
    feasible: BoolArray,
) -> IntArray | None:
    """Per node, 100 minus the combined score (0 best); None when nothing is preferred anywhere."""
    dynamic = _inter_pod(tree, neighbours, signature) if neighbours is not None else None
    soft = _soft_spread(tree, neighbours, signature) if neighbours is not None else None
    if static is None and dynamic is None and soft is None:
        return None
    total = np.zeros(len(tree))
    weights, taints = static if static is not None else (np.zeros(len(tree), np.int64), np.zeros(len(tree), np.int64))
    total += WEIGHTS["node_affinity"] * _default_normalise(weights, feasible, reverse=False)
    total += WEIGHTS["taint"] * _default_normalise(taints, feasible, reverse=True)
    if dynamic is not None:
        total += WEIGHTS["inter_pod"] * _min_max(dynamic, feasible)
    if soft is not None:
        total += WEIGHTS["spread"] * soft
    score = np.floor(total / sum(WEIGHTS.values()))
    result: IntArray = (MAX_SCORE - score).astype(np.int64)
    return result


def _default_normalise(raw: IntArray, feasible: BoolArray, *, reverse: bool) -> FloatArray:
    """framework.DefaultNormalizeScore: scale to 0-100 by the largest; reversed, higher raw is worse."""
    top = int(raw[feasible].max(initial=0))
    if top == 0:
        return np.full(len(raw), float(MAX_SCORE) if reverse else 0.0)
    scaled = np.floor(raw * MAX_SCORE / top)
    return MAX_SCORE - scaled if reverse else scaled


def _min_max(raw: FloatArray, feasible: BoolArray) -> FloatArray:
    """InterPodAffinity's normalisation: (score - min) / (max - min), 0 everywhere when all are equal."""
    if not feasible.any():
        return np.zeros(len(raw))
    low, high = float(raw[feasible].min()), float(raw[feasible].max())
    if high <= low:
        return np.zeros(len(raw))
    result: FloatArray = np.floor(MAX_SCORE * (raw - low) / (high - low))
    return result


def _inter_pod(tree: TopologyTree, neighbours: Neighbours, signature: Signature) -> FloatArray | None:
    """Preferred terms against placed pods: + weight per matching pod in the node's domain for affinity,
    - weight for anti-affinity."""
    rel = signature.relations
    if rel is None or not (rel.preferred_affinity or rel.preferred_anti_affinity):
        return None
    raw = np.zeros(len(tree))
    for sign, terms in ((1, rel.preferred_affinity), (-1, rel.preferred_anti_affinity)):
        for term in terms:
            partition = tree.partition(term.key)
            per_domain = np.zeros(partition.size)
            for pod in neighbours.selected(term):
                i = tree.index.get(pod.node)
                if i is not None and partition.ids[i] >= 0:
                    per_domain[partition.ids[i]] += term.weight
            raw += sign * np.where(partition.ids >= 0, per_domain[np.maximum(partition.ids, 0)], 0)
    return raw


def _soft_spread(tree: TopologyTree, neighbours: Neighbours, signature: Signature) -> FloatArray | None:
    """PodTopologySpread's score for ScheduleAnyway rules: fewer matching pods in the node's domain is better,
    each rule weighted by log(domains + 2), normalised as upstream: 100 * (max + min - s) / max."""
    rel = signature.relations
    rules = [r for r in rel.spread if not r.hard] if rel is not None else []
    if not rules:
        return None
    raw = np.zeros(len(tree))
    for rule in rules:
        partition = tree.partition(rule.key)
        counts = np.zeros(partition.size)
        for pod in neighbours.counted(rule.selector, rel.namespace if rel is not None else ""):
            i = tree.index.get(pod.node)
            if i is not None and partition.ids[i] >= 0:
                counts[partition.ids[i]] += 1
        weight = math.log(partition.size + 2)
        raw += np.where(partition.ids >= 0, counts[np.maximum(partition.ids, 0)] * weight, 0)
    if not len(raw):
        return raw
    top, low = float(raw.max()), float(raw.min())
    if top == 0:
        return np.full(len(tree), float(MAX_SCORE))
    result: FloatArray = np.floor(MAX_SCORE * (top + low - raw) / top)
    return result

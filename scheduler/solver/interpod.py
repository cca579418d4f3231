"""Per-node filters that depend on the pods already placed: InterPodAffinity, NodePorts and the per-node part of
PodTopologySpread, with kube-scheduler's semantics and reason strings.

Run once per signature and decision (the pods around a node change with every binding, so nothing is cached
across decisions). What only the gang's own pods can decide (its pods' spread over domains, anti-affinity
among them, the first pod of a self-affine group) is left to the joint constraints (solver/joint.py).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from scheduler.solver.neighbours import ExistingPod, Neighbours
from scheduler.solver.relations import PodTerm, Relations
from scheduler.topology.tree import TopologyTree

BoolArray = npt.NDArray[np.bool_]

REASON_AFFINITY = "node(s) didn't match pod affinity rules"
REASON_ANTI_AFFINITY = "node(s) didn't match pod anti-affinity rules"
REASON_EXISTING_ANTI_AFFINITY = "node(s) didn't satisfy existing pods anti-affinity rules"
REASON_PORTS = "node(s) didn't have free ports for the requested pod ports"
REASON_SPREAD_LABEL = "node(s) didn't match pod topology spread constraints (missing required label)"
REASON_SPREAD = "node(s) didn't match pod topology spread constraints"
# Per-node reason codes (RelationFit.codes): 0 fits, i + 1 is REASONS[i].
REASONS = (
    REASON_PORTS,
    REASON_SPREAD_LABEL,
    REASON_EXISTING_ANTI_AFFINITY,
    REASON_ANTI_AFFINITY,
    REASON_AFFINITY,
    REASON_SPREAD,
)


@dataclass(frozen=True)
class RelationFit:
    ok: BoolArray
    reasons: Counter[str]
    codes: npt.NDArray[np.int8]  # per node, why it was rejected (REASONS), for per-node explanations
    # Required affinity terms no running pod satisfies: kube-scheduler lets the first pod of a group that
    # matches its own terms go anywhere; the joint constraints keep the rest of the gang with it.
    first_pod: tuple[PodTerm, ...] = ()
    self_match: bool = False


def relation_fit(tree: TopologyTree, neighbours: Neighbours, relations: Relations, allowed: BoolArray) -> RelationFit:
    """Which nodes the pods around them leave open to a pod with these relations; reasons are counted only
    on nodes `allowed` by the static filters (one reason per node, in kube-scheduler's plugin order)."""
    n = len(tree)
    ok = np.ones(n, dtype=np.bool_)
    codes = np.zeros(n, dtype=np.int8)
    reasons: Counter[str] = Counter()

    def reject(mask: BoolArray, reason: str) -> None:
        newly = mask & ok
        if count := int(np.count_nonzero(newly & allowed)):
            reasons[reason] += count  # kube-scheduler never lists a reason no node has
        ok[newly] = False
        codes[newly] = REASONS.index(reason) + 1

    if relations.ports:
        reject(_port_clash(tree, neighbours, relations), REASON_PORTS)
    for rule in relations.spread:
        if rule.hard:
            reject(tree.partition(rule.key).ids < 0, REASON_SPREAD_LABEL)
    first_pod: tuple[PodTerm, ...] = ()
    self_match = False
    if relations.affinity:
        mask, first_pod, self_match = _affinity(tree, neighbours, relations)
        reject(~mask, REASON_AFFINITY)
    anti = np.zeros(n, dtype=np.bool_)
    for term in relations.anti_affinity:
        for pod in neighbours.selected(term):
            anti |= _domain_of(tree, pod, term.key)
    reject(anti, REASON_ANTI_AFFINITY)
    repelled = np.zeros(n, dtype=np.bool_)
    for pod, term in neighbours.repelling(relations.namespace, relations.label_map):
        repelled |= _domain_of(tree, pod, term.key)
    reject(repelled, REASON_EXISTING_ANTI_AFFINITY)
    return RelationFit(ok, reasons, codes, first_pod, self_match)


def _affinity(
    tree: TopologyTree, neighbours: Neighbours, relations: Relations
) -> tuple[BoolArray, tuple[PodTerm, ...], bool]:
    """Nodes in a domain, for every term, of a running pod that matches *all* the terms (as 1.20 counts them).

    If no running pod matches them all and the pod matches its own terms, any node carrying every term's key
    will do (the first pod of the group); the gang's joint constraints then keep its pods together."""
    terms = relations.affinity
    keyed = np.ones(len(tree), dtype=np.bool_)
    for term in terms:
        keyed &= tree.partition(term.key).ids >= 0
    matching = {p.key: p for p in neighbours.selected(terms[0])}
    for term in terms[1:]:
        keep = {p.key for p in neighbours.selected(term)}
        matching = {k: p for k, p in matching.items() if k in keep}
    labels = relations.label_map
    own_ns = neighbours.namespace_labels.get(relations.namespace, {})
    self_match = all(t.selects(relations.namespace, labels, own_ns) for t in terms)
    if not matching:
        return keyed, terms, self_match  # the joint constraints close it if no pod of the gang can be first
    mask = keyed.copy()
    for term in terms:
        near = np.zeros(len(tree), dtype=np.bool_)
        for pod in matching.values():
            near |= _domain_of(tree, pod, term.key)
        mask &= near
    return mask, (), self_match


def _domain_of(tree: TopologyTree, pod: ExistingPod, key: str) -> BoolArray:
    """Nodes sharing the value of `key` with the pod's node (none if that node lacks the label)."""
    partition = tree.partition(key)
    i = tree.index.get(pod.node)
    if i is None or partition.ids[i] < 0:
        return np.zeros(len(tree), dtype=np.bool_)
    result: BoolArray = partition.ids == partition.ids[i]
    return result


def _port_clash(tree: TopologyTree, neighbours: Neighbours, relations: Relations) -> BoolArray:
    clash = np.zeros(len(tree), dtype=np.bool_)
    for node, used in neighbours.ports().items():
        i = tree.index.get(node)
        if i is not None and any(mine.conflicts(theirs) for mine in relations.ports for theirs in used):
            clash[i] = True
    return clash


def blockers(
    tree: TopologyTree, neighbours: Neighbours, relations: Relations, pods_of: dict[str, str]
) -> dict[int, set[str]]:
    """Per node index, the preemption candidates that must go before a pod with these relations may land
    there: their anti-affinity repels it, its anti-affinity selects them, or they hold its host ports.
    `pods_of` maps each candidate pod key to its unit key."""
    found: dict[int, set[str]] = {}
    labels = relations.label_map
    for pod_key, unit in pods_of.items():
        pod = neighbours.pods.get(pod_key)
        if pod is None:
            continue
        mask = np.zeros(len(tree), dtype=np.bool_)
        for term in pod.anti_affinity:
            if term.selects(relations.namespace, labels, neighbours.namespace_labels.get(relations.namespace, {})):
                mask |= _domain_of(tree, pod, term.key)
        ns_labels = neighbours.namespace_labels.get(pod.namespace, {})
        for term in relations.anti_affinity:
            if term.selects(pod.namespace, pod.labels, ns_labels):
                mask |= _domain_of(tree, pod, term.key)
        if relations.ports and any(m.conflicts(t) for m in relations.ports for t in pod.ports):
            i = tree.index.get(pod.node)
            if i is not None:
                mask[i] = True
        for i in np.flatnonzero(mask).tolist():
            found.setdefault(i, set()).add(unit)
    return found

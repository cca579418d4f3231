"""Constraints among a gang's own pods, compiled once per decision from their relations.

kube-scheduler places a gang's pods one by one, each seeing the ones before; Phalanx decides them together,
so what upstream checks pod by pod becomes a constraint on counts per domain:
- anti-affinity that selects the pod's own shape: at most one such pod per domain (`DomainCap`);
- anti-affinity that selects another shape of the gang, or host ports two shapes share: never both in one
  domain (`Apart`); a shape with host ports: at most one of its pods per node;
- required affinity no running pod satisfies: the first pod goes anywhere and the rest must join it, so the
  shape's pods share one domain, which holds a pod the terms select (`Together`);
- DoNotSchedule topology spread: in every domain that receives the shape's pods, the final count of matching
  pods minus the smallest count over the eligible domains is at most maxSkew (`Spread`). For a pod that counts
  itself this is exactly upstream's per-pod check, taken at the last pod placed in each domain.
A per-node cap (one pod per node) is folded into the signature's cap instead, which keeps the model small.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from scheduler.solver.filters import SignatureFit
from scheduler.solver.interpod import REASON_AFFINITY, REASON_SPREAD, REASONS
from scheduler.solver.neighbours import Neighbours
from scheduler.solver.predicates import matches_affinity, untolerated_taint
from scheduler.solver.relations import Relations, SpreadRule
from scheduler.topology.capacity import IntArray
from scheduler.topology.tree import TopologyTree

BoolArray = npt.NDArray[np.bool_]
NODE = ""  # the key of per-node constraints (host ports are per node, whatever the hostname label says)


@dataclass(frozen=True)
class DomainCap:
    key: str
    members: tuple[int, ...]
    limit: int


@dataclass(frozen=True)
class Apart:
    key: str
    a: int
    b: int


@dataclass(frozen=True)
class Together:
    key: str
    members: tuple[int, ...]
    anchors: tuple[int, ...]  # shapes whose pods the terms select: the chosen domain must hold one


@dataclass(frozen=True)
class Spread:
    key: str
    constrained: int
    counted: tuple[int, ...]
    existing: IntArray  # matching running pods per domain of the key's partition
    eligible: BoolArray  # per domain: counts toward the minimum
    max_skew: int
    floor_zero: bool  # fewer eligible domains than minDomains: the minimum is taken as 0

    def admits(self, ids: IntArray) -> BoolArray:
        """Per node, whether one more pod of the constrained shape may land there now (upstream's check)."""
        if not len(self.existing):
            return np.zeros(len(ids), dtype=np.bool_)  # no node carries the key
        low = self.minimum(self.existing)
        mine = 1 if self.constrained in self.counted else 0
        result: BoolArray = (ids >= 0) & (self.existing[np.maximum(ids, 0)] + mine - low <= self.max_skew)
        return result

    def minimum(self, counts: IntArray) -> int:
        if self.floor_zero or not self.eligible.any():
            return 0
        return int(counts[self.eligible].min())


@dataclass
class Joint:
    caps: list[DomainCap] = field(default_factory=list)
    apart: list[Apart] = field(default_factory=list)
    together: list[Together] = field(default_factory=list)
    spread: list[Spread] = field(default_factory=list)

    @property
    def active(self) -> bool:
        return bool(self.caps or self.apart or self.together or self.spread)

    def domain_keys(self) -> set[str]:
        families: list[list[DomainCap] | list[Apart] | list[Together] | list[Spread]]
        families = [self.caps, self.apart, self.together, self.spread]
        return {c.key for family in families for c in family}


def ids_of(tree: TopologyTree, key: str) -> IntArray:
    """Domain index per node for a constraint key; NODE is every node on its own."""
    if key == NODE:
        return np.arange(len(tree), dtype=np.int64)
    return tree.partition(key).ids


def domains_of(tree: TopologyTree, key: str) -> int:
    return len(tree) if key == NODE else tree.partition(key).size


def compile_joint(
    tree: TopologyTree, neighbours: Neighbours, fits: list[SignatureFit]
) -> tuple[Joint, list[SignatureFit]]:
    """The gang's joint constraints, and its fits with per-node caps folded in (or closed, with a reason)."""
    joint = Joint()
    relations = [f.signature.relations for f in fits]
    caps = [f.cap.copy() for f in fits]
    reasons = [Counter(f.reasons) for f in fits]
    limits: list[list[str]] = [[] for _ in fits]
    firsts: list[tuple[int, tuple[int, ...], tuple[str, ...]]] = []  # (shape, anchors, keys): first-pod rule
    for s, rel in enumerate(relations):
        if rel is None:
            continue
        if rel.ports:
            caps[s] = np.minimum(caps[s], 1)
            limits[s].append("at most 1 pod per node (host ports)")
        for t, other in enumerate(relations):
            if t > s and other is not None and rel.ports and other.ports and _ports_clash(rel, other):
                joint.apart.append(Apart(NODE, s, t))
        for term in rel.anti_affinity:
            for t, other in enumerate(relations):
                if other is None or not term.selects(other.namespace, other.label_map, _ns(neighbours, other)):
                    continue
                if t == s:
                    per_node = _per_node(tree, term.key)
                    if per_node is not None:
                        caps[s] = np.where(per_node, np.minimum(caps[s], 1), caps[s])
                        limits[s].append(f"at most 1 pod per node (anti-affinity on {term.key})")
                    else:
                        joint.caps.append(DomainCap(term.key, (s,), 1))
                else:
                    pair = (min(s, t), max(s, t))
                    if not any(a.key == term.key and (a.a, a.b) == pair for a in joint.apart):
                        joint.apart.append(Apart(term.key, *pair))
        found = fits[s].relation
        first = found.first_pod if found is not None else ()
        if first:
            anchors = tuple(
                t
                for t, other in enumerate(relations)
                if other is not None
                and all(term.selects(other.namespace, other.label_map, _ns(neighbours, other)) for term in first)
            )
            firsts.append((s, anchors, tuple(dict.fromkeys(term.key for term in first))))
        for rule in rel.spread:
            if rule.hard:
                spread = _spread(tree, neighbours, fits, relations, s, rule)
                if sum(f.count for f in fits) > 1:
                    joint.spread.append(spread)
                    continue
                # One pod: the rule is a per-node filter, exactly as upstream applies it.
                closed = (caps[s] > 0) & ~spread.admits(tree.partition(rule.key).ids)
                reasons[s][REASON_SPREAD] += int(np.count_nonzero(closed))
                _mark(fits[s], closed, REASON_SPREAD)
                caps[s][closed] = 0
    if firsts:
        # Only one pod of the gang can be the first of its group: every shape relying on the rule shares one
        # domain at each key any of them names, holding a pod that every one of their terms selects.
        members = tuple(s for s, _, _ in firsts)
        anchors = tuple(sorted(set.intersection(*(set(a) for _, a, _ in firsts))))
        if not anchors:
            for s in members:
                reasons[s][REASON_AFFINITY] += int(np.count_nonzero(caps[s]))
                _mark(fits[s], caps[s] > 0, REASON_AFFINITY)
                caps[s][:] = 0
        for key in dict.fromkeys(k for _, _, keys in firsts for k in keys):
            joint.together.append(Together(key, members, anchors))
    folded = [
        f
        if (caps[s] == f.cap).all() and reasons[s] == f.reasons and not limits[s]
        else f.with_cap(caps[s], reasons[s], tuple(dict.fromkeys(limits[s])))
        for s, f in enumerate(fits)
    ]
    return joint, folded


def _mark(fit: SignatureFit, closed: BoolArray, reason: str) -> None:
    """Record why nodes were closed here, for per-node explanations."""
    if fit.relation is not None:
        fit.relation.codes[closed & (fit.relation.codes == 0)] = REASONS.index(reason) + 1


def _ns(neighbours: Neighbours, rel: Relations) -> dict[str, str]:
    return dict(neighbours.namespace_labels.get(rel.namespace, {}))


def _ports_clash(a: Relations, b: Relations) -> bool:
    return any(p.conflicts(q) for p in a.ports for q in b.ports)


def _per_node(tree: TopologyTree, key: str) -> BoolArray | None:
    """Where a key's domains are single nodes (the hostname label), the nodes carrying it; else None."""
    partition = tree.partition(key)
    labelled = partition.ids >= 0
    if partition.size != int(np.count_nonzero(labelled)):
        return None
    return labelled


def _spread(
    tree: TopologyTree,
    neighbours: Neighbours,
    fits: list[SignatureFit],
    relations: list[Relations | None],
    s: int,
    rule: SpreadRule,
) -> Spread:
    """Upstream counts matching pods only on eligible nodes: every hard rule's key present, and, per the
    node inclusion policies, the pod's node selector/affinity (Honor by default) and taints (Ignore)."""
    rel = relations[s]
    assert rel is not None
    signature = fits[s].signature
    partition = tree.partition(rule.key)
    eligible_nodes = np.ones(len(tree), dtype=np.bool_)
    for other in rel.spread:
        if other.hard:
            eligible_nodes &= tree.partition(other.key).ids >= 0
    if rule.honor_affinity or rule.honor_taints:
        for i, node in enumerate(tree.nodes):
            if not eligible_nodes[i]:
                continue
            if (rule.honor_affinity and not matches_affinity(node, signature)) or (
                rule.honor_taints and untolerated_taint(node, signature) is not None
            ):
                eligible_nodes[i] = False
    existing = np.zeros(partition.size, dtype=np.int64)
    for pod in neighbours.counted(rule.selector, rel.namespace):
        where = tree.index.get(pod.node)
        if where is not None and eligible_nodes[where]:
            existing[partition.ids[where]] += 1
    eligible = np.zeros(partition.size, dtype=np.bool_)
    eligible[partition.ids[eligible_nodes]] = True
    counted = tuple(
        t
        for t, other in enumerate(relations)
        if other is not None and other.namespace == rel.namespace and rule.counts(other.label_map)
    )
    floor_zero = rule.min_domains is not None and int(np.count_nonzero(eligible)) < rule.min_domains
    return Spread(rule.key, s, counted, existing, eligible, rule.max_skew, floor_zero)

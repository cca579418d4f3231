"""The validator's own reading of the preference scores (solver/preferences.py states the rules): plain loops
over nodes and placed pods, so that the score a plan reports is checked against the definition."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from scheduler.solver.check_nodes import node_problem
from scheduler.solver.neighbours import ExistingPod
from scheduler.solver.problem import Requirement, Signature
from scheduler.solver.relations import Selector
from scheduler.topology.nodes import NodeInfo

TOP = 100
PLUGINS = {"taint": 3, "node_affinity": 2, "inter_pod": 2, "spread": 2}


def preference_penalties(
    nodes: Sequence[NodeInfo], signature: Signature, placed: Sequence[ExistingPod]
) -> dict[str, int] | None:
    """Per node name, 100 minus the combined score; None when the signature prefers nothing anywhere."""
    allowed = [n for n in nodes if node_problem(n, signature) is None]
    rel = signature.relations
    weights = {n.name: sum(w for w, term in signature.preferred if _term(term, n)) for n in nodes}
    taints = {n.name: _intolerable(n, signature) for n in nodes}
    inter = _inter_pod(nodes, signature, placed) if rel is not None else None
    soft = _soft(nodes, signature, placed) if rel is not None else None
    if not any(weights.values()) and not any(taints.values()) and inter is None and soft is None:
        return None
    top_w = max((weights[n.name] for n in allowed), default=0)
    top_t = max((taints[n.name] for n in allowed), default=0)
    result = {}
    for node in nodes:
        total = 0.0
        total += PLUGINS["node_affinity"] * (math.floor(weights[node.name] * TOP / top_w) if top_w else 0)
        total += PLUGINS["taint"] * (TOP - math.floor(taints[node.name] * TOP / top_t) if top_t else TOP)
        if inter is not None:
            low = min((inter[n.name] for n in allowed), default=0.0)
            high = max((inter[n.name] for n in allowed), default=0.0)
            total += PLUGINS["inter_pod"] * (
                math.floor(TOP * (inter[node.name] - low) / (high - low)) if high > low else 0
            )
        if soft is not None:
            total += PLUGINS["spread"] * soft[node.name]
        result[node.name] = TOP - math.floor(total / sum(PLUGINS.values()))
    return result


def _term(term: tuple[Requirement, ...], node: NodeInfo) -> bool:
    probe = Signature(requests=(), affinity=(term,))
    return (bool(term) and node_problem(node, probe) is None) or (
        bool(term) and _only_affinity_fails(node, probe) is False
    )


def _only_affinity_fails(node: NodeInfo, probe: Signature) -> bool:
    """node_problem also reports taints and cordons; a preferred term is about labels only."""
    bare = NodeInfo(node.name, node.labels, node.allocatable)
    return node_problem(bare, probe) is not None


def _intolerable(node: NodeInfo, signature: Signature) -> int:
    count = 0
    for taint in node.taints:
        if taint.effect != "PreferNoSchedule":
            continue
        tolerated = False
        for t in signature.tolerations:
            if t.effect not in ("", "PreferNoSchedule"):
                continue
            if (t.key == "" and t.operator == "Exists") or (
                t.key == taint.key and (t.operator == "Exists" or t.value == taint.value)
            ):
                tolerated = True
        count += not tolerated
    return count


def _matches(selector: Selector | None, labels: Mapping[str, str]) -> bool:
    if selector is None:
        return False
    if any(labels.get(k) != v for k, v in selector.pairs):
        return False
    for key, operator, values in selector.expressions:
        have = labels.get(key)
        if operator == "In" and have not in values:
            return False
        if operator == "NotIn" and have in values:
            return False
        if operator == "Exists" and have is None:
            return False
        if operator == "DoesNotExist" and have is not None:
            return False
    return True


def _inter_pod(
    nodes: Sequence[NodeInfo], signature: Signature, placed: Sequence[ExistingPod]
) -> dict[str, float] | None:
    rel = signature.relations
    assert rel is not None
    if not rel.preferred_affinity and not rel.preferred_anti_affinity:
        return None
    where = {n.name: n for n in nodes}
    raw = dict.fromkeys((n.name for n in nodes), 0.0)
    for sign, terms in ((1, rel.preferred_affinity), (-1, rel.preferred_anti_affinity)):
        for term in terms:
            for pod in placed:
                namespaces_ok = term.namespaces is None or pod.namespace in term.namespaces
                if not namespaces_ok or not _matches(term.selector, pod.labels) or pod.node not in where:
                    continue
                value = where[pod.node].labels.get(term.key)
                if value is None:
                    continue
                for node in nodes:
                    if node.labels.get(term.key) == value:
                        raw[node.name] += sign * term.weight
    return raw


def _soft(nodes: Sequence[NodeInfo], signature: Signature, placed: Sequence[ExistingPod]) -> dict[str, float] | None:
    rel = signature.relations
    assert rel is not None
    rules = [r for r in rel.spread if not r.hard]
    if not rules:
        return None
    where = {n.name: n for n in nodes}
    raw = dict.fromkeys((n.name for n in nodes), 0.0)
    for rule in rules:
        values = {n.labels[rule.key] for n in nodes if rule.key in n.labels}
        counts = dict.fromkeys(values, 0)
        for pod in placed:
            node = where.get(pod.node)
            if node is None or rule.key not in node.labels or pod.terminating or pod.namespace != rel.namespace:
                continue
            if _matches(rule.selector, pod.labels):
                counts[node.labels[rule.key]] += 1
        weight = math.log(len(values) + 2)
        for node in nodes:
            if rule.key in node.labels:
                raw[node.name] += counts[node.labels[rule.key]] * weight
    top, low = max(raw.values(), default=0.0), min(raw.values(), default=0.0)
    if top == 0:
        return dict.fromkeys(raw, float(TOP))
    return {name: float(math.floor(TOP * (top + low - s) / top)) for name, s in raw.items()}

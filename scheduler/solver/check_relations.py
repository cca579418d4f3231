"""The validator's own reading of inter-pod rules: plain loops over the plan's pods and the placed pods, no
solver code (not the filters, not the joint constraints, not the relations' own matching methods).

The rules are checked on the final placement, in the forms that are exact for kube-scheduler's one-pod-at-a-
time semantics: anti-affinity and host ports are order-free; required affinity holds if some order places
every pod next to a pod its terms select (roots: placed pods, pods without terms, and at most one first pod
when nothing placed matches); a DoNotSchedule spread rule holds if each domain receiving the pod ends at most
maxSkew above the smallest eligible domain.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass

from scheduler.solver.check_nodes import selector_and_affinity_hold, untolerated_taints
from scheduler.solver.neighbours import Neighbours
from scheduler.solver.problem import Gang, Signature
from scheduler.solver.relations import HostPort, PodTerm, Relations, Selector, SpreadRule
from scheduler.topology.nodes import NodeInfo


@dataclass(frozen=True)
class _Placed:
    key: str
    node: NodeInfo
    namespace: str
    labels: Mapping[str, str]
    relations: Relations | None
    signature: Signature | None  # None for pods placed before this plan


def relation_problems(
    nodes: Mapping[str, NodeInfo], gang: Gang, assignments: Mapping[str, str], neighbours: Neighbours
) -> list[str]:
    """Every inter-pod rule the plan breaks, given the pods already placed."""
    signature_of = {pod: s.signature for s in gang.pod_sets for pod in s.pods}
    ns_labels = neighbours.namespace_labels
    existing = [
        _Placed(p.key, nodes[p.node], p.namespace, p.labels, None, None)
        for p in neighbours.present()
        if p.node in nodes
    ]
    repellers = [p for p in neighbours.present() if p.anti_affinity]
    ports: dict[str, list[HostPort]] = defaultdict(list)
    for placed in neighbours.present():
        ports[placed.node].extend(placed.ports)
    ours = []
    for key, node in assignments.items():
        signature = signature_of.get(key)
        rel = signature.relations if signature is not None else None
        if rel is not None and node in nodes:
            ours.append(_Placed(key, nodes[node], rel.namespace, dict(rel.labels), rel, signature))
    problems: list[str] = []
    for pod in ours:
        rel = pod.relations
        assert rel is not None
        for mine in rel.ports:
            clash = [p for p in ports.get(pod.node.name, ()) if _ports_clash(mine, p)]
            clash += [p for o in ours if o.key != pod.key and o.node.name == pod.node.name for p in _ports(o)]
            if any(_ports_clash(mine, p) for p in clash):
                problems.append(f"pod {pod.key} on {pod.node.name}: host port {mine.port}/{mine.protocol} is taken")
        for repeller in repellers:
            for term in repeller.anti_affinity:
                near = repeller.node in nodes and _same(nodes[repeller.node], pod.node, term.key)
                if near and _selects(term, repeller.namespace, pod.namespace, pod.labels, ns_labels):
                    problems.append(f"pod {pod.key} on {pod.node.name}: {repeller.key}'s anti-affinity on {term.key}")
        for term in rel.anti_affinity:
            for other in [*existing, *ours]:
                near = other.key != pod.key and _same(other.node, pod.node, term.key)
                if near and _selects(term, pod.namespace, other.namespace, other.labels, ns_labels):
                    problems.append(f"pod {pod.key} on {pod.node.name}: anti-affinity on {term.key} with {other.key}")
    problems += _affinity(existing, ours, ns_labels)
    problems += _spread(nodes, existing, neighbours, ours)
    return problems


def _ports(pod: _Placed) -> tuple[HostPort, ...]:
    return pod.relations.ports if pod.relations is not None else ()


def _ports_clash(a: HostPort, b: HostPort) -> bool:
    return a.port == b.port and a.protocol == b.protocol and (a.ip == b.ip or "0.0.0.0" in (a.ip, b.ip))


def _matches(selector: Selector | None, labels: Mapping[str, str]) -> bool:
    if selector is None:
        return False
    for key, value in selector.pairs:
        if labels.get(key) != value:
            return False
    for key, operator, values in selector.expressions:
        have = labels.get(key)
        ok = {
            "In": have is not None and have in values,
            "NotIn": have is None or have not in values,
            "Exists": have is not None,
            "DoesNotExist": have is None,
        }.get(operator, False)
        if not ok:
            return False
    return True


def _selects(
    term: PodTerm,
    owner_ns: str,
    namespace: str,
    labels: Mapping[str, str],
    ns_labels: Mapping[str, Mapping[str, str]],
) -> bool:
    del owner_ns  # the term's namespaces were resolved against its owner when it was compiled
    if not _matches(term.selector, labels):
        return False
    if term.namespaces is None or namespace in term.namespaces:
        return True
    return term.namespace_selector is not None and _matches(term.namespace_selector, ns_labels.get(namespace, {}))


def _same(a: NodeInfo, b: NodeInfo, key: str) -> bool:
    value = a.labels.get(key)
    return value is not None and value == b.labels.get(key)


def _affinity(existing: list[_Placed], ours: list[_Placed], ns_labels: Mapping[str, Mapping[str, str]]) -> list[str]:
    constrained = [p for p in ours if p.relations is not None and p.relations.affinity]
    if not constrained:
        return []

    def matches_all(pod: _Placed, candidate: _Placed) -> bool:
        assert pod.relations is not None
        terms = pod.relations.affinity
        return all(_selects(t, pod.namespace, candidate.namespace, candidate.labels, ns_labels) for t in terms)

    def supported(pod: _Placed, by: list[_Placed]) -> bool:
        assert pod.relations is not None
        return all(
            pod.node.labels.get(t.key) is not None
            and any(o.key != pod.key and matches_all(pod, o) and _same(o.node, pod.node, t.key) for o in by)
            for t in pod.relations.affinity
        )

    free = [p for p in ours if p not in constrained]

    def closure(roots: list[_Placed]) -> list[_Placed]:
        done, left = list(roots), [p for p in constrained if p not in roots]
        progress = True
        while left and progress:
            progress = False
            for pod in list(left):
                if supported(pod, done):
                    done.append(pod)
                    left.remove(pod)
                    progress = True
        return left

    left = closure([*existing, *free])
    if left:
        for first in left[:16]:
            if any(matches_all(first, e) for e in existing):
                break  # a placed pod matches: no pod of the gang may be the first of its group
            keyed = all(first.node.labels.get(t.key) is not None for t in first.relations.affinity)  # type: ignore[union-attr]
            if keyed and matches_all(first, first) and not closure([*existing, first, *free]):
                return []
    return [f"pod {p.key} on {p.node.name}: no pod its required affinity selects is near it" for p in left]


def _spread(
    nodes: Mapping[str, NodeInfo], existing: list[_Placed], neighbours: Neighbours, ours: list[_Placed]
) -> list[str]:
    problems: list[str] = []
    terminating = {p.key for p in neighbours.present() if p.terminating}
    for pod in ours:
        assert pod.relations is not None
        assert pod.signature is not None
        hard = [r for r in pod.relations.spread if r.hard]
        for rule in hard:
            eligible = [n for n in nodes.values() if _eligible(n, pod.signature, hard, rule)]
            counts: dict[str, int] = defaultdict(int)
            for node in eligible:
                counts[node.labels[rule.key]] += 0
            names = {n.name for n in eligible}
            for other in [*existing, *ours]:
                if other.key in terminating or other.namespace != pod.namespace or other.node.name not in names:
                    continue
                if _matches(rule.selector, other.labels):
                    counts[other.node.labels[rule.key]] += 1
            low = min(counts.values(), default=0)
            if rule.min_domains is not None and len(counts) < rule.min_domains:
                low = 0
            here = pod.node.labels.get(rule.key)
            if here is None:
                problems.append(f"pod {pod.key} on {pod.node.name}: the node has no {rule.key} label")
            elif counts.get(here, 0) - low > rule.max_skew:
                problems.append(
                    f"pod {pod.key} on {pod.node.name}: spread on {rule.key} skews {counts.get(here, 0) - low}"
                    f" > maxSkew {rule.max_skew}"
                )
    return problems


def _eligible(node: NodeInfo, signature: Signature, hard: list[SpreadRule], rule: SpreadRule) -> bool:
    """Upstream counts pods only on nodes with every hard rule's key that pass the inclusion policies."""
    if any(node.labels.get(r.key) is None for r in hard):
        return False
    if rule.honor_affinity and not selector_and_affinity_hold(node, signature):
        return False
    return not (rule.honor_taints and untolerated_taints(node, signature))

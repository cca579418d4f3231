"""What a pod asks of the pods around it, compiled into hashable problem data: inter-pod affinity and
anti-affinity terms, topology spread rules and host ports.

A pod's `Relations` are part of its signature, so pods of a gang that relate to others in the same way still
share one signature. Labels enter the signature only projected onto the keys some selector in play reads
(the gang's own terms, and running pods' anti-affinity): a Job's per-pod index label must not split a
512-pod gang into 512 shapes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from scheduler.api.core import ContainerPort, LabelSelector, Pod, PodAffinityTerm, TopologySpreadConstraint
from scheduler.api.selectors import NodeInclusionPolicy, UnsatisfiableConstraintAction

Labels = tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class Selector:
    """A compiled metav1.LabelSelector: (key, value) pairs, then (key, operator, values) expressions."""

    pairs: Labels = ()
    expressions: tuple[tuple[str, str, tuple[str, ...]], ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        if any(labels.get(k) != v for k, v in self.pairs):
            return False
        for key, operator, values in self.expressions:
            value = labels.get(key)
            if operator == "In" and value not in values:
                return False
            if operator == "NotIn" and value is not None and value in values:
                return False
            if operator == "Exists" and value is None:
                return False
            if operator == "DoesNotExist" and value is not None:
                return False
        return True

    @property
    def keys(self) -> frozenset[str]:
        return frozenset(k for k, _ in self.pairs) | frozenset(e[0] for e in self.expressions)


@dataclass(frozen=True, slots=True)
class PodTerm:
    """One pod (anti-)affinity term. `selector` None matches no pod; `namespaces` None means every namespace;
    `namespace_selector` adds the namespaces whose labels it matches."""

    key: str
    selector: Selector | None
    namespaces: frozenset[str] | None
    namespace_selector: Selector | None = None
    weight: int = 0  # preferred terms only

    def selects(self, namespace: str, labels: Mapping[str, str], namespace_labels: Mapping[str, str]) -> bool:
        if self.selector is None or not self.selector.matches(labels):
            return False
        if self.namespaces is None or namespace in self.namespaces:
            return True
        return self.namespace_selector is not None and self.namespace_selector.matches(namespace_labels)


@dataclass(frozen=True, slots=True)
class SpreadRule:
    key: str
    max_skew: int
    selector: Selector | None
    hard: bool  # DoNotSchedule; ScheduleAnyway is a preference
    min_domains: int | None = None
    honor_affinity: bool = True  # nodeAffinityPolicy, default Honor
    honor_taints: bool = False  # nodeTaintsPolicy, default Ignore

    def counts(self, labels: Mapping[str, str]) -> bool:
        return self.selector is not None and self.selector.matches(labels)


@dataclass(frozen=True, slots=True)
class HostPort:
    port: int
    protocol: str
    ip: str  # "0.0.0.0" for every address

    def conflicts(self, other: HostPort) -> bool:
        """NodePorts: same port and protocol, and the same address or either on every address."""
        if self.port != other.port or self.protocol != other.protocol:
            return False
        return self.ip == other.ip or "0.0.0.0" in (self.ip, other.ip)


@dataclass(frozen=True, slots=True)
class Relations:
    namespace: str
    labels: Labels  # projected onto the keys selectors in play read
    affinity: tuple[PodTerm, ...] = ()
    anti_affinity: tuple[PodTerm, ...] = ()
    preferred_affinity: tuple[PodTerm, ...] = ()
    preferred_anti_affinity: tuple[PodTerm, ...] = ()
    spread: tuple[SpreadRule, ...] = ()
    ports: tuple[HostPort, ...] = ()

    @property
    def label_map(self) -> dict[str, str]:
        return dict(self.labels)

    @property
    def constrains(self) -> bool:
        """True when the pod has rules of its own (not only labels others may select)."""
        return bool(self.affinity or self.anti_affinity or self.spread or self.ports)


def compile_selector(
    selector: LabelSelector | None, own: Mapping[str, str] = {}, keys: Iterable[str] = ()
) -> Selector | None:
    """A compiled selector; matchLabelKeys add `key In (the pod's own value)` for each key the pod has."""
    if selector is None:
        return None
    pairs = dict(selector.match_labels)
    expressions = [(r.key, r.operator, tuple(sorted(r.values))) for r in selector.match_expressions]
    for key in keys:
        if key in own:
            expressions.append((key, "In", (own[key],)))
    return Selector(tuple(sorted(pairs.items())), tuple(sorted(expressions)))


def _term(term: PodAffinityTerm, namespace: str, labels: Mapping[str, str], weight: int = 0) -> PodTerm:
    selector = compile_selector(term.label_selector, labels, term.match_label_keys)
    if selector is not None and term.mismatch_label_keys:
        extra = tuple((k, "NotIn", (labels[k],)) for k in term.mismatch_label_keys if k in labels)
        selector = Selector(selector.pairs, tuple(sorted(selector.expressions + extra)))
    ns_selector = compile_selector(term.namespace_selector)
    namespaces: frozenset[str] | None
    if ns_selector is not None and not ns_selector.pairs and not ns_selector.expressions:
        namespaces, ns_selector = None, None  # an empty namespaceSelector selects every namespace
    elif term.namespaces:
        namespaces = frozenset(term.namespaces)  # together with what the namespaceSelector selects
    else:
        namespaces = frozenset() if ns_selector is not None else frozenset({namespace})
    return PodTerm(term.topology_key, selector, namespaces, ns_selector, weight)


def _spread(rule: TopologySpreadConstraint, labels: Mapping[str, str]) -> SpreadRule:
    return SpreadRule(
        key=rule.topology_key,
        max_skew=rule.max_skew,
        selector=compile_selector(rule.label_selector, labels, rule.match_label_keys),
        hard=rule.when_unsatisfiable is UnsatisfiableConstraintAction.DO_NOT_SCHEDULE,
        min_domains=rule.min_domains,
        honor_affinity=rule.node_affinity_policy is not NodeInclusionPolicy.IGNORE,
        honor_taints=rule.node_taints_policy is NodeInclusionPolicy.HONOR,
    )


def host_port(port: ContainerPort) -> HostPort:
    return HostPort(int(port.host_port or 0), port.protocol, port.host_ip or "0.0.0.0")


def own_terms(pod: Pod) -> tuple[list[PodTerm], list[PodTerm], list[PodTerm], list[PodTerm]]:
    """The pod's required affinity, required anti-affinity, preferred affinity and preferred anti-affinity."""
    namespace = pod.metadata.namespace or "default"
    labels = pod.metadata.labels
    affinity = pod.spec.affinity
    required: list[PodTerm] = []
    anti: list[PodTerm] = []
    preferred: list[PodTerm] = []
    preferred_anti: list[PodTerm] = []
    if affinity is not None and affinity.pod_affinity is not None:
        required = [
            _term(t, namespace, labels)
            for t in affinity.pod_affinity.required_during_scheduling_ignored_during_execution
        ]
        preferred = [
            _term(w.pod_affinity_term, namespace, labels, w.weight)
            for w in affinity.pod_affinity.preferred_during_scheduling_ignored_during_execution
        ]
    if affinity is not None and affinity.pod_anti_affinity is not None:
        section = affinity.pod_anti_affinity
        anti = [_term(t, namespace, labels) for t in section.required_during_scheduling_ignored_during_execution]
        preferred_anti = [
            _term(w.pod_affinity_term, namespace, labels, w.weight)
            for w in section.preferred_during_scheduling_ignored_during_execution
        ]
    return required, anti, preferred, preferred_anti


def selector_keys(pod: Pod) -> frozenset[str]:
    """Label keys the pod's own terms and spread rules read: the labels that must stay in signatures."""
    keys: set[str] = set()
    for terms in own_terms(pod):
        for term in terms:
            if term.selector is not None:
                keys |= term.selector.keys
    for rule in pod.spec.topology_spread_constraints:
        selector = compile_selector(rule.label_selector, pod.metadata.labels, rule.match_label_keys)
        if selector is not None:
            keys |= selector.keys
    return frozenset(keys)


def relations_of(pod: Pod, label_keys: frozenset[str], *, selected: bool = False) -> Relations | None:
    """The pod's relations, with its labels projected onto `label_keys`; None when it has none at all and
    no running pod's anti-affinity is in play (`selected`: some may select it, even with no labels)."""
    required, anti, preferred, preferred_anti = own_terms(pod)
    labels = tuple(sorted((k, v) for k, v in pod.metadata.labels.items() if k in label_keys))
    spread = tuple(_spread(r, pod.metadata.labels) for r in pod.spec.topology_spread_constraints)
    ports = tuple(sorted({host_port(p) for p in pod.spec.host_ports()}, key=lambda p: (p.port, p.protocol, p.ip)))
    if not (selected or labels or required or anti or preferred or preferred_anti or spread or ports):
        return None
    return Relations(
        namespace=pod.metadata.namespace or "default",
        labels=labels,
        affinity=tuple(required),
        anti_affinity=tuple(anti),
        preferred_affinity=tuple(preferred),
        preferred_anti_affinity=tuple(preferred_anti),
        spread=spread,
        ports=ports,
    )

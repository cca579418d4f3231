"""The pods already on nodes, as inter-pod rules see them: labels, required anti-affinity, host ports.

The engine keeps one table up to date as pods are bound, assumed and removed; each decision reads it, and a
preemption decision reads a view without the candidate victims. Label indexes keep a selector's match set
proportional to the pods it matches, not to the cluster: most selectors name an app or a job.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from scheduler.solver.relations import HostPort, PodTerm, Selector

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class ExistingPod:
    key: str
    node: str
    namespace: str
    labels: Mapping[str, str]
    anti_affinity: tuple[PodTerm, ...] = ()  # required terms: they repel newcomers too (symmetry)
    ports: tuple[HostPort, ...] = ()
    terminating: bool = False


@dataclass
class Neighbours:
    namespace_labels: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    pods: dict[str, ExistingPod] = field(default_factory=dict)
    _by_pair: dict[tuple[str, str], set[str]] = field(default_factory=lambda: defaultdict(set))
    _by_key: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    _repellers: set[str] = field(default_factory=set)
    _with_ports: set[str] = field(default_factory=set)
    _excluded: frozenset[str] = frozenset()
    _keys: frozenset[str] | None = None  # anti_affinity_keys, until a repeller comes or goes

    def add(self, pod: ExistingPod) -> None:
        self.remove(pod.key)
        self.pods[pod.key] = pod
        for pair in pod.labels.items():
            self._by_pair[pair].add(pod.key)
            self._by_key[pair[0]].add(pod.key)
        if pod.anti_affinity:
            self._repellers.add(pod.key)
            self._keys = None
        if pod.ports:
            self._with_ports.add(pod.key)

    def remove(self, key: str) -> None:
        pod = self.pods.pop(key, None)
        if pod is None:
            return
        for pair in pod.labels.items():
            _discard(self._by_pair, pair, key)
            _discard(self._by_key, pair[0], key)
        if key in self._repellers:
            self._repellers.discard(key)
            self._keys = None
        self._with_ports.discard(key)

    def without(self, keys: Iterable[str]) -> Neighbours:
        """A view in which the given pods are gone (preemption victims); shares the indexes."""
        view = Neighbours.__new__(Neighbours)
        view.namespace_labels, view.pods = self.namespace_labels, self.pods
        view._by_pair, view._by_key = self._by_pair, self._by_key
        view._repellers, view._with_ports = self._repellers, self._with_ports
        view._excluded = self._excluded | frozenset(keys)
        view._keys = None
        return view

    # Queries ---------------------------------------------------------------------------------------------

    def selected(self, term: PodTerm) -> list[ExistingPod]:
        """Pods a term selects (its label selector and namespaces)."""
        if term.selector is None:
            return []
        return [
            pod
            for pod in self._candidates(term.selector)
            if term.selects(pod.namespace, pod.labels, self.namespace_labels.get(pod.namespace, {}))
        ]

    def counted(self, selector: Selector | None, namespace: str) -> list[ExistingPod]:
        """Pods of one namespace a spread rule counts (terminating pods do not count)."""
        if selector is None:
            return []
        return [
            p
            for p in self._candidates(selector)
            if p.namespace == namespace and not p.terminating and selector.matches(p.labels)
        ]

    def repelling(self, namespace: str, labels: Mapping[str, str]) -> list[tuple[ExistingPod, PodTerm]]:
        """Running pods whose required anti-affinity selects a newcomer with these labels."""
        found = []
        ns_labels = self.namespace_labels.get(namespace, {})
        for key in self._repellers - self._excluded:
            pod = self.pods[key]
            for term in pod.anti_affinity:
                if term.selects(namespace, labels, ns_labels):
                    found.append((pod, term))
        return found

    def ports(self) -> dict[str, list[HostPort]]:
        """Host ports in use, per node."""
        used: dict[str, list[HostPort]] = defaultdict(list)
        for key in self._with_ports - self._excluded:
            pod = self.pods[key]
            used[pod.node].extend(pod.ports)
        return used

    def anti_affinity_keys(self) -> frozenset[str]:
        """Label keys that running pods' anti-affinity selectors read: newcomers' labels on them matter. Asked
        once per unit per pass, so kept until a pod with anti-affinity comes or goes."""
        if self._keys is None:
            keys: set[str] = set()
            for key in self._repellers - self._excluded:
                for term in self.pods[key].anti_affinity:
                    if term.selector is not None:
                        keys |= term.selector.keys
            self._keys = frozenset(keys)
        return self._keys

    def present(self) -> list[ExistingPod]:
        """Every placed pod in this view (the validator's plain-loop input)."""
        return [p for k, p in self.pods.items() if k not in self._excluded]

    def has_repellers(self) -> bool:
        return bool(self._repellers - self._excluded)

    def _candidates(self, selector: Selector) -> Iterable[ExistingPod]:
        sets: list[set[str]] = [self._by_pair.get(pair, set()) for pair in selector.pairs]
        for key, operator, values in selector.expressions:
            if operator == "In":
                sets.append(set().union(*(self._by_pair.get((key, v), set()) for v in values)))
            elif operator == "Exists":
                sets.append(self._by_key.get(key, set()))
        # Only NotIn / DoesNotExist, or an empty selector: every pod may match.
        keys = set.intersection(*sorted(sets, key=len)) if sets else set(self.pods)
        return (self.pods[k] for k in keys - self._excluded)


def _discard(index: dict[T, set[str]], item: T, key: str) -> None:
    members = index.get(item)
    if members is not None:
        members.discard(key)
        if not members:
            del index[item]

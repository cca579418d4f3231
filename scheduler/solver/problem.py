"""Plain problem data for one gang decision, validated on construction; no I/O, no solver types.

Pods of a gang with identical requests and constraints form one *signature* (a PodSet); the solver decides
counts per signature and node, which keeps models small for 512-pod gangs of two or three shapes.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from functools import partial

from scheduler.api.core import Pod
from scheduler.api.policy import GroupPolicy, TopologyMode
from scheduler.api.validation import label_value_error
from scheduler.solver.relations import Relations, relations_of, selector_keys
from scheduler.solver.volumes import VolumeNeed


@dataclass(frozen=True, slots=True)
class Requirement:
    """One node selector requirement; `field` is True for matchFields (only metadata.name is defined)."""

    key: str
    operator: str  # In | NotIn | Exists | DoesNotExist | Gt | Lt
    values: tuple[str, ...] = ()
    field: bool = False


@dataclass(frozen=True, slots=True)
class Toleration:
    key: str = ""
    operator: str = "Equal"  # Equal | Exists
    value: str = ""
    effect: str = ""  # "" tolerates every effect


@dataclass(frozen=True, slots=True)
class Signature:
    """What makes two pods interchangeable for placement."""

    requests: tuple[tuple[str, int], ...]
    node_selector: tuple[tuple[str, str], ...] = ()
    # Required node affinity: terms are ORed, the requirements inside a term ANDed. None means no affinity.
    affinity: tuple[tuple[Requirement, ...], ...] | None = None
    tolerations: tuple[Toleration, ...] = ()
    # Preferred node affinity: (weight, requirements ANDed) per term; a scoring input, never a filter.
    preferred: tuple[tuple[int, tuple[Requirement, ...]], ...] = ()
    # Inter-pod affinity, spread and host ports, with the labels selectors in play read; None: no relations.
    relations: Relations | None = None
    # What the pod's volumes ask of a node (solver/volumes.py), resolved by the engine from claims and volumes.
    volumes: tuple[VolumeNeed, ...] = ()

    def __post_init__(self) -> None:
        for name, amount in self.requests:
            if amount < 0:
                raise ValueError(f"request for {name} must be non-negative, got {amount}")

    @property
    def request_map(self) -> dict[str, int]:
        return dict(self.requests)

    def static_key(self) -> tuple[object, ...]:
        """The part of the signature that node filtering (not capacity) depends on."""
        return (self.node_selector, self.affinity, self.tolerations, self.volumes, self.preferred)


@dataclass(frozen=True, slots=True)
class PodSet:
    signature: Signature
    pods: tuple[str, ...]  # pod keys ("namespace/name"), in the order they should be placed

    def __post_init__(self) -> None:
        if not self.pods:
            raise ValueError("a pod set needs at least one pod")


@dataclass(frozen=True, slots=True)
class TopologyRule:
    key: str
    required: bool


@dataclass(frozen=True, slots=True)
class Gang:
    """One scheduling unit: at least `min_count` of its pods are placed together, or none is.

    A basic group is a gang with min_count 1 whose pods may land anywhere independently; the solver still places
    as many as fit. Topology rules are ordered widest first.
    """

    name: str
    pod_sets: tuple[PodSet, ...]
    min_count: int
    topology: tuple[TopologyRule, ...] = ()
    basic: bool = False

    def __post_init__(self) -> None:
        if not self.pod_sets:
            raise ValueError(f"gang {self.name}: no pods")
        if self.min_count < 1:
            raise ValueError(f"gang {self.name}: minCount must be at least 1, got {self.min_count}")
        if self.min_count > self.size:
            raise ValueError(f"gang {self.name}: minCount {self.min_count} exceeds its {self.size} pods")
        keys = [rule.key for rule in self.topology]
        if len(set(keys)) != len(keys):
            raise ValueError(f"gang {self.name}: a topology key appears twice")
        pods = [p for s in self.pod_sets for p in s.pods]
        if len(set(pods)) != len(pods):
            raise ValueError(f"gang {self.name}: a pod appears in two pod sets")

    @property
    def size(self) -> int:
        return sum(len(s.pods) for s in self.pod_sets)


@dataclass(frozen=True, slots=True)
class SolverParams:
    """Every decision has a time limit, explicit workers and a fixed seed (never 0 = all cores)."""

    time_limit_s: float = 1.0
    # Once greedy has a plan, the model only tries to improve it: a shorter budget bounds the p99 decision time,
    # and the gap to the proven bound is reported. The budget grows with the gang (a bigger model needs longer
    # to improve on a plan, and more is at stake), from min_improve_s by improve_per_pod_s up to improve_time_s.
    improve_time_s: float = 0.2
    min_improve_s: float = 0.02
    improve_per_pod_s: float = 0.0001
    # A plan proven within this relative gap of the bound is good enough: a greedy plan that close is taken
    # without a model, and CP-SAT stops there (as a MIP solver's default gap: 1e-4). 0 asks for proven optima.
    relative_gap: float = 1e-4
    num_workers: int = 1
    large_model_workers: int = 2
    large_model_vars: int = 2000
    seed: int = 7
    # Above this many candidate nodes the model is built over shortlisted domains only.
    max_model_nodes: int = 512
    use_cp_sat: bool = True
    # Budgets in CP-SAT's deterministic time on one worker, not wall seconds (solver/budget.py): the simulator's,
    # so that a replay's answers do not depend on how busy the machine is.
    deterministic: bool = False

    def __post_init__(self) -> None:
        if self.time_limit_s <= 0 or self.improve_time_s <= 0 or self.min_improve_s <= 0:
            raise ValueError("time limits must be positive")
        if self.improve_per_pod_s < 0:
            raise ValueError("improve_per_pod_s must not be negative")
        if not 0 <= self.relative_gap < 1:
            raise ValueError(f"relative_gap must be in [0, 1), got {self.relative_gap}")
        if self.num_workers < 1 or self.large_model_workers < 1:
            raise ValueError("num_workers must be at least 1 (0 would mean all cores)")
        if self.max_model_nodes < 1:
            raise ValueError("max_model_nodes must be at least 1")

    def improve_budget(self, pods: int) -> float:
        """Seconds the model gets to improve on a greedy plan for a gang of `pods` pods."""
        return min(self.improve_time_s, max(self.min_improve_s, pods * self.improve_per_pod_s))


# Signatures already derived, per pod object (models are frozen: the same object always derives the same one).
# The engine rebuilds every waiting unit's gang on every pass, and deriving them was most of that.
_DERIVED: dict[int, tuple[weakref.ref[Pod], dict[tuple[frozenset[str], bool], Signature]]] = {}
# One object for equal signatures (the pods of a template), so that what the memo keeps costs little.
_ALIKE: dict[Signature, Signature] = {}
ALIKE_LIMIT = 4096


def signature_of(pod: Pod, label_keys: frozenset[str] = frozenset(), *, selected: bool = False) -> Signature:
    """Derive a pod's signature from its spec; `label_keys` are the label keys some selector in play reads,
    `selected` says running pods' anti-affinity is in play at all."""
    entry = _DERIVED.get(id(pod))
    if entry is None or entry[0]() is not pod:
        entry = (weakref.ref(pod, partial(_forget, id(pod))), {})
        _DERIVED[id(pod)] = entry
    key = (label_keys, selected)
    found = entry[1].get(key)
    if found is None:
        derived = _derive(pod, label_keys, selected)
        found = entry[1][key] = _ALIKE.setdefault(derived, derived)
        if len(_ALIKE) > ALIKE_LIMIT:  # a bound, not a cache policy: the same shapes come back at once
            _ALIKE.clear()
    return found


def _forget(identity: int, _: object) -> None:
    _DERIVED.pop(identity, None)


def _derive(pod: Pod, label_keys: frozenset[str], selected: bool) -> Signature:
    affinity = None
    node_affinity = pod.spec.affinity.node_affinity if pod.spec.affinity else None
    required = node_affinity.required_during_scheduling_ignored_during_execution if node_affinity else None
    if required is not None:
        affinity = tuple(
            tuple(_requirement(r.key, r.operator.value, r.values) for r in term.match_expressions)
            + tuple(_requirement(r.key, r.operator.value, r.values, field=True) for r in term.match_fields)
            for term in required.node_selector_terms
        )
    preferred = tuple(
        (
            term.weight,
            tuple(_requirement(r.key, r.operator.value, r.values) for r in term.preference.match_expressions)
            + tuple(_requirement(r.key, r.operator.value, r.values, field=True) for r in term.preference.match_fields),
        )
        for term in (node_affinity.preferred_during_scheduling_ignored_during_execution if node_affinity else ())
    )
    return Signature(
        preferred=preferred,
        requests=tuple(sorted(pod.requests().items())),
        node_selector=tuple(sorted(pod.spec.node_selector.items())),
        affinity=affinity,
        tolerations=tuple(
            Toleration(t.key, t.operator.value, t.value, t.effect.value if t.effect else "")
            for t in pod.spec.tolerations
        ),
        relations=relations_of(pod, label_keys | selector_keys(pod), selected=selected),
    )


def _requirement(key: str, operator: str, values: Sequence[str], *, field: bool = False) -> Requirement:
    """A requirement as upstream parses it: one that does not parse (an invalid label value in In/NotIn, a
    non-integer or a second value in Gt/Lt) matches no node, which is what kube-scheduler makes of it."""
    invalid = (operator in ("In", "NotIn") and not field and any(label_value_error(v) for v in values)) or (
        operator in ("Gt", "Lt") and (len(values) != 1 or not values[0].lstrip("-").isdigit())
    )
    return Requirement(key, "Invalid" if invalid else operator, tuple(values), field)


def gang_from_pods(
    name: str,
    pods: Sequence[tuple[str, Pod]],
    min_count: int,
    policy: GroupPolicy | None = None,
    pinned: Mapping[str, str] | None = None,
    label_keys: frozenset[str] = frozenset(),
    *,
    selected: bool = False,
    volumes: Mapping[str, tuple[VolumeNeed, ...]] | None = None,
) -> Gang:
    """Group pods by signature into a Gang, keeping the pods' order within each signature.

    `label_keys`: label keys running pods' anti-affinity reads (a newcomer's labels on them matter), and
    `selected` whether any such pod runs; the keys the gang's own terms read are added here, so that each
    pod's labels are compared with its gang's selectors.

    `pinned` (label key -> value) keeps every pod to nodes carrying those labels: the Required domains that the
    gang's already bound pods are in, when only part of it is left to place.
    """
    by_signature: dict[Signature, list[str]] = {}
    keys = frozenset(label_keys).union(*(selector_keys(pod) for _, pod in pods))
    for key, pod in pods:
        signature = signature_of(pod, keys, selected=selected)
        if volumes and key in volumes:
            signature = replace(signature, volumes=volumes[key])
        if pinned:
            selector = dict(signature.node_selector)
            clash = any(selector.get(k, v) != v for k, v in pinned.items())
            # A pod whose own selector names another domain can go nowhere: an impossible label keeps it so.
            selector.update({k: "\x00conflict" for k in pinned} if clash else pinned)
            signature = replace(signature, node_selector=tuple(sorted(selector.items())))
        by_signature.setdefault(signature, []).append(key)
    rules: tuple[TopologyRule, ...] = ()
    basic = False
    if policy is not None:
        rules = tuple(
            TopologyRule(c.key, c.mode is TopologyMode.REQUIRED) for c in policy.scheduling_constraints.topology
        )
        basic = policy.scheduling_policy.basic is not None
    return Gang(
        name=name,
        pod_sets=tuple(PodSet(sig, tuple(keys)) for sig, keys in by_signature.items()),
        min_count=min_count,
        topology=rules,
        basic=basic,
    )

"""Label and node selectors, node and pod affinity, topology spread: the pod-spec vocabulary of placement.

Field names and defaults follow core/v1 exactly (camelCase on the wire); semantics live in the solver. Each
model keeps fields it does not know (a newer server's additions), so `scheduler.api.fidelity` can refuse a pod
whose placement depends on one instead of scheduling it as if the field were absent.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import Field

from scheduler.api.base import LenientModel
from scheduler.api.meta import Int32


class SelectorOperator(StrEnum):
    IN = "In"
    NOT_IN = "NotIn"
    EXISTS = "Exists"
    DOES_NOT_EXIST = "DoesNotExist"
    GT = "Gt"
    LT = "Lt"


class NodeSelectorRequirement(LenientModel):
    key: str
    operator: SelectorOperator
    values: list[str] = Field(default_factory=list)


class NodeSelectorTerm(LenientModel):
    match_expressions: list[NodeSelectorRequirement] = Field(default_factory=list)
    match_fields: list[NodeSelectorRequirement] = Field(default_factory=list)


class NodeSelector(LenientModel):
    node_selector_terms: list[NodeSelectorTerm] = Field(default_factory=list)


class PreferredSchedulingTerm(LenientModel):
    weight: Annotated[int, Field(ge=1, le=100)]
    preference: NodeSelectorTerm


class NodeAffinity(LenientModel):
    required_during_scheduling_ignored_during_execution: NodeSelector | None = None
    preferred_during_scheduling_ignored_during_execution: list[PreferredSchedulingTerm] = Field(default_factory=list)


class LabelSelectorRequirement(LenientModel):
    key: str
    operator: Annotated[str, Field(pattern="^(In|NotIn|Exists|DoesNotExist)$")]
    values: list[str] = Field(default_factory=list)


class LabelSelector(LenientModel):
    match_labels: dict[str, str] = Field(default_factory=dict)
    match_expressions: list[LabelSelectorRequirement] = Field(default_factory=list)

    def matches(self, labels: dict[str, str]) -> bool:
        """metav1.LabelSelector semantics: every matchLabels pair and every expression must hold."""
        if any(labels.get(k) != v for k, v in self.match_labels.items()):
            return False
        for req in self.match_expressions:
            value = labels.get(req.key)
            if req.operator == "In" and (value is None or value not in req.values):
                return False
            if req.operator == "NotIn" and value is not None and value in req.values:
                return False
            if req.operator == "Exists" and value is None:
                return False
            if req.operator == "DoesNotExist" and value is not None:
                return False
        return True


class PodAffinityTerm(LenientModel):
    """A nil labelSelector matches no pod; a nil namespaceSelector with empty namespaces means the pod's own
    namespace; an empty namespaceSelector ({}) means every namespace."""

    label_selector: LabelSelector | None = None
    namespaces: list[str] = Field(default_factory=list)
    namespace_selector: LabelSelector | None = None
    topology_key: Annotated[str, Field(min_length=1)]
    match_label_keys: list[str] = Field(default_factory=list)
    mismatch_label_keys: list[str] = Field(default_factory=list)


class WeightedPodAffinityTerm(LenientModel):
    weight: Annotated[int, Field(ge=1, le=100)]
    pod_affinity_term: PodAffinityTerm


class PodAffinity(LenientModel):
    required_during_scheduling_ignored_during_execution: list[PodAffinityTerm] = Field(default_factory=list)
    preferred_during_scheduling_ignored_during_execution: list[WeightedPodAffinityTerm] = Field(default_factory=list)


class Affinity(LenientModel):
    node_affinity: NodeAffinity | None = None
    pod_affinity: PodAffinity | None = None
    pod_anti_affinity: PodAffinity | None = None


class UnsatisfiableConstraintAction(StrEnum):
    DO_NOT_SCHEDULE = "DoNotSchedule"
    SCHEDULE_ANYWAY = "ScheduleAnyway"


class NodeInclusionPolicy(StrEnum):
    HONOR = "Honor"
    IGNORE = "Ignore"


class TopologySpreadConstraint(LenientModel):
    max_skew: Annotated[int, Field(ge=1)]
    topology_key: Annotated[str, Field(min_length=1)]
    when_unsatisfiable: UnsatisfiableConstraintAction
    label_selector: LabelSelector | None = None
    min_domains: Annotated[Int32 | None, Field(ge=1)] = None
    # Defaults as kube-scheduler applies them when the field is unset: node affinity counts, taints do not.
    node_affinity_policy: NodeInclusionPolicy | None = None
    node_taints_policy: NodeInclusionPolicy | None = None
    match_label_keys: list[str] = Field(default_factory=list)

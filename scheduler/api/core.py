"""The slices of core/v1 Pods and Nodes (and scheduling/v1 PriorityClasses) that scheduling reads.

Unknown fields are ignored (the server owns these schemas); the fields we do read are validated, so a malformed
quantity or operator is reported once at the edge instead of surfacing as a crash deep in the solver.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, ClassVar, Literal

from pydantic import Field, field_validator

from scheduler.api.base import LenientModel
from scheduler.api.meta import Int32, ObjectMeta
from scheduler.api.quantity import to_scheduler_units

DEFAULT_SCHEDULER = "default-scheduler"
Quantity = str | int | float


def _resources(raw: dict[str, Quantity]) -> dict[str, Quantity]:
    for name, value in raw.items():
        to_scheduler_units(name, value)  # raises QuantityError, a ValueError, naming the value
    return raw


class ResourceRequirements(LenientModel):
    requests: dict[str, Quantity] = Field(default_factory=dict)
    limits: dict[str, Quantity] = Field(default_factory=dict)

    _check_requests = field_validator("requests", "limits")(_resources)

    def effective_requests(self) -> dict[str, int]:
        """Requests in scheduler units; a limit without a request counts as the request, as API defaulting does."""
        merged = {**self.limits, **self.requests}
        return {name: to_scheduler_units(name, value) for name, value in merged.items()}


class Container(LenientModel):
    name: str = ""
    image: str = ""  # kept so a pod's shape can be copied into a PodTemplate (capacity provisioning)
    resources: ResourceRequirements = Field(default_factory=ResourceRequirements)


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


class NodeAffinity(LenientModel):
    required_during_scheduling_ignored_during_execution: NodeSelector | None = None


class Affinity(LenientModel):
    node_affinity: NodeAffinity | None = None


class TaintEffect(StrEnum):
    NO_SCHEDULE = "NoSchedule"
    PREFER_NO_SCHEDULE = "PreferNoSchedule"
    NO_EXECUTE = "NoExecute"


class TolerationOperator(StrEnum):
    EXISTS = "Exists"
    EQUAL = "Equal"


class Toleration(LenientModel):
    key: str = ""
    operator: TolerationOperator = TolerationOperator.EQUAL
    value: str = ""
    effect: TaintEffect | None = None
    toleration_seconds: int | None = None


class Taint(LenientModel):
    key: str
    value: str = ""
    effect: TaintEffect


class PodSpec(LenientModel):
    scheduler_name: str = DEFAULT_SCHEDULER
    node_name: str | None = None
    priority: Int32 | None = None
    priority_class_name: str | None = None
    preemption_policy: str | None = None
    node_selector: dict[str, str] = Field(default_factory=dict)
    affinity: Affinity | None = None
    tolerations: list[Toleration] = Field(default_factory=list)
    containers: list[Container] = Field(default_factory=list)
    init_containers: list[Container] = Field(default_factory=list)
    overhead: dict[str, Quantity] = Field(default_factory=dict)
    termination_grace_period_seconds: int | None = None

    _check_overhead = field_validator("overhead")(_resources)


class PodStatus(LenientModel):
    phase: str = "Pending"
    nominated_node_name: str | None = None


class Pod(LenientModel):
    KIND: ClassVar[str] = "Pod"

    api_version: Literal["v1"] = "v1"
    kind: Literal["Pod"] = "Pod"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: PodSpec = Field(default_factory=PodSpec)
    status: PodStatus = Field(default_factory=PodStatus)

    def requests(self) -> dict[str, int]:
        """What the pod occupies on a node, as kube-scheduler computes it (noderesources.computePodResourceRequest)."""
        total: dict[str, int] = {}
        for container in self.spec.containers:
            for name, amount in container.resources.effective_requests().items():
                total[name] = total.get(name, 0) + amount
        for container in self.spec.init_containers:
            for name, amount in container.resources.effective_requests().items():
                total[name] = max(total.get(name, 0), amount)
        for name, value in self.spec.overhead.items():
            total[name] = total.get(name, 0) + to_scheduler_units(name, value)
        total["pods"] = 1
        return total


class NodeCondition(LenientModel):
    type: str
    status: str


class NodeSpec(LenientModel):
    unschedulable: bool = False
    taints: list[Taint] = Field(default_factory=list)


class NodeStatus(LenientModel):
    capacity: dict[str, Quantity] = Field(default_factory=dict)
    allocatable: dict[str, Quantity] = Field(default_factory=dict)
    conditions: list[NodeCondition] = Field(default_factory=list)

    _check_resources = field_validator("capacity", "allocatable")(_resources)


class Node(LenientModel):
    KIND: ClassVar[str] = "Node"

    api_version: Literal["v1"] = "v1"
    kind: Literal["Node"] = "Node"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: NodeSpec = Field(default_factory=NodeSpec)
    status: NodeStatus = Field(default_factory=NodeStatus)

    @property
    def ready(self) -> bool:
        return any(c.type == "Ready" and c.status == "True" for c in self.status.conditions)

    def allocatable(self) -> dict[str, int]:
        """Allocatable in scheduler units; capacity stands in where the kubelet reported no allocatable."""
        source = self.status.allocatable or self.status.capacity
        return {name: to_scheduler_units(name, value) for name, value in source.items()}


class PriorityClass(LenientModel):
    KIND: ClassVar[str] = "PriorityClass"

    api_version: Literal["scheduling.k8s.io/v1"] = "scheduling.k8s.io/v1"
    kind: Literal["PriorityClass"] = "PriorityClass"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    value: Int32
    global_default: bool = False
    preemption_policy: Annotated[str, Field(pattern="^(PreemptLowerPriority|Never)$")] = "PreemptLowerPriority"


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


class PodDisruptionBudgetSpec(LenientModel):
    selector: LabelSelector | None = None


class PodDisruptionBudgetStatus(LenientModel):
    disruptions_allowed: int = 0


class PodDisruptionBudget(LenientModel):
    """policy/v1 (or v1beta1) PodDisruptionBudget: we read the selector and status.disruptionsAllowed."""

    KIND: ClassVar[str] = "PodDisruptionBudget"

    api_version: str = "policy/v1"
    kind: Literal["PodDisruptionBudget"] = "PodDisruptionBudget"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: PodDisruptionBudgetSpec = Field(default_factory=PodDisruptionBudgetSpec)
    status: PodDisruptionBudgetStatus = Field(default_factory=PodDisruptionBudgetStatus)

    def covers(self, pod: Pod) -> bool:
        """Same namespace and the selector matches; a nil selector matches nothing (policy/v1)."""
        if (pod.metadata.namespace or "default") != (self.metadata.namespace or "default"):
            return False
        return self.spec.selector is not None and self.spec.selector.matches(pod.metadata.labels)

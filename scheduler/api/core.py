"""The slices of core/v1 Pods and Nodes (and scheduling/v1 PriorityClasses) that scheduling reads.

Unknown fields are kept, not dropped (the server owns these schemas, and a newer one may add a field that
affects placement: `scheduler.api.fidelity` refuses such a pod by name). The fields we do read are validated,
so a malformed quantity or operator is reported once at the edge instead of surfacing as a crash in the solver.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, ClassVar, Literal

from pydantic import ConfigDict, Field, field_validator

from scheduler.api.base import LenientModel
from scheduler.api.meta import Int32, ObjectMeta
from scheduler.api.quantity import Quantity, to_scheduler_units
from scheduler.api.selectors import (
    Affinity,
    LabelSelector,
    LabelSelectorRequirement,
    NodeAffinity,
    NodeSelector,
    NodeSelectorRequirement,
    NodeSelectorTerm,
    PodAffinity,
    PodAffinityTerm,
    SelectorOperator,
    TopologySpreadConstraint,
)

__all__ = [
    "Affinity",
    "LabelSelector",
    "LabelSelectorRequirement",
    "NodeAffinity",
    "NodeSelector",
    "NodeSelectorRequirement",
    "NodeSelectorTerm",
    "PodAffinity",
    "PodAffinityTerm",
    "SelectorOperator",
    "TopologySpreadConstraint",
]

DEFAULT_SCHEDULER = "default-scheduler"


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


class ContainerPort(LenientModel):
    container_port: Annotated[int, Field(ge=1, le=65535)]
    host_port: Annotated[int | None, Field(ge=0, le=65535)] = None
    protocol: Annotated[str, Field(pattern="^(TCP|UDP|SCTP)$")] = "TCP"
    host_ip: str = Field(default="", alias="hostIP")


class Container(LenientModel):
    name: str = ""
    image: str = ""  # kept so a pod's shape can be copied into a PodTemplate (capacity provisioning)
    resources: ResourceRequirements = Field(default_factory=ResourceRequirements)
    ports: list[ContainerPort] = Field(default_factory=list)
    restart_policy: str | None = None  # "Always" on an init container makes it a sidecar (1.28+)

    @property
    def sidecar(self) -> bool:
        return self.restart_policy == "Always"


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


class PodSchedulingGate(LenientModel):
    name: str


class PodSchedulingGroup(LenientModel):
    """Upstream Workload-Aware Scheduling membership (1.36+): the standalone `scheduling.k8s.io` PodGroup the pod
    belongs to. Exactly one member upstream; a member added by a newer release stays in `model_extra` and
    refuses the pod (api/fidelity.py), since it would name a group we cannot see."""

    pod_group_name: str | None = None


class PersistentVolumeClaimSource(LenientModel):
    claim_name: str
    read_only: bool = False


class Volume(LenientModel):
    """A pod volume: the claim-backed kinds are modelled; every other kind is kept as an extra field."""

    name: str
    persistent_volume_claim: PersistentVolumeClaimSource | None = None
    ephemeral: dict[str, object] | None = None


class PodSpec(LenientModel):
    scheduler_name: str = DEFAULT_SCHEDULER
    node_name: str | None = None
    priority: Int32 | None = None
    priority_class_name: str | None = None
    preemption_policy: str | None = None
    node_selector: dict[str, str] = Field(default_factory=dict)
    affinity: Affinity | None = None
    tolerations: list[Toleration] = Field(default_factory=list)
    topology_spread_constraints: list[TopologySpreadConstraint] = Field(default_factory=list)
    containers: list[Container] = Field(default_factory=list)
    init_containers: list[Container] = Field(default_factory=list)
    overhead: dict[str, Quantity] = Field(default_factory=dict)
    resources: ResourceRequirements | None = None  # pod-level resources (1.32+)
    volumes: list[Volume] = Field(default_factory=list)
    scheduling_gates: list[PodSchedulingGate] = Field(default_factory=list)
    scheduling_group: PodSchedulingGroup | None = None
    termination_grace_period_seconds: int | None = None

    _check_overhead = field_validator("overhead")(_resources)

    def host_ports(self) -> list[ContainerPort]:
        """Ports the pod claims on its node: app containers' and sidecars' (both run for the pod's life)."""
        containers = [*self.containers, *(c for c in self.init_containers if c.sidecar)]
        return [p for c in containers for p in c.ports if p.host_port]


class PodStatus(LenientModel):
    model_config = ConfigDict(extra="ignore")  # status is the kubelet's report, never a placement input

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
        """What the pod occupies on a node, as kube-scheduler computes it (resourcehelper.PodRequests).

        Sidecars (init containers with restartPolicy Always) run beside the app containers, so they add to
        their sum, and each later init container runs beside the sidecars started before it. The pod needs
        the larger of the two phases; pod-level requests, where set, replace the containers' for their
        resources; overhead comes on top.
        """
        total: dict[str, int] = {}
        for container in self.spec.containers:
            _add(total, container.resources.effective_requests())
        sidecars: dict[str, int] = {}
        init_peak: dict[str, int] = {}
        for container in self.spec.init_containers:
            own = container.resources.effective_requests()
            if container.sidecar:
                _add(total, own)
                _add(sidecars, own)
                phase = dict(sidecars)
            else:
                phase = dict(own)
                _add(phase, sidecars)
            for name, amount in phase.items():
                init_peak[name] = max(init_peak.get(name, 0), amount)
        for name, amount in init_peak.items():
            total[name] = max(total.get(name, 0), amount)
        if self.spec.resources is not None:
            total.update(self.spec.resources.effective_requests())
        for name, value in self.spec.overhead.items():
            total[name] = total.get(name, 0) + to_scheduler_units(name, value)
        total["pods"] = 1
        return total

    @property
    def being_deleted(self) -> bool:
        return self.metadata.deletion_timestamp is not None


def _add(total: dict[str, int], more: dict[str, int]) -> None:
    for name, amount in more.items():
        total[name] = total.get(name, 0) + amount


class NodeCondition(LenientModel):
    type: str
    status: str


class NodeSpec(LenientModel):
    unschedulable: bool = False
    taints: list[Taint] = Field(default_factory=list)


class NodeStatus(LenientModel):
    model_config = ConfigDict(extra="ignore")  # images, addresses, daemon endpoints: read once and stripped

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

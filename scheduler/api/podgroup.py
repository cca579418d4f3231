"""PodGroup: one gang (or basic group) of pods, and the status `kubectl get podgroups` shows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal, Self

from pydantic import Field, PrivateAttr, WithJsonSchema, field_validator, model_validator

from scheduler.api.base import ApiModel
from scheduler.api.meta import Condition, NonNegativeInt32, ObjectMeta
from scheduler.api.policy import GroupPolicy
from scheduler.api.quantity import Quantity, to_scheduler_units

# Pods join a group through this label (same namespace). scheduler-plugins' label is honoured too, so
# coscheduling users can switch without editing pods.
POD_GROUP_LABEL = "scheduling.phalanx.dev/pod-group"
COSCHEDULING_POD_GROUP_LABEL = "scheduling.x-k8s.io/pod-group"

# Condition types and reasons (PodGroupScheduled mirrors upstream; DisruptionTarget mirrors pods').
POD_GROUP_SCHEDULED = "PodGroupScheduled"
DISRUPTION_TARGET = "DisruptionTarget"


class ScheduledReason(StrEnum):
    SCHEDULED = "Scheduled"
    UNSCHEDULABLE = "Unschedulable"
    SCHEDULER_ERROR = "SchedulerError"
    WAITING_FOR_PODS = "WaitingForPods"
    WAITING_FOR_PREEMPTION = "WaitingForPreemption"


PREEMPTION_BY_SCHEDULER = "PreemptionByScheduler"


class PodGroupPhase(StrEnum):
    PENDING = "Pending"
    SCHEDULING = "Scheduling"
    PREEMPTING = "Preempting"
    SCHEDULED = "Scheduled"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    UNSCHEDULABLE = "Unschedulable"


class SolverStatus(StrEnum):
    OPTIMAL = "Optimal"
    FEASIBLE = "Feasible"
    INFEASIBLE = "Infeasible"
    TIMEOUT = "Timeout"
    SKIPPED = "Skipped"


class WorkloadReference(ApiModel):
    """The template a group was stamped from (1.37's `workloadRef` spelling)."""

    workload_name: Annotated[str, Field(min_length=1)]
    template_name: Annotated[str, Field(min_length=1)]


class WorkloadTemplateReference(ApiModel):
    workload_name: Annotated[str, Field(min_length=1)]
    pod_group_template_name: Annotated[str, Field(min_length=1)]


class PodGroupTemplateReference(ApiModel):
    """1.36's spelling of the same back-reference: `podGroupTemplateRef: {workload: {...}}`."""

    workload: WorkloadTemplateReference


class TopologyDomain(ApiModel):
    key: str
    value: str


class Placement(ApiModel):
    """Where the group landed: the narrowest domain holding all its pods, and its path from the widest level."""

    domain: str = ""
    level: str = ""
    path: list[TopologyDomain] = Field(default_factory=list)


class Decision(ApiModel):
    """The last scheduling decision, so a user can see how hard the solver worked and how sure it is."""

    time: datetime
    solver_status: SolverStatus
    objective: float | None = None
    bound: float | None = None
    gap: Annotated[float | None, Field(ge=0)] = None
    victims: NonNegativeInt32 = 0
    duration_seconds: Annotated[float, Field(ge=0)] = 0.0
    message: Annotated[str, Field(max_length=4096)] = ""


class PodGroupSpec(GroupPolicy):
    """What the group needs and how it may be disrupted. The template back-reference may be spelled either
    way (1.37's workloadRef, 1.36's podGroupTemplateRef.workload), so manifests move unchanged."""

    workload_ref: WorkloadReference | None = None
    pod_group_template_ref: PodGroupTemplateReference | None = None
    # Free capacity the cluster must have before the gang is tried (scheduler-plugins' coscheduling minResources).
    min_resources: dict[str, Annotated[Quantity, WithJsonSchema({"x-kubernetes-int-or-string": True})]] = Field(
        default_factory=dict
    )

    @field_validator("min_resources")
    @classmethod
    def _quantities(cls, raw: dict[str, Quantity]) -> dict[str, Quantity]:
        for name, value in raw.items():
            to_scheduler_units(name, value)  # raises QuantityError, a ValueError, naming the value
        return raw

    @model_validator(mode="after")
    def _one_template(self) -> Self:
        if self.workload_ref is not None and self.pod_group_template_ref is not None:
            spelled = self.pod_group_template_ref.workload
            if (spelled.workload_name, spelled.pod_group_template_name) != (
                self.workload_ref.workload_name,
                self.workload_ref.template_name,
            ):
                raise ValueError("workloadRef and podGroupTemplateRef.workload name different templates")
        return self

    @property
    def template(self) -> WorkloadReference | None:
        if self.workload_ref is not None or self.pod_group_template_ref is None:
            return self.workload_ref
        ref = self.pod_group_template_ref.workload
        return WorkloadReference(workload_name=ref.workload_name, template_name=ref.pod_group_template_name)


class PodGroupStatus(ApiModel):
    phase: PodGroupPhase = PodGroupPhase.PENDING
    observed_generation: NonNegativeInt32 | None = None
    scheduled: NonNegativeInt32 = 0
    running: NonNegativeInt32 = 0
    placement: Placement | None = None
    last_decision: Decision | None = None
    conditions: Annotated[
        list[Condition],
        Field(json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]}),
    ] = Field(default_factory=list)


@dataclass(frozen=True)
class GroupOrigin:
    """Where a group read from another API came from, and what its status may hold (api/upstream.py).

    Our own PodGroups have none. The engine never asks which API a gang came from; it reads the rules the
    origin carries: what may be written back, whether its pods must agree, what it cannot honour."""

    api_version: str  # group/version the object was read in, and is written back in
    condition: str | None  # the scheduling condition type its status carries; None: its status is not ours
    conditions: tuple[dict[str, Any], ...] = ()  # status.conditions as watched (the no-flip rule reads them)
    uniform_pods: bool = False  # upstream: pods disagreeing on priority, preemption or scheduler are an error
    refusal: str = ""  # a field that affects placement and that Phalanx does not honour: never scheduled

    @property
    def group(self) -> str:
        return self.api_version.split("/", 1)[0]


class PodGroup(ApiModel):
    KIND: ClassVar[str] = "PodGroup"
    PLURAL: ClassVar[str] = "podgroups"
    _origin: GroupOrigin | None = PrivateAttr(default=None)

    api_version: Literal["scheduling.phalanx.dev/v1alpha1"] = "scheduling.phalanx.dev/v1alpha1"
    kind: Literal["PodGroup"] = "PodGroup"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: PodGroupSpec
    status: PodGroupStatus | None = None

    @property
    def origin(self) -> GroupOrigin | None:
        """None for our own PodGroups; the API and its rules for one read from upstream or coscheduling."""
        return self._origin

    def read_from(self, origin: GroupOrigin) -> Self:
        self._origin = origin
        return self

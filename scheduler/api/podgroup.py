"""PodGroup: one gang (or basic group) of pods, and the status `kubectl get podgroups` shows."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, ClassVar, Literal

from pydantic import Field

from scheduler.api.base import ApiModel
from scheduler.api.meta import Condition, NonNegativeInt32, ObjectMeta
from scheduler.api.policy import GroupPolicy

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
    workload_name: Annotated[str, Field(min_length=1)]
    template_name: Annotated[str, Field(min_length=1)]


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
    workload_ref: WorkloadReference | None = None


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


class PodGroup(ApiModel):
    KIND: ClassVar[str] = "PodGroup"
    PLURAL: ClassVar[str] = "podgroups"

    api_version: Literal["scheduling.phalanx.dev/v1alpha1"] = "scheduling.phalanx.dev/v1alpha1"
    kind: Literal["PodGroup"] = "PodGroup"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: PodGroupSpec
    status: PodGroupStatus | None = None

"""PodGroups of other APIs, read into ours so the engine and the solver see one kind of group.

- Upstream Workload-Aware Scheduling, `scheduling.k8s.io`: v1alpha2 (1.36), v1alpha3 (1.37 beta.0) and
  v1beta1 (1.37). Their controllers (Job, JobSet, LeaderWorkerSet, TrainJob) stamp the PodGroups out of
  their Workloads, so a Workload is read only for what it says, never stamped by us.
- scheduler-plugins' coscheduling PodGroup, `scheduling.x-k8s.io/v1alpha1` (minMember, minResources).

Parsing is lenient: a field a newer release adds is kept, and if it is not known to be harmless the group is
refused with a condition naming it (`GroupOrigin.refusal`), never scheduled as if the field were absent. A
field that is present but malformed (minCount 0) fails validation as our own objects do, and the object is
reported as invalid.

Topology beyond upstream's one required key (Preferred levels, a second Required level) is asked for with our
annotations (api/policy.py), which upstream's controllers leave alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, ValidationError

from scheduler.api.base import LenientModel
from scheduler.api.meta import Int32, ObjectMeta, PositiveInt32
from scheduler.api.podgroup import (
    POD_GROUP_SCHEDULED,
    GroupOrigin,
    PodGroup,
    PodGroupSpec,
    PodGroupStatus,
    WorkloadReference,
)
from scheduler.api.policy import (
    BasicSchedulingPolicy,
    DisruptionMode,
    GangSchedulingPolicy,
    PreemptionPolicy,
    SchedulingPolicy,
    topology_from_annotations,
)
from scheduler.api.quantity import Quantity

UPSTREAM_GROUP = "scheduling.k8s.io"
UPSTREAM_VERSIONS = ("v1beta1", "v1alpha3", "v1alpha2")  # the newest a server serves is the one read
COSCHEDULING_GROUP = "scheduling.x-k8s.io"
COSCHEDULING_VERSION = "v1alpha1"
COSCHEDULING_API_VERSION = f"{COSCHEDULING_GROUP}/{COSCHEDULING_VERSION}"
# 1.37 renamed the condition (kubernetes/kubernetes#139743) and documented that it never goes back to False.
INITIALLY_SCHEDULED = "PodGroupInitiallyScheduled"
CONDITION_TYPE = {"v1alpha2": POD_GROUP_SCHEDULED, "v1alpha3": INITIALLY_SCHEDULED, "v1beta1": INITIALLY_SCHEDULED}
# Our own status for a group whose status belongs to another API: phase, placement and the last decision, as
# JSON, so `phalanx explain` and the cache read it back.
STATUS_ANNOTATION = "scheduling.phalanx.dev/status"

_UNSUPPORTED = {
    "resourceClaims": "PodGroup-level Dynamic Resource Allocation claims",
    "parentCompositePodGroupName": "a member of a CompositePodGroup",
}


class _TopologyConstraint(LenientModel):
    key: Annotated[str, Field(min_length=1)]


class _Constraints(LenientModel):
    topology: Annotated[list[_TopologyConstraint], Field(max_length=1)] | None = None


class _Gang(LenientModel):
    min_count: PositiveInt32


class _Policy(LenientModel):
    basic: dict[str, Any] | None = None
    gang: _Gang | None = None


class _WorkloadRef(LenientModel):  # 1.37
    workload_name: str
    template_name: str


class _TemplateWorkloadRef(LenientModel):  # 1.36
    workload_name: str
    pod_group_template_name: str


class _TemplateRef(LenientModel):
    workload: _TemplateWorkloadRef | None = None


class _UpstreamSpec(LenientModel):
    scheduling_policy: _Policy
    scheduling_constraints: _Constraints | None = None
    pod_group_template_ref: _TemplateRef | None = None
    workload_ref: _WorkloadRef | None = None
    priority_class_name: str | None = None
    priority: Int32 | None = None
    disruption_mode: Any = None
    preemption_policy: PreemptionPolicy | None = None
    resource_claims: list[dict[str, Any]] | None = None
    parent_composite_pod_group_name: str | None = None


class _UpstreamPodGroup(LenientModel):
    api_version: str
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: _UpstreamSpec
    status: dict[str, Any] | None = None


class _UpstreamTemplate(LenientModel):
    name: Annotated[str, Field(min_length=1)]
    scheduling_policy: _Policy
    scheduling_constraints: _Constraints | None = None


class _UpstreamWorkloadSpec(LenientModel):
    controller_ref: dict[str, Any] | None = None
    pod_group_templates: Annotated[list[_UpstreamTemplate], Field(max_length=8)] | None = None


class UpstreamWorkload(LenientModel):
    """An upstream Workload, read for what it says (its controller, its templates); never stamped out by us:
    the controller that made it creates its PodGroups."""

    api_version: str
    kind: Literal["Workload"] = "Workload"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: _UpstreamWorkloadSpec


class _CoschedulingSpec(LenientModel):
    min_member: Annotated[int, Field(ge=0)] = 0
    min_resources: dict[str, Quantity] = Field(default_factory=dict)
    # Honoured by construction: coscheduling holds a partial gang at Permit until this runs out; Phalanx
    # places a gang whole in one decision, so no pod of it is ever held waiting for the others.
    schedule_timeout_seconds: Annotated[int, Field(ge=0)] | None = None


class _CoschedulingPodGroup(LenientModel):
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: _CoschedulingSpec = Field(default_factory=_CoschedulingSpec)


def is_foreign(api_version: str) -> bool:
    """A PodGroup apiVersion this module reads (not ours)."""
    group = api_version.split("/", 1)[0]
    return group in (UPSTREAM_GROUP, COSCHEDULING_GROUP)


def read_pod_group(body: Mapping[str, Any]) -> PodGroup:
    """An upstream or coscheduling PodGroup as ours, its origin attached; ValidationError if malformed."""
    api_version = str(body.get("apiVersion", ""))
    group, _, version = api_version.partition("/")
    if group == COSCHEDULING_GROUP:
        return _from_coscheduling(_CoschedulingPodGroup.model_validate(body), api_version)
    if group != UPSTREAM_GROUP or version not in CONDITION_TYPE:
        raise ValueError(f"not a PodGroup API Phalanx reads: {api_version!r}")
    return _from_upstream(_UpstreamPodGroup.model_validate(body), version)


def _from_upstream(obj: _UpstreamPodGroup, version: str) -> PodGroup:
    spec = obj.spec
    refusal = _refusal(spec)
    gang = spec.scheduling_policy.gang
    policy = SchedulingPolicy(  # exactly one of the two, or ValidationError, as for our own groups
        basic=BasicSchedulingPolicy() if spec.scheduling_policy.basic is not None else None,
        gang=GangSchedulingPolicy(min_count=gang.min_count) if gang is not None else None,
    )
    required = [c.key for c in (spec.scheduling_constraints.topology or [])] if spec.scheduling_constraints else []
    mode = spec.disruption_mode if spec.disruption_mode is not None else DisruptionMode.POD  # checked by ours
    ours = PodGroupSpec(
        scheduling_policy=policy,
        scheduling_constraints=topology_from_annotations(obj.metadata.annotations, required),
        priority_class_name=spec.priority_class_name or None,
        priority=spec.priority,
        disruption_mode=mode,
        preemption_policy=spec.preemption_policy or PreemptionPolicy.PREEMPT_LOWER_PRIORITY,
        workload_ref=_template(spec),
    )
    status = obj.status or {}
    origin = GroupOrigin(
        api_version=obj.api_version,
        condition=CONDITION_TYPE[version],
        conditions=tuple(c for c in status.get("conditions") or [] if isinstance(c, dict)),
        uniform_pods=True,
        refusal=refusal,
    )
    return PodGroup(metadata=obj.metadata, spec=ours, status=_our_status(obj.metadata)).read_from(origin)


def _from_coscheduling(obj: _CoschedulingPodGroup, api_version: str) -> PodGroup:
    spec = obj.spec
    refusal = next((_refused(f"spec.{k}", k) for k in sorted(spec.model_extra or {})), "")
    ours = PodGroupSpec(
        scheduling_policy=SchedulingPolicy(gang=GangSchedulingPolicy(min_count=max(1, spec.min_member))),
        scheduling_constraints=topology_from_annotations(obj.metadata.annotations),
        min_resources=dict(spec.min_resources),
    )
    # scheduler-plugins' own controller writes this object's status: ours goes to the annotation only.
    origin = GroupOrigin(api_version=api_version, condition=None, refusal=refusal)
    return PodGroup(metadata=obj.metadata, spec=ours, status=_our_status(obj.metadata)).read_from(origin)


def _template(spec: _UpstreamSpec) -> WorkloadReference | None:
    if spec.workload_ref is not None:
        return WorkloadReference(
            workload_name=spec.workload_ref.workload_name, template_name=spec.workload_ref.template_name
        )
    ref = spec.pod_group_template_ref.workload if spec.pod_group_template_ref else None
    if ref is None:
        return None
    return WorkloadReference(workload_name=ref.workload_name, template_name=ref.pod_group_template_name)


def _refusal(spec: _UpstreamSpec) -> str:
    """The first field, in wire order, that would change placement and that Phalanx does not honour."""
    if spec.resource_claims:
        return _refused("spec.resourceClaims", "resourceClaims")
    if spec.parent_composite_pod_group_name:
        return _refused("spec.parentCompositePodGroupName", "parentCompositePodGroupName")
    return _unknown("spec", spec)


def _unknown(path: str, model: BaseModel) -> str:
    for key in sorted(model.model_extra or {}):
        return _refused(f"{path}.{key}", key)
    for name, info in type(model).model_fields.items():
        value = getattr(model, name)
        items = value if isinstance(value, list) else [value]
        for index, item in enumerate(items):
            if isinstance(item, BaseModel):
                alias = info.alias or name
                where = f"{path}.{alias}[{index}]" if isinstance(value, list) else f"{path}.{alias}"
                if found := _unknown(where, item):
                    return found
    return ""


def _refused(path: str, field: str) -> str:
    what = _UNSUPPORTED.get(field)
    detail = f" ({what})" if what else ""
    return f"{path}{detail} is not supported by Phalanx: it affects placement, so the group is not scheduled"


def _our_status(metadata: ObjectMeta) -> PodGroupStatus | None:
    """Our status as last written to the annotation; None when absent or not ours to read (hand-edited)."""
    raw = metadata.annotations.get(STATUS_ANNOTATION)
    if not raw:
        return None
    try:
        return PodGroupStatus.model_validate_json(raw)
    except ValidationError:
        return None

"""Gangs for workload controllers: which Job, JobSet or LeaderWorkerSet becomes a Workload, and which PodGroup
each of their pods belongs to, without editing a pod.

The same pure functions serve both sides: the operator creates the Workload a controller object implies, and
the scheduler's cache resolves a pod to its PodGroup by walking the pod's owner chain (pod -> Job -> JobSet,
or pod -> StatefulSet -> leader pod -> StatefulSet -> LeaderWorkerSet) through the objects it has seen. A pod
whose owner has not been seen yet waits rather than being scheduled alone, so a gang is never split by a race
between two watches.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from pydantic import ValidationError

from scheduler.api.controllers import (
    JOBSET_JOB_INDEX_LABEL,
    JOBSET_REPLICATED_JOB_LABEL,
    LWS_GROUP_INDEX_LABEL,
    Job,
    JobSet,
    LeaderWorkerSet,
    Owned,
    controller_of,
)
from scheduler.api.meta import ObjectMeta
from scheduler.api.policy import (
    DisruptionMode,
    GangSchedulingPolicy,
    SchedulingPolicy,
    topology_from_annotations,
)
from scheduler.api.workload import PodGroupTemplate, TypedLocalObjectReference, Workload, WorkloadSpec

# On the controller object. `gang: "false"` opts out; `"true"` opts a non-indexed Job in.
GANG_ANNOTATION = "scheduling.phalanx.dev/gang"
# On a JobSet: one gang for the whole JobSet (default), one per replicated job, or one per child Job.
GANG_SCOPE_ANNOTATION = "scheduling.phalanx.dev/gang-scope"
GANG_SCOPES = ("JobSet", "ReplicatedJob", "Job")
# On the generated Workload, so the operator only ever deletes what it made.
INTEGRATION_LABEL = "scheduling.phalanx.dev/integration"

# Upstream's own integrations (KEP-5547 for Job) write the Workload and PodGroups and set each pod's
# schedulingGroup: a second gang of ours for the same pods would only sit empty beside theirs.
UPSTREAM_GANG = "gang scheduled through upstream's Workload API (spec.scheduling or schedulingGroup)"
MAX_OWNER_DEPTH = 6
WAITING = "waiting for"  # how a hold that time will resolve begins (an owner not seen yet)
_LABEL_VALUE_MAX = 63  # the Workload's name is also a label value on its PodGroups
_SUFFIX = {"Job": "job", "JobSet": "jobset", "LeaderWorkerSet": "lws"}
_API_GROUP = {"Job": "batch", "JobSet": "jobset.x-k8s.io", "LeaderWorkerSet": "leaderworkerset.x-k8s.io"}


def owner_id(kind: str, namespace: str, name: str) -> str:
    return f"{kind}/{namespace}/{name}"


@dataclass(frozen=True)
class GangPlan:
    """The Workload a controller object implies, and how its pods pick one of the Workload's PodGroups."""

    workload: Workload
    template_label: str | None = None  # pod label naming the template (one per replicated job)
    index_label: str | None = None  # pod label naming the replica (one group per child Job, per LWS group)

    def group_for(self, labels: Mapping[str, str]) -> tuple[str | None, str]:
        """(PodGroup name, "") or (None, why the pod cannot be placed in a group)."""
        templates = {t.name: t for t in self.workload.spec.pod_group_templates}
        name = next(iter(templates)) if self.template_label is None else labels.get(self.template_label, "")
        template = templates.get(name)
        if template is None:
            workload = self.workload.metadata.name
            return None, f"label {self.template_label}={name!r} names no group of Workload {workload}"
        if template.replicas == 1:
            return self.workload.pod_group_name(template), ""
        raw = labels.get(self.index_label or "", "")
        index = int(raw) if raw.isdigit() else -1
        if not 0 <= index < template.replicas:
            return None, f"label {self.index_label}={raw!r} is not an index below {template.replicas}"
        return self.workload.pod_group_name(template, index), ""


@dataclass(frozen=True)
class OwnerRecord:
    """A controller object as the cache keeps it: identity, its own controller, and the gang it implies.

    Records compare equal when nothing that decides membership changed, so status-only updates of a busy Job
    cost the cache nothing.
    """

    kind: str
    namespace: str
    name: str
    uid: str
    owner: tuple[str, str, str] | None = None  # (kind, name, uid) of its controller
    gang: GangPlan | None = None  # set on integrated roots
    problem: str = ""  # an integrated root that cannot be honoured as written: its pods wait, saying this
    note: str = field(default="", compare=False)  # why it is (not) gang scheduled, for the log

    @property
    def id(self) -> str:
        return owner_id(self.kind, self.namespace, self.name)

    @property
    def integrated(self) -> bool:
        return self.gang is not None or bool(self.problem)


@dataclass(frozen=True)
class Membership:
    group: str | None = None
    held: str = ""  # why the pod waits instead of being scheduled (owner unseen, bad annotations)
    chain: tuple[str, ...] = ()  # the owner ids this answer depends on


def record_for(body: Mapping[str, Any], scheduler_name: str) -> OwnerRecord:
    """Parse a watched object into its record (the kind comes from the body)."""
    kind = body.get("kind", "")
    if kind == "Job":
        return _job_record(Job.model_validate(body), scheduler_name)
    if kind == "JobSet":
        return _jobset_record(JobSet.model_validate(body), scheduler_name)
    if kind == "LeaderWorkerSet":
        return _lws_record(LeaderWorkerSet.model_validate(body), scheduler_name)
    return owner_record(kind, Owned.model_validate(body).metadata)


def left_to_upstream(record: OwnerRecord) -> OwnerRecord:
    """The record of an object an upstream Workload names as its controller (1.36's Job controller makes one
    for an Indexed Job without any field on the Job saying so): its pods are upstream's gang, not ours."""
    return replace(record, gang=None, problem="", note=UPSTREAM_GANG) if record.integrated else record


def owner_record(kind: str, metadata: ObjectMeta) -> OwnerRecord:
    """A record of identity and owner only: an object on the way from a pod to its root."""
    return _base(kind, metadata)


def resolve(
    namespace: str,
    metadata: ObjectMeta,
    lookup: Callable[[str], OwnerRecord | None],
    followed: Mapping[str, bool | None],
) -> Membership:
    """Walk a pod's controller chain through the kinds the cache follows; the topmost integrated root decides.

    `followed[kind]` is True when the kind is watched and listed, None while its first list is in flight
    (pods wait for their owner), False when the API is not installed (the chain ends there).
    """
    chain: list[str] = []
    root: OwnerRecord | None = None
    ref = controller_of(metadata)
    owner: tuple[str, str, str] | None = (ref.kind, ref.name, ref.uid) if ref else None
    for _ in range(MAX_OWNER_DEPTH):
        if owner is None or followed.get(owner[0], False) is False:
            break
        kind, name, uid = owner
        oid = owner_id(kind, namespace, name)
        chain.append(oid)
        record = lookup(oid)
        if record is None or (uid and record.uid and record.uid != uid):
            # Not seen yet (or a same-named successor): wait for it rather than schedule the pod alone.
            return Membership(held=f"{WAITING} its owner {kind} {name} to be seen", chain=tuple(chain))
        if record.integrated:
            root = record
        owner = record.owner
    if root is None:
        return Membership(chain=tuple(chain))
    if root.problem:
        return Membership(held=f"{root.kind} {root.name}: {root.problem}", chain=tuple(chain))
    assert root.gang is not None
    group, why = root.gang.group_for(metadata.labels)
    return Membership(group=group, held=why and f"{root.kind} {root.name}: {why}", chain=tuple(chain))


# Records -----------------------------------------------------------------------------------------------------


def _base(kind: str, metadata: ObjectMeta, note: str = "") -> OwnerRecord:
    ref = controller_of(metadata)
    return OwnerRecord(
        kind=kind,
        namespace=metadata.namespace or "default",
        name=metadata.name,
        uid=metadata.uid or "",
        owner=(ref.kind, ref.name, ref.uid) if ref else None,
        note=note,
    )


def _job_record(job: Job, scheduler_name: str) -> OwnerRecord:
    meta = job.metadata
    owner = controller_of(meta)
    if owner is not None and owner.kind == "JobSet":
        return _base("Job", meta, "part of a JobSet")
    if job.spec.template.spec.scheduler_name != scheduler_name:
        return _base("Job", meta, f"its pods use scheduler {job.spec.template.spec.scheduler_name!r}")
    if "scheduling" in (job.spec.model_extra or {}) or job.spec.template.spec.scheduling_group is not None:
        return _base("Job", meta, UPSTREAM_GANG)
    choice = meta.annotations.get(GANG_ANNOTATION)
    size = job.spec.pods_at_once
    indexed = job.spec.completion_mode == "Indexed"
    if choice not in (None, "true", "false"):
        return _problem("Job", meta, f"annotation {GANG_ANNOTATION}={choice!r} must be true or false")
    if choice == "false":
        return _base("Job", meta, f"opted out by {GANG_ANNOTATION}=false")
    if (size < 2 and choice != "true") or size < 1:
        return _base("Job", meta, f"runs {size} pod(s) at a time")
    if choice != "true" and not indexed:
        return _base("Job", meta, f"not Indexed (opt in with {GANG_ANNOTATION}=true)")
    template = job.spec.template
    return _integrated("Job", meta, [("gang", size, 1)], template.metadata.annotations, GangPlan)


def _jobset_record(jobset: JobSet, scheduler_name: str) -> OwnerRecord:
    meta = jobset.metadata
    choice = meta.annotations.get(GANG_ANNOTATION)
    scope = meta.annotations.get(GANG_SCOPE_ANNOTATION, "JobSet")
    if choice not in (None, "true", "false"):
        return _problem("JobSet", meta, f"annotation {GANG_ANNOTATION}={choice!r} must be true or false")
    if scope not in GANG_SCOPES:
        return _problem("JobSet", meta, f"annotation {GANG_SCOPE_ANNOTATION}={scope!r} must be one of {GANG_SCOPES}")
    if choice == "false":
        return _base("JobSet", meta, f"opted out by {GANG_ANNOTATION}=false")
    if "scheduling" in (jobset.spec.model_extra or {}) or any(
        rj.template.spec.template.spec.scheduling_group is not None for rj in jobset.spec.replicated_jobs
    ):
        return _base("JobSet", meta, UPSTREAM_GANG)
    ours = [
        rj
        for rj in jobset.spec.replicated_jobs
        if rj.template.spec.template.spec.scheduler_name == scheduler_name
        and rj.replicas > 0
        and rj.template.spec.pods_at_once > 0
    ]
    if not ours:
        return _base("JobSet", meta, "none of its replicated jobs uses this scheduler")
    if scope == "JobSet":
        total = sum(rj.replicas * rj.template.spec.pods_at_once for rj in ours)
        return _integrated("JobSet", meta, [("gang", total, 1)], {}, GangPlan)
    if scope == "ReplicatedJob":
        shapes = [(rj.name, rj.replicas * rj.template.spec.pods_at_once, 1) for rj in ours]
        return _integrated(
            "JobSet", meta, shapes, {}, lambda w: GangPlan(w, template_label=JOBSET_REPLICATED_JOB_LABEL)
        )
    shapes = [(rj.name, rj.template.spec.pods_at_once, rj.replicas) for rj in ours]
    return _integrated(
        "JobSet",
        meta,
        shapes,
        {},
        lambda w: GangPlan(w, template_label=JOBSET_REPLICATED_JOB_LABEL, index_label=JOBSET_JOB_INDEX_LABEL),
    )


def _lws_record(lws: LeaderWorkerSet, scheduler_name: str) -> OwnerRecord:
    meta = lws.metadata
    lwt = lws.spec.leader_worker_template
    choice = meta.annotations.get(GANG_ANNOTATION)
    schedulers = {lwt.worker_template.spec.scheduler_name} | (
        {lwt.leader_template.spec.scheduler_name} if lwt.leader_template else set()
    )
    if choice not in (None, "true", "false"):
        return _problem("LeaderWorkerSet", meta, f"annotation {GANG_ANNOTATION}={choice!r} must be true or false")
    if choice == "false":
        return _base("LeaderWorkerSet", meta, f"opted out by {GANG_ANNOTATION}=false")
    if schedulers != {scheduler_name}:
        return _base("LeaderWorkerSet", meta, f"its pods use scheduler(s) {sorted(schedulers)}")
    templates = [lwt.worker_template, *([lwt.leader_template] if lwt.leader_template else [])]
    if any(t.spec.scheduling_group is not None for t in templates):
        return _base("LeaderWorkerSet", meta, UPSTREAM_GANG)
    if lws.spec.startup_policy == "LeaderReady":
        # Workers are created only once the leader runs: a gang of leader and workers would wait forever.
        return _base("LeaderWorkerSet", meta, "startupPolicy LeaderReady creates workers after the leader runs")
    if lws.spec.replicas < 1:
        return _base("LeaderWorkerSet", meta, "scaled to zero")
    return _integrated(
        "LeaderWorkerSet",
        meta,
        [("group", lwt.size, lws.spec.replicas)],
        {},
        lambda w: GangPlan(w, index_label=LWS_GROUP_INDEX_LABEL),
    )


def _problem(kind: str, metadata: ObjectMeta, problem: str) -> OwnerRecord:
    base = _base(kind, metadata, problem)
    return OwnerRecord(base.kind, base.namespace, base.name, base.uid, base.owner, problem=problem, note=problem)


def _integrated(
    kind: str,
    metadata: ObjectMeta,
    shapes: list[tuple[str, int, int]],
    template_annotations: Mapping[str, str],
    plan: Callable[[Workload], GangPlan],
) -> OwnerRecord:
    """A root whose pods form gangs: `shapes` are (template name, minCount, replicas)."""
    annotations = {**template_annotations, **metadata.annotations}
    try:
        constraints = topology_from_annotations(annotations)
        templates = [
            PodGroupTemplate(
                name=name,
                replicas=replicas,
                scheduling_policy=SchedulingPolicy(gang=GangSchedulingPolicy(min_count=size)),
                scheduling_constraints=constraints,
                # Evicting one pod of a training job stops all of it: preempt such gangs whole or not at all.
                disruption_mode=DisruptionMode.POD_GROUP,
            )
            for name, size, replicas in shapes
        ]
    except (ValidationError, ValueError) as exc:
        return _problem(kind, metadata, _first_error(exc))
    namespace = metadata.namespace or "default"
    workload = Workload(
        metadata=ObjectMeta(
            name=workload_name(metadata.name, kind),
            namespace=namespace,
            labels={INTEGRATION_LABEL: _SUFFIX[kind]},
        ),
        spec=WorkloadSpec(
            controller_ref=TypedLocalObjectReference(api_group=_API_GROUP[kind], kind=kind, name=metadata.name),
            pod_group_templates=templates,
        ),
    )
    base = _base(kind, metadata)
    sizes = ", ".join(f"{n} x{r} of {s}" if r > 1 else f"{n} of {s}" for n, s, r in shapes)
    return OwnerRecord(base.kind, base.namespace, base.name, base.uid, base.owner, gang=plan(workload), note=sizes)


def workload_name(name: str, kind: str) -> str:
    """`<name>-<kind>`, kept within a label value (a hash keeps long names distinct)."""
    suffix = _SUFFIX[kind]
    full = f"{name}-{suffix}"
    if len(full) <= _LABEL_VALUE_MAX:
        return full
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    keep = _LABEL_VALUE_MAX - len(suffix) - len(digest) - 2
    return f"{name[:keep].rstrip('-.')}-{digest}-{suffix}"


def _first_error(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        error = exc.errors()[0]
        return str(error.get("ctx", {}).get("error") or error["msg"])
    return str(exc)

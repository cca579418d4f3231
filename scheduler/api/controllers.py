"""The slices of workload controllers' objects that gang integration reads: Job, JobSet, LeaderWorkerSet.

Only the fields that decide a gang (sizes, scheduler name, annotations, owner) are modelled; everything else
is the controller's business and ignored, so newer API versions with more fields still parse.
"""

from __future__ import annotations

from typing import Annotated, ClassVar

from pydantic import Field

from scheduler.api.base import LenientModel
from scheduler.api.core import PodSpec
from scheduler.api.meta import ObjectMeta, OwnerReference

JOB_API = ("batch", "v1", "jobs")
STATEFULSET_API = ("apps", "v1", "statefulsets")
JOBSET_API = ("jobset.x-k8s.io", "v1alpha2", "jobsets")
LWS_API = ("leaderworkerset.x-k8s.io", "v1", "leaderworkersets")

# Labels the controllers put on every pod they create (JobSet and LWS upstream), read to pick a pod's gang.
JOBSET_NAME_LABEL = "jobset.sigs.k8s.io/jobset-name"
JOBSET_REPLICATED_JOB_LABEL = "jobset.sigs.k8s.io/replicatedjob-name"
JOBSET_JOB_INDEX_LABEL = "jobset.sigs.k8s.io/job-index"
LWS_NAME_LABEL = "leaderworkerset.sigs.k8s.io/name"
LWS_GROUP_INDEX_LABEL = "leaderworkerset.sigs.k8s.io/group-index"


class PodTemplateSpec(LenientModel):
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: PodSpec = Field(default_factory=PodSpec)


class JobSpec(LenientModel):
    parallelism: Annotated[int, Field(ge=0)] | None = None
    completions: Annotated[int, Field(ge=0)] | None = None
    completion_mode: str | None = None
    suspend: bool | None = None
    template: PodTemplateSpec = Field(default_factory=PodTemplateSpec)

    @property
    def pods_at_once(self) -> int:
        """How many pods run together: parallelism (default 1), capped by completions when set."""
        parallelism = 1 if self.parallelism is None else self.parallelism
        return parallelism if self.completions is None else min(parallelism, self.completions)


class Job(LenientModel):
    KIND: ClassVar[str] = "Job"
    kind: str = "Job"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: JobSpec = Field(default_factory=JobSpec)


class JobTemplateSpec(LenientModel):
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: JobSpec = Field(default_factory=JobSpec)


class ReplicatedJob(LenientModel):
    name: Annotated[str, Field(min_length=1)]
    replicas: Annotated[int, Field(ge=0)] = 1
    template: JobTemplateSpec = Field(default_factory=JobTemplateSpec)


class JobSetSpec(LenientModel):
    replicated_jobs: list[ReplicatedJob] = Field(default_factory=list)
    suspend: bool | None = None


class JobSet(LenientModel):
    KIND: ClassVar[str] = "JobSet"
    kind: str = "JobSet"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: JobSetSpec = Field(default_factory=JobSetSpec)


class LeaderWorkerTemplate(LenientModel):
    size: Annotated[int, Field(ge=1)] = 1  # leader plus workers
    leader_template: PodTemplateSpec | None = None
    worker_template: PodTemplateSpec = Field(default_factory=PodTemplateSpec)


class LeaderWorkerSetSpec(LenientModel):
    replicas: Annotated[int, Field(ge=0)] = 1
    leader_worker_template: LeaderWorkerTemplate = Field(default_factory=LeaderWorkerTemplate)
    startup_policy: str = "LeaderCreated"


class LeaderWorkerSet(LenientModel):
    KIND: ClassVar[str] = "LeaderWorkerSet"
    kind: str = "LeaderWorkerSet"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: LeaderWorkerSetSpec = Field(default_factory=LeaderWorkerSetSpec)


class Owned(LenientModel):
    """Any object, for its identity and owner only (StatefulSets on the way from a pod to its LWS)."""

    kind: str = ""
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)


def controller_of(metadata: ObjectMeta) -> OwnerReference | None:
    """The managing owner (controller: true), as the garbage collector and kube-controller-manager read it."""
    return next((ref for ref in metadata.owner_references if ref.controller), None)

"""Workload: templates of pod groups for one application (upstream `scheduling.k8s.io` Workload)."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field, field_validator

from scheduler.api.base import ApiModel
from scheduler.api.meta import Condition, NonNegativeInt32, ObjectMeta
from scheduler.api.policy import GroupPolicy
from scheduler.api.validation import DNS1123_LABEL_MAX, DNS1123_LABEL_PATTERN, dns1123_label_error

GROUP = "scheduling.phalanx.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
# PodGroup names are `<workload>-<template>[-<index>]`; templates stamp out at most this many groups.
MAX_REPLICAS = 10_000


class TypedLocalObjectReference(ApiModel):
    """The object whose pods this Workload describes (a Job, JobSet, LeaderWorkerSet …); informational."""

    api_group: str = ""
    kind: Annotated[str, Field(min_length=1)]
    name: Annotated[str, Field(min_length=1)]


class PodGroupTemplate(GroupPolicy):
    name: Annotated[
        str, Field(min_length=1, max_length=DNS1123_LABEL_MAX, json_schema_extra={"pattern": DNS1123_LABEL_PATTERN})
    ]
    replicas: Annotated[int, Field(ge=1, le=MAX_REPLICAS)] = 1

    @field_validator("name")
    @classmethod
    def _name_is_a_label(cls, name: str) -> str:
        if err := dns1123_label_error(name):
            raise ValueError(f"template name {name!r} {err}")
        return name


class WorkloadSpec(ApiModel):
    controller_ref: TypedLocalObjectReference | None = None
    pod_group_templates: Annotated[
        list[PodGroupTemplate],
        Field(
            min_length=1,
            json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["name"]},
        ),
    ]

    @field_validator("pod_group_templates")
    @classmethod
    def _template_names_are_unique(cls, templates: list[PodGroupTemplate]) -> list[PodGroupTemplate]:
        seen: set[str] = set()
        for template in templates:
            if template.name in seen:
                raise ValueError(f"podGroupTemplates: name {template.name!r} is used more than once")
            seen.add(template.name)
        return templates


class WorkloadStatus(ApiModel):
    observed_generation: NonNegativeInt32 | None = None
    pod_groups: NonNegativeInt32 | None = None
    conditions: Annotated[
        list[Condition],
        Field(json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]}),
    ] = Field(default_factory=list)


class Workload(ApiModel):
    KIND: ClassVar[str] = "Workload"
    PLURAL: ClassVar[str] = "workloads"

    api_version: Literal["scheduling.phalanx.dev/v1alpha1"] = "scheduling.phalanx.dev/v1alpha1"
    kind: Literal["Workload"] = "Workload"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: WorkloadSpec
    status: WorkloadStatus | None = None

    def pod_group_names(self) -> list[tuple[PodGroupTemplate, str]]:
        """The PodGroups this Workload stamps out: `<workload>-<template>`, or `-<i>` suffixed for replicas."""
        return [
            (template, self.pod_group_name(template, i))
            for template in self.spec.pod_group_templates
            for i in range(template.replicas)
        ]

    def pod_group_name(self, template: PodGroupTemplate, index: int = 0) -> str:
        stem = f"{self.metadata.name}-{template.name}"
        return stem if template.replicas == 1 else f"{stem}-{index}"

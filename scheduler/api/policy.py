"""Scheduling policy and constraints shared by Workload templates and PodGroups.

Field names follow upstream `scheduling.k8s.io` (gang scheduling, KEP-4671) so manifests move both ways.
Phalanx extensions, marked as such in the README: an ordered list of topology constraints with a Required or
Preferred mode (upstream has one required key), `disruptionMode`, `preemptionPolicy`, `priority`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Annotated, Any, Self

from pydantic import ConfigDict, Field, WithJsonSchema, field_validator, model_validator

from scheduler.api.base import ApiModel
from scheduler.api.meta import Int32, PositiveInt32
from scheduler.api.validation import (
    DNS1123_SUBDOMAIN_MAX,
    DNS1123_SUBDOMAIN_PATTERN,
    LABEL_KEY_PATTERN,
    dns1123_subdomain_error,
    label_key_error,
)


class TopologyMode(StrEnum):
    REQUIRED = "Required"
    PREFERRED = "Preferred"


class DisruptionMode(StrEnum):
    """How a group may be disrupted: pod by pod, or only as a whole (all of its pods go, or none)."""

    POD = "Pod"
    POD_GROUP = "PodGroup"


def parse_disruption_mode(value: object) -> object:
    """Both upstream spellings: 1.36's string ("Pod" | "PodGroup") and 1.37's union ({single: {}} | {all: {}});
    anything else is left for the enum to refuse with a message naming the accepted forms."""
    if isinstance(value, dict):
        keys = set(value)
        if keys == {"single"} and value["single"] in ({}, None):
            return DisruptionMode.POD
        if keys == {"all"} and value["all"] in ({}, None):
            return DisruptionMode.POD_GROUP
        raise ValueError(
            f"disruptionMode {value!r} must be one of 'Pod', 'PodGroup', {{single: {{}}}} or {{all: {{}}}}"
        )
    return value


# A structural schema cannot type a field "string or object", so the field keeps what it is given and the enum
# of the four accepted values does the checking (the server still refuses a typo).
DISRUPTION_MODE_SCHEMA = WithJsonSchema(
    {
        "x-kubernetes-preserve-unknown-fields": True,
        "description": "Pod | PodGroup (1.36 spelling), or {single: {}} | {all: {}} (1.37 spelling)",
        "anyOf": [{"enum": ["Pod", "PodGroup"]}, {"enum": [{"single": {}}, {"all": {}}]}],
    }
)


class PreemptionPolicy(StrEnum):
    PREEMPT_LOWER_PRIORITY = "PreemptLowerPriority"
    NEVER = "Never"


class BasicSchedulingPolicy(ApiModel):
    """Each pod is scheduled on its own, as kube-scheduler would, but queued and reported as a group."""


class GangSchedulingPolicy(ApiModel):
    """All-or-nothing: at least `minCount` pods are placed together, or none is."""

    min_count: PositiveInt32


class SchedulingPolicy(ApiModel):
    """Exactly one of `basic` or `gang`."""

    model_config = ConfigDict(json_schema_extra={"oneOf": [{"required": ["basic"]}, {"required": ["gang"]}]})

    basic: BasicSchedulingPolicy | None = None
    gang: GangSchedulingPolicy | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        if (self.basic is None) == (self.gang is None):
            raise ValueError("exactly one of basic or gang must be set")
        return self

    @property
    def min_count(self) -> int:
        """Pods needed before any is placed: the gang's minCount, or 1 for basic groups."""
        return self.gang.min_count if self.gang else 1


# Patterns live only in the generated schema (the server enforces them); in Python the validators below give a
# message a user can act on instead of a regular expression.


class TopologyConstraint(ApiModel):
    """Keep the group's pods inside one domain of the level named by `key` (a node label key)."""

    key: Annotated[
        str,
        Field(min_length=1, max_length=DNS1123_SUBDOMAIN_MAX + 64, json_schema_extra={"pattern": LABEL_KEY_PATTERN}),
    ]
    mode: TopologyMode = TopologyMode.REQUIRED

    @field_validator("key")
    @classmethod
    def _key_is_a_label_key(cls, key: str) -> str:
        if err := label_key_error(key):
            raise ValueError(f"topology key {key!r} is not a valid label key: {err}")
        return key


class SchedulingConstraints(ApiModel):
    topology: Annotated[
        list[TopologyConstraint],
        Field(
            max_length=8,
            json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["key"]},
        ),
    ] = Field(default_factory=list)

    @field_validator("topology")
    @classmethod
    def _keys_are_unique(cls, topology: list[TopologyConstraint]) -> list[TopologyConstraint]:
        seen: set[str] = set()
        for constraint in topology:
            if constraint.key in seen:
                raise ValueError(f"topology key {constraint.key!r} is listed more than once")
            seen.add(constraint.key)
        return topology


class GroupPolicy(ApiModel):
    """The fields a PodGroup and a Workload's PodGroup template have in common."""

    scheduling_policy: SchedulingPolicy
    scheduling_constraints: SchedulingConstraints = Field(default_factory=SchedulingConstraints)
    priority_class_name: Annotated[
        str | None, Field(max_length=DNS1123_SUBDOMAIN_MAX, json_schema_extra={"pattern": DNS1123_SUBDOMAIN_PATTERN})
    ] = None
    priority: Int32 | None = None
    disruption_mode: Annotated[DisruptionMode, DISRUPTION_MODE_SCHEMA] = DisruptionMode.POD
    preemption_policy: PreemptionPolicy = PreemptionPolicy.PREEMPT_LOWER_PRIORITY

    _both_disruption_spellings = field_validator("disruption_mode", mode="before")(parse_disruption_mode)

    @field_validator("priority_class_name")
    @classmethod
    def _priority_class_is_a_name(cls, name: str | None) -> str | None:
        if name is not None and (err := dns1123_subdomain_error(name)):
            raise ValueError(f"priorityClassName {name!r} {err}")
        return name


# Topology where an object's own spec has nowhere to say it (a Job's, or an upstream PodGroup's Preferred and
# extra levels): one required key, preferred keys comma-separated, as Kueue's podset-required-topology.
REQUIRED_TOPOLOGY_ANNOTATION = "scheduling.phalanx.dev/required-topology"
PREFERRED_TOPOLOGY_ANNOTATION = "scheduling.phalanx.dev/preferred-topology"


def topology_from_annotations(annotations: Mapping[str, str], required: Sequence[str] = ()) -> SchedulingConstraints:
    """The constraints the annotations ask for, after the `required` keys the object's own spec names (a key
    named twice is kept once, Required winning). A key that is not a label key raises ValueError."""
    keys = [*required]
    if extra := annotations.get(REQUIRED_TOPOLOGY_ANNOTATION, "").strip():
        keys.append(extra)
    constraints = [TopologyConstraint(key=k, mode=TopologyMode.REQUIRED) for k in dict.fromkeys(keys)]
    for key in annotations.get(PREFERRED_TOPOLOGY_ANNOTATION, "").split(","):
        if key.strip() and key.strip() not in keys:
            keys.append(key.strip())
            constraints.append(TopologyConstraint(key=key.strip(), mode=TopologyMode.PREFERRED))
    return SchedulingConstraints(topology=constraints)


def policy_fields(policy: GroupPolicy) -> dict[str, Any]:
    """The shared policy fields of a template or group, for stamping one into the other."""
    return {name: getattr(policy, name) for name in GroupPolicy.model_fields}

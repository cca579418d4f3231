"""Seeded generators for scenario clusters and workloads, producing the same API objects users apply.

A generated cluster is zones x blocks x racks x nodes, node shapes drawn by weight; a generated workload is
`gangs` PodGroups (with their pods) drawn from weighted templates, arriving as a Poisson process from
`startSeconds` on. A scenario may list several workloads (a background that fills the cluster, then the gangs
that must make room in it, say). A template may give its gang's pods the constraints kube-scheduler honours
among them: required anti-affinity (at most one of the gang's pods per domain) and a DoNotSchedule spread.
"""

from __future__ import annotations

import random
from typing import Annotated, Any

from pydantic import Field, field_validator

from scheduler.api.base import ApiModel
from scheduler.api.core import Node, Pod, Taint
from scheduler.api.podgroup import POD_GROUP_LABEL, PodGroup
from scheduler.api.policy import DisruptionMode, TopologyConstraint
from scheduler.api.quantity import Quantity, to_scheduler_units
from scheduler.api.validation import label_key_error

ARRIVAL = "sim.phalanx.dev/arrival-seconds"  # on a Pod (its job arrives) or a Node (it joins)
RUN = "sim.phalanx.dev/run-seconds"
REMOVAL = "sim.phalanx.dev/removal-seconds"  # on a Node: when it leaves the cluster
ZONE, BLOCK, RACK, HOST = (
    "topology.kubernetes.io/zone",
    "network.phalanx.dev/block",
    "network.phalanx.dev/rack",
    "kubernetes.io/hostname",
)


def _quantities(raw: dict[str, Quantity]) -> dict[str, Quantity]:
    for name, value in raw.items():
        to_scheduler_units(name, value)
    return raw


def _label_key(key: str | None) -> str | None:
    if key is not None and (err := label_key_error(key)):
        raise ValueError(f"topology key {key!r} is not a valid label key: {err}")
    return key


class NodeShape(ApiModel):
    name: str
    weight: Annotated[float, Field(gt=0)] = 1.0
    allocatable: dict[str, Quantity]
    labels: dict[str, str] = Field(default_factory=dict)
    taints: list[Taint] = Field(default_factory=list)

    _check = field_validator("allocatable")(_quantities)


class ClusterGenerator(ApiModel):
    zones: Annotated[int, Field(ge=1, le=64)] = 1
    blocks_per_zone: Annotated[int, Field(ge=1, le=256)] = 1
    racks_per_block: Annotated[int, Field(ge=1, le=1024)] = 1
    nodes_per_rack: Annotated[int, Field(ge=1, le=1024)] = 1
    shapes: Annotated[list[NodeShape], Field(min_length=1)]
    seed: int = 0

    def nodes(self) -> list[Node]:
        rng = random.Random(self.seed)
        weights = [s.weight for s in self.shapes]
        out = []
        for z in range(self.zones):
            for b in range(self.blocks_per_zone):
                for r in range(self.racks_per_block):
                    shape = rng.choices(self.shapes, weights)[0]  # racks are homogeneous, as they are built
                    for n in range(self.nodes_per_rack):
                        name = f"z{z}-b{b}-r{r}-n{n}"
                        labels = {
                            ZONE: f"zone-{z}",
                            BLOCK: f"z{z}-block-{b}",
                            RACK: f"z{z}-b{b}-rack-{r}",
                            HOST: name,
                            **shape.labels,
                        }
                        out.append(shape_node(name, labels, shape))
        return out


def shape_node(name: str, labels: dict[str, str], shape: NodeShape) -> Node:
    return Node.model_validate(
        {
            "metadata": {"name": name, "labels": labels},
            "spec": {"taints": [t.model_dump(by_alias=True, exclude_none=True) for t in shape.taints]},
            "status": {"allocatable": shape.allocatable, "conditions": [{"type": "Ready", "status": "True"}]},
        }
    )


class Spread(ApiModel):
    """A DoNotSchedule topology spread over the gang's own pods."""

    key: Annotated[str, Field(min_length=1)]
    max_skew: Annotated[int, Field(ge=1)] = 1

    _check = field_validator("key")(_label_key)


class GangTemplate(ApiModel):
    name: str
    weight: Annotated[float, Field(gt=0)] = 1.0
    sizes: Annotated[list[Annotated[int, Field(ge=1, le=10_000)]], Field(min_length=1)]
    requests: dict[str, Quantity]
    launcher: dict[str, Quantity] | None = None  # one extra pod of another shape (e.g. an MPI launcher)
    priority_class_name: str | None = None
    disruption_mode: DisruptionMode = DisruptionMode.POD
    topology: list[TopologyConstraint] = Field(default_factory=list)
    tolerations: list[dict[str, Any]] = Field(default_factory=list)
    anti_affinity: str | None = None  # a topology key: at most one of the gang's pods per domain of it
    spread: Spread | None = None
    duration_seconds: Annotated[list[Annotated[float, Field(gt=0)]], Field(min_length=2, max_length=2)] = Field(
        default_factory=lambda: [600.0, 3600.0]
    )

    _check = field_validator("requests")(_quantities)
    _check_key = field_validator("anti_affinity")(_label_key)

    @field_validator("duration_seconds")
    @classmethod
    def _ordered(cls, value: list[float]) -> list[float]:
        if value[0] > value[1]:
            raise ValueError("durationSeconds is [min, max] with min <= max")
        return value


class WorkloadGenerator(ApiModel):
    seed: int = 0
    gangs: Annotated[int, Field(ge=1, le=100_000)]
    start_seconds: Annotated[float, Field(ge=0)] = 0.0
    mean_interarrival_seconds: Annotated[float, Field(ge=0)] = 60.0
    namespace: str = "default"
    templates: Annotated[list[GangTemplate], Field(min_length=1)]

    def objects(self) -> tuple[list[PodGroup], list[Pod]]:
        rng = random.Random(self.seed)
        weights = [t.weight for t in self.templates]
        groups: list[PodGroup] = []
        pods: list[Pod] = []
        now = self.start_seconds
        for i in range(self.gangs):
            template = rng.choices(self.templates, weights)[0]
            # A Poisson process: the first arrival too comes after an exponential wait, after whatever the
            # scenario lists explicitly at t=0.
            now += rng.expovariate(1 / self.mean_interarrival_seconds) if self.mean_interarrival_seconds else 0
            size = rng.choice(template.sizes)
            duration = rng.uniform(*template.duration_seconds)
            name = f"{template.name}-{i:05d}"
            count = size + (1 if template.launcher else 0)
            groups.append(_group(name, self.namespace, template, count))
            annotations = {ARRIVAL: f"{now:.3f}", RUN: f"{duration:.3f}"}
            shapes = [template.requests] * size + ([template.launcher] if template.launcher else [])
            for j, requests in enumerate(shapes):
                pods.append(_pod(f"{name}-{j}", self.namespace, name, template, requests, annotations))
        return groups, pods


def _group(name: str, namespace: str, template: GangTemplate, count: int) -> PodGroup:
    spec: dict[str, Any] = {
        "schedulingPolicy": {"gang": {"minCount": count}} if count > 1 else {"basic": {}},
        "disruptionMode": template.disruption_mode.value,
        "schedulingConstraints": {"topology": [c.to_wire() for c in template.topology]},
    }
    if template.priority_class_name:
        spec["priorityClassName"] = template.priority_class_name
    return PodGroup.model_validate({"metadata": {"name": name, "namespace": namespace}, "spec": spec})


def _pod(
    name: str,
    namespace: str,
    group: str,
    template: GangTemplate,
    requests: dict[str, Quantity],
    annotations: dict[str, str],
) -> Pod:
    spec: dict[str, Any] = {
        "schedulerName": "phalanx",
        "containers": [{"name": "main", "resources": {"requests": requests}}],
        "tolerations": template.tolerations,
    }
    # Selectors name the gang's own pods by their PodGroup label, so the rules hold among them alone.
    selector = {"matchLabels": {POD_GROUP_LABEL: group}}
    if template.anti_affinity:
        term = {"labelSelector": selector, "topologyKey": template.anti_affinity}
        spec["affinity"] = {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term]}}
    if template.spread is not None:
        spec["topologySpreadConstraints"] = [
            {
                "maxSkew": template.spread.max_skew,
                "topologyKey": template.spread.key,
                "whenUnsatisfiable": "DoNotSchedule",
                "labelSelector": selector,
            }
        ]
    if template.priority_class_name:
        spec["priorityClassName"] = template.priority_class_name
    return Pod.model_validate(
        {
            "metadata": {
                "name": name,
                "namespace": namespace,
                "labels": {POD_GROUP_LABEL: group},
                "annotations": annotations,
            },
            "spec": spec,
        }
    )

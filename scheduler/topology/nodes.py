"""Stripped nodes: only what scheduling reads, so a heartbeat (status timestamps, images, conditions other than
Ready) compares equal and does not rebuild the topology tree."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from scheduler.api.core import Node


@dataclass(frozen=True, slots=True)
class TaintInfo:
    key: str
    value: str
    effect: str  # NoSchedule | PreferNoSchedule | NoExecute


@dataclass(frozen=True, slots=True)
class NodeInfo:
    name: str
    labels: Mapping[str, str]
    allocatable: Mapping[str, int]
    taints: tuple[TaintInfo, ...] = ()
    unschedulable: bool = False
    ready: bool = True

    def __hash__(self) -> int:
        return hash((self.name, tuple(sorted(self.labels.items())), tuple(sorted(self.allocatable.items()))))


def strip_node(node: Node) -> NodeInfo:
    """The scheduling-relevant slice of a Node (labels, taints, allocatable, unschedulable, readiness)."""
    return NodeInfo(
        name=node.metadata.name,
        labels=dict(node.metadata.labels),
        allocatable=node.allocatable(),
        taints=tuple(TaintInfo(t.key, t.value, t.effect.value) for t in node.spec.taints),
        unschedulable=node.spec.unschedulable,
        ready=node.ready,
    )

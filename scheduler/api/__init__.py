"""Phalanx's API: the Workload and PodGroup resources, the core objects scheduling reads, CRD generation.

Pure data: no I/O, importable by every other layer.
"""

from scheduler.api.conditions import find_condition, is_condition_true, make_condition, set_condition
from scheduler.api.core import Node, Pod, PriorityClass
from scheduler.api.meta import Condition, ConditionStatus, ObjectMeta
from scheduler.api.podgroup import (
    COSCHEDULING_POD_GROUP_LABEL,
    POD_GROUP_LABEL,
    POD_GROUP_SCHEDULED,
    PodGroup,
    PodGroupPhase,
    PodGroupSpec,
    PodGroupStatus,
)
from scheduler.api.policy import DisruptionMode, PreemptionPolicy, SchedulingPolicy, TopologyMode
from scheduler.api.workload import API_VERSION, GROUP, VERSION, Workload, WorkloadSpec

__all__ = [
    "API_VERSION",
    "COSCHEDULING_POD_GROUP_LABEL",
    "GROUP",
    "POD_GROUP_LABEL",
    "POD_GROUP_SCHEDULED",
    "VERSION",
    "Condition",
    "ConditionStatus",
    "DisruptionMode",
    "Node",
    "ObjectMeta",
    "Pod",
    "PodGroup",
    "PodGroupPhase",
    "PodGroupSpec",
    "PodGroupStatus",
    "PreemptionPolicy",
    "PriorityClass",
    "SchedulingPolicy",
    "TopologyMode",
    "Workload",
    "WorkloadSpec",
    "find_condition",
    "is_condition_true",
    "make_condition",
    "set_condition",
]

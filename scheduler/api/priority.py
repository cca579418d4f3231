"""Priority resolution, as kube-scheduler and upstream workload-aware preemption define it."""

from __future__ import annotations

from collections.abc import Mapping

from scheduler.api.core import Pod, PriorityClass
from scheduler.api.policy import GroupPolicy


def priority_class_values(classes: Mapping[str, PriorityClass] | list[PriorityClass]) -> dict[str, int]:
    items = classes.values() if isinstance(classes, Mapping) else classes
    return {c.metadata.name: c.value for c in items}


def group_priority(policy: GroupPolicy, classes: Mapping[str, int], pods: list[Pod] | None = None) -> int | None:
    """A group's priority: explicit `priority`, else its PriorityClass's value, else its pods' highest priority.

    None means unknown: the class is missing and no pod says otherwise; callers treat that as a condition to
    report, not as priority zero, so a typo in a class name does not silently demote a gang.
    """
    if policy.priority is not None:
        return policy.priority
    if policy.priority_class_name is not None:
        return classes.get(policy.priority_class_name)
    known = [p for p in (pod_priority(pod, classes) for pod in pods or []) if p is not None]
    return max(known) if known else 0


def pod_priority(pod: Pod, classes: Mapping[str, int]) -> int | None:
    """A pod's priority: the admission-resolved `spec.priority`, else its class's value, else 0."""
    if pod.spec.priority is not None:
        return pod.spec.priority
    if pod.spec.priority_class_name:
        return classes.get(pod.spec.priority_class_name)
    return 0

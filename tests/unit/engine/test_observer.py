"""Why units wait, in a fixed set of families a metric can carry without unbounded labels."""

from __future__ import annotations

import pytest

from scheduler.api.podgroup import ScheduledReason
from scheduler.engine.cycle import Decision
from scheduler.engine.observer import FAMILIES, family
from scheduler.engine.units import EPOCH, Unit


def decision(reason: ScheduledReason, message: str) -> Decision:
    return Decision(Unit("ml/g", 0, EPOCH, 1, (), 0), reason, message)


@pytest.mark.parametrize(
    ("reason", "message", "expected"),
    [
        (ScheduledReason.WAITING_FOR_PODS, "waiting for pods: 2/4 present", "quorum"),
        (ScheduledReason.WAITING_FOR_PREEMPTION, "preempting 4 pod(s)", "preemption"),
        (ScheduledReason.UNSCHEDULABLE, "4 pod(s) {cpu: 1}: 0/8 nodes fit: 8 Insufficient nvidia.com/gpu", "resources"),
        (
            ScheduledReason.UNSCHEDULABLE,
            "3 pod(s) {nvidia.com/gpu: 8}: 2/9 nodes fit: 7 node(s) didn't match Pod's node affinity/selector, "
            "2 Insufficient nvidia.com/gpu",
            "resources",
        ),
        (
            ScheduledReason.UNSCHEDULABLE,
            "0/3 nodes fit: 3 node(s) didn't match pod anti-affinity rules",
            "affinity-spread",
        ),
        (
            ScheduledReason.UNSCHEDULABLE,
            "0/3 nodes fit: 3 node(s) didn't have free ports for the requested pod ports",
            "ports",
        ),
        (
            ScheduledReason.UNSCHEDULABLE,
            'spec.volumes[0].persistentVolumeClaim: persistentvolumeclaim "x" not found',
            "volumes",
        ),
        (
            ScheduledReason.UNSCHEDULABLE,
            "spec.resourceClaims (...) is not supported by Phalanx: it affects placement",
            "invalid",
        ),
        (ScheduledReason.UNSCHEDULABLE, "8/8 nodes fit; no rack has room for 16 pods (largest free: 14)", "topology"),
        (ScheduledReason.SCHEDULER_ERROR, "binding failed: boom", "other"),
    ],
)
def test_each_kind_of_wait_falls_in_its_family(reason: ScheduledReason, message: str, expected: str) -> None:
    assert family(decision(reason, message)) == expected
    assert expected in FAMILIES

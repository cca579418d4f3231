"""Groups of other APIs (upstream scheduling.k8s.io, scheduler-plugins' coscheduling) through the engine:
placed as our own are, refused where upstream refuses or where a field is not honoured, and their status
written as their release spells it, never flipped back once scheduled."""

from __future__ import annotations

from typing import Any

from scheduler.api.core import Pod
from scheduler.api.podgroup import POD_GROUP_SCHEDULED, PodGroup, ScheduledReason
from scheduler.api.upstream import INITIALLY_SCHEDULED, read_pod_group
from scheduler.engine.cycle import Scheduler
from scheduler.engine.effects import Bind, Evict, WriteStatus
from scheduler.engine.state import pod_info
from tests.unit.engine.port import engine_for, run
from tests.unit.engine.test_cycle import cluster, group, pod


def upstream_group(name: str, version: str = "v1beta1", min_count: int = 2, **spec: Any) -> PodGroup:
    return read_pod_group(
        {
            "apiVersion": f"scheduling.k8s.io/{version}",
            "kind": "PodGroup",
            "metadata": {"name": name, "namespace": "ml", "uid": f"uid-{name}", "generation": 1},
            "spec": {"schedulingPolicy": {"gang": {"minCount": min_count}}, **spec},
        }
    )


def member(name: str, group_name: str, **spec: Any) -> Pod:
    """A pod joined to an upstream group the 1.36+ way: spec.schedulingGroup, no label."""
    return pod(name, schedulingGroup={"podGroupName": group_name}, **spec)


def test_a_gang_described_only_in_upstream_objects_is_placed_whole() -> None:
    state = cluster(member("a", "g"), member("b", "g"), groups=(upstream_group("g"),))
    engine, _, port = engine_for(state)
    run(engine, port)
    assert sorted(b.pod for b in port.of(Bind)) == ["ml/a", "ml/b"]


def test_an_upstream_gang_short_of_its_min_count_waits_for_its_pods() -> None:
    state = cluster(member("a", "g"), groups=(upstream_group("g", min_count=2),))
    (decision,) = Scheduler(state).schedule_pending()
    assert decision.reason is ScheduledReason.WAITING_FOR_PODS


def test_a_pod_with_a_scheduling_group_is_never_folded_into_a_gang_by_our_label() -> None:
    both = pod("a", group="ours", schedulingGroup={"podGroupName": "theirs"})
    assert pod_info(both).group == "theirs"


def test_pods_that_disagree_on_priority_make_an_upstream_group_a_scheduler_error_naming_them() -> None:
    pods = (member("a", "g", priority=10), member("b", "g", priority=1000))
    state = cluster(*pods, groups=(upstream_group("g"),))
    (decision,) = Scheduler(state).schedule_pending()
    assert decision.reason is ScheduledReason.SCHEDULER_ERROR
    assert "priority" in decision.message
    assert "a" in decision.message
    assert "b" in decision.message


def test_pods_that_disagree_on_scheduler_name_make_an_upstream_group_a_scheduler_error() -> None:
    pods = (member("a", "g"), member("b", "g", scheduler="default-scheduler"))
    state = cluster(*pods, groups=(upstream_group("g"),))
    (decision,) = Scheduler(state).schedule_pending()
    assert decision.reason is ScheduledReason.SCHEDULER_ERROR
    assert "schedulerName" in decision.message


def test_a_group_with_resource_claims_is_refused_with_a_message_naming_the_field() -> None:
    claims = [{"name": "gpus", "resourceClaimTemplateName": "gpu-template"}]
    state = cluster(member("a", "g"), member("b", "g"), groups=(upstream_group("g", resourceClaims=claims),))
    (decision,) = Scheduler(state).schedule_pending()
    assert decision.reason is ScheduledReason.SCHEDULER_ERROR
    assert "spec.resourceClaims" in decision.message
    assert "not supported" in decision.message


def test_a_field_from_a_newer_release_refuses_the_group_rather_than_being_ignored() -> None:
    state = cluster(member("a", "g"), member("b", "g"), groups=(upstream_group("g", futureField={"x": 1}),))
    (decision,) = Scheduler(state).schedule_pending()
    assert decision.reason is ScheduledReason.SCHEDULER_ERROR
    assert "spec.futureField" in decision.message


def test_a_member_of_a_composite_group_is_refused_naming_the_field() -> None:
    spec: dict[str, Any] = {
        "parentCompositePodGroupName": "root",
        "workloadRef": {"workloadName": "w", "templateName": "t"},
    }
    state = cluster(member("a", "g"), member("b", "g"), groups=(upstream_group("g", **spec),))
    (decision,) = Scheduler(state).schedule_pending()
    assert "spec.parentCompositePodGroupName" in decision.message


def test_two_apis_with_a_podgroup_of_one_name_refuse_it_until_one_goes() -> None:
    state = cluster(member("a", "g"), member("b", "g"), groups=(upstream_group("g"), group("g", 2)))
    (decision,) = Scheduler(state).schedule_pending()
    assert decision.reason is ScheduledReason.SCHEDULER_ERROR
    assert "scheduling.k8s.io and scheduling.phalanx.dev" in decision.message
    state.remove_group("ml/g")  # ours goes; upstream's remains and is scheduled
    (decision,) = Scheduler(state).schedule_pending()
    assert decision.scheduled


def test_an_upstream_group_preempts_lower_priority_pods_and_a_whole_disruption_group_goes_whole() -> None:
    victims = upstream_group("low", min_count=4, disruptionMode={"all": {}}, priority=10)
    low = [member(f"low-{i}", "low", priority=10, gpu=8) for i in range(4)]  # the whole cluster
    state = cluster(*low, groups=(victims,))
    engine, _, port = engine_for(state)
    run(engine, port)
    assert len(port.of(Bind)) == 4
    high = [member(f"high-{i}", "high", priority=1000) for i in range(2)]
    state.upsert_group(upstream_group("high", min_count=2, priority=1000))
    for p in high:
        state.upsert_pod(pod_info(p))
    engine.changed()
    run(engine, port)
    assert sorted(e.pod for e in port.of(Evict)) == [f"ml/low-{i}" for i in range(4)]  # all four, not two


def _statuses(port: Any, key: str) -> list[WriteStatus]:
    return [w for w in port.of(WriteStatus) if w.group == key]


def test_an_upstream_group_gets_its_releases_condition_and_our_status_for_the_annotation() -> None:
    state = cluster(member("a", "g"), member("b", "g"), groups=(upstream_group("g", version="v1beta1"),))
    engine, _, port = engine_for(state)
    run(engine, port, passes=5)
    write = _statuses(port, "ml/g")[-1]
    assert write.api_version == "scheduling.k8s.io/v1beta1"
    assert write.conditions is not None
    (condition,) = [c for c in write.conditions if c["type"] == INITIALLY_SCHEDULED]
    assert condition["status"] == "True"
    assert condition["reason"] == "Scheduled"
    assert condition["observedGeneration"] == 1
    assert write.status["phase"] in ("Scheduled", "Running")  # ours, kept in the annotation


def test_a_136_group_gets_podgroupscheduled_with_upstreams_reasons() -> None:
    pods = (member("a", "g", gpu=64), member("b", "g", gpu=64))  # fit nowhere
    state = cluster(*pods, groups=(upstream_group("g", version="v1alpha2"),))
    engine, _, port = engine_for(state)
    run(engine, port)
    write = _statuses(port, "ml/g")[-1]
    assert write.conditions is not None
    (condition,) = write.conditions
    assert (condition["type"], condition["status"], condition["reason"]) == (
        POD_GROUP_SCHEDULED,
        "False",
        "Unschedulable",
    )


def test_a_scheduled_condition_is_never_flipped_back_to_false() -> None:
    shown = {
        "type": INITIALLY_SCHEDULED,
        "status": "True",
        "reason": "Scheduled",
        "message": "2 pods bound",
        "lastTransitionTime": "2026-01-01T00:00:00Z",
    }
    pods = (member("a", "g", gpu=64), member("b", "g", gpu=64))  # unschedulable now (say, after eviction)
    g = read_pod_group(
        {
            "apiVersion": "scheduling.k8s.io/v1beta1",
            "kind": "PodGroup",
            "metadata": {"name": "g", "namespace": "ml", "generation": 1},
            "spec": {"schedulingPolicy": {"gang": {"minCount": 2}}},
            "status": {"conditions": [shown]},
        }
    )
    state = cluster(*pods, groups=(g,))
    engine, _, port = engine_for(state)
    run(engine, port)
    writes = _statuses(port, "ml/g")
    assert writes
    for write in writes:
        assert write.conditions is not None
        assert [c for c in write.conditions if c["type"] == INITIALLY_SCHEDULED] == [shown]


def test_a_coscheduling_group_waits_for_min_member_and_its_status_is_left_to_its_controller() -> None:
    body = {
        "apiVersion": "scheduling.x-k8s.io/v1alpha1",
        "kind": "PodGroup",
        "metadata": {"name": "g", "namespace": "ml"},
        "spec": {"minMember": 3, "scheduleTimeoutSeconds": 30},
    }
    labelled = [pod(n) for n in ("a", "b")]
    state = cluster(*(_coscheduled(p) for p in labelled), groups=(read_pod_group(body),))
    (decision,) = Scheduler(state).schedule_pending()
    assert decision.reason is ScheduledReason.WAITING_FOR_PODS
    state.upsert_pod(pod_info(_coscheduled(pod("c"))))
    engine, _, port = engine_for(state)
    run(engine, port)
    assert len(port.of(Bind)) == 3
    writes = _statuses(port, "ml/g")
    assert writes
    assert all(w.conditions is None and w.api_version for w in writes)


def test_a_coscheduling_group_waits_until_the_cluster_has_its_min_resources_free() -> None:
    body = {
        "apiVersion": "scheduling.x-k8s.io/v1alpha1",
        "kind": "PodGroup",
        "metadata": {"name": "g", "namespace": "ml"},
        "spec": {"minMember": 1, "minResources": {"nvidia.com/gpu": "64"}},
    }
    state = cluster(_coscheduled(pod("a")), groups=(read_pod_group(body),))
    (decision,) = Scheduler(state).schedule_pending()
    assert not decision.scheduled
    assert "minResources nvidia.com/gpu=64" in decision.message
    assert "(32)" in decision.message


def _coscheduled(p: Pod) -> Pod:
    labels = {"scheduling.x-k8s.io/pod-group": "g"}
    return p.model_copy(update={"metadata": p.metadata.model_copy(update={"labels": labels})})

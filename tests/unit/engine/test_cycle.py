"""The engine on an in-memory cache: queue order, quorum, reservation, and what waits and why."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from scheduler.api.core import Node, Pod
from scheduler.api.podgroup import POD_GROUP_LABEL, PodGroup, ScheduledReason
from scheduler.engine import cycle
from scheduler.engine.cycle import Scheduler
from scheduler.engine.state import ClusterState, pod_info
from scheduler.engine.units import pending_units
from scheduler.solver.placement import place_gang
from scheduler.topology.nodes import strip_node
from tests.builders import LEVELS, RACK

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def node(name: str, rack: str, gpus: int = 8) -> Node:
    return Node.model_validate(
        {
            "metadata": {"name": name, "labels": {RACK: rack, "kubernetes.io/hostname": name}},
            "status": {
                "allocatable": {"cpu": "64", "memory": "256Gi", "nvidia.com/gpu": gpus, "pods": 110},
                "conditions": [{"type": "Ready", "status": "True"}],
            },
        }
    )


def pod(name: str, group: str | None = None, gpu: int = 4, age: int = 0, **spec: Any) -> Pod:
    labels = {POD_GROUP_LABEL: group} if group else {}
    return Pod.model_validate(
        {
            "metadata": {
                "name": name,
                "namespace": "ml",
                "labels": labels,
                "creationTimestamp": (T0 + timedelta(seconds=age)).isoformat(),
            },
            "spec": {
                "schedulerName": spec.pop("scheduler", "phalanx"),
                "containers": [{"name": "c", "resources": {"limits": {"nvidia.com/gpu": gpu}}}],
                **spec,
            },
        }
    )


def group(name: str, min_count: int, **spec: Any) -> PodGroup:
    policy = {"gang": {"minCount": min_count}} if min_count > 1 else {"basic": {}}
    return PodGroup.model_validate(
        {"metadata": {"name": name, "namespace": "ml"}, "spec": {"schedulingPolicy": policy, **spec}}
    )


def cluster(*pods: Pod, groups: tuple[PodGroup, ...] = (), racks: int = 2) -> ClusterState:
    state = ClusterState(LEVELS)
    state.priority_classes = {"high": 1000, "low": 10}
    for r in range(racks):
        for n in range(2):
            state.upsert_node(strip_node(node(f"r{r}-n{n}", f"r{r}")))
    for g in groups:
        state.upsert_group(g)
    for p in pods:
        state.upsert_pod(pod_info(p))
    return state


def test_units_are_ordered_by_priority_then_creation_time() -> None:
    state = cluster(
        pod("old-low", age=0, priorityClassName="low"),
        pod("new-high", age=5, priorityClassName="high"),
        pod("old-high", age=1, priorityClassName="high"),
    )
    assert [u.key for u in pending_units(state, "phalanx")] == ["ml/old-high", "ml/new-high", "ml/old-low"]


def test_a_gang_waits_for_its_quorum_and_says_how_many_pods_are_present() -> None:
    state = cluster(pod("a", "g"), pod("b", "g"), groups=(group("g", 3),))
    (decision,) = Scheduler(state).schedule_pending()
    assert decision.reason is ScheduledReason.WAITING_FOR_PODS
    assert decision.message == "waiting for pods: 2/3 present"
    assert all(p.node is None for p in state.pods.values())


def test_a_gang_with_its_quorum_is_placed_whole_and_reserved() -> None:
    state = cluster(
        *(pod(f"p{i}", "g") for i in range(4)),
        groups=(group("g", 4, schedulingConstraints={"topology": [{"key": RACK}]}),),
    )
    (decision,) = Scheduler(state).schedule_pending()
    assert decision.scheduled
    nodes = {p.node for p in state.pods.values()}
    assert {n.split("-")[0] for n in nodes if n} == {decision.plan.domain if decision.plan else ""}
    assert all(p.assumed for p in state.pods.values())
    # The reservation is visible to the next snapshot.
    capacity = state.capacity()
    assert int(capacity.used[:, capacity.column["nvidia.com/gpu"]].sum()) == 16


def test_a_second_gang_sees_the_first_ones_reservation() -> None:
    pods = [pod(f"a{i}", "a", gpu=8) for i in range(2)] + [pod(f"b{i}", "b", gpu=8, age=1) for i in range(3)]
    state = cluster(*pods, groups=(group("a", 2), group("b", 3)))
    first, second = Scheduler(state).schedule_pending()
    assert first.scheduled
    assert second.reason is ScheduledReason.UNSCHEDULABLE
    assert "the cluster has room for 2 of the 3 pods needed" in second.message
    assert all(state.pods[f"ml/b{i}"].node is None for i in range(3))


def test_forgetting_an_assumed_pod_releases_its_capacity_and_is_idempotent() -> None:
    state = cluster(pod("p", "g"), groups=(group("g", 1),))
    Scheduler(state).schedule_pending()
    state.forget("ml/p")
    state.forget("ml/p")
    assert state.pods["ml/p"].node is None
    capacity = state.capacity()
    assert int(capacity.used.sum()) == 0


def test_pods_of_other_schedulers_are_not_scheduled_but_their_usage_counts() -> None:
    other = pod("theirs", scheduler="default-scheduler", gpu=8, nodeName="r0-n0")
    state = cluster(other, pod("ours", gpu=8), racks=1)
    (decision,) = Scheduler(state).schedule_pending()
    assert decision.unit.key == "ml/ours"
    assert decision.plan is not None
    assert decision.plan.assignments == {"ml/ours": "r0-n1"}


def test_pods_naming_a_missing_group_or_priority_class_wait_with_a_reason() -> None:
    state = cluster(pod("lost", "nowhere"), pod("typo", priorityClassName="hihg"))
    decisions = {d.unit.key: d for d in Scheduler(state).schedule_pending()}
    assert decisions["ml/nowhere"].message == "PodGroup 'nowhere' does not exist"
    assert decisions["ml/typo"].message == "priority class 'hihg' not found"
    assert not any(d.scheduled for d in decisions.values())


def test_a_basic_group_places_what_fits() -> None:
    state = cluster(*(pod(f"p{i}", "g", gpu=8) for i in range(5)), groups=(group("g", 1),))
    (decision,) = Scheduler(state).schedule_pending()
    assert decision.scheduled
    assert sum(p.node is not None for p in state.pods.values()) == 4


RACK_REQUIRED = {"schedulingConstraints": {"topology": [{"key": RACK}]}}


def test_the_rest_of_a_partly_bound_gang_joins_the_rack_its_bound_pods_are_in() -> None:
    # After a restart mid-binding: two of four pods sit in r1 (4 GPUs free on each node). Alone, the other two
    # would rather share r2-n1 (one empty node beside a full one): fewer nodes, same free capacity.
    bound = [pod(f"g-{i}", "g", gpu=4, nodeName=f"r1-n{i}") for i in range(2)]
    full = pod("other", gpu=8, nodeName="r2-n0", scheduler="default-scheduler")
    rest = [pod("g-2", "g", gpu=4), pod("g-3", "g", gpu=4)]
    state = cluster(*bound, full, *rest, groups=(group("g", 4, **RACK_REQUIRED),), racks=3)
    fresh = cluster(full, *rest, groups=(group("g", 2, **RACK_REQUIRED),), racks=3)
    alone = Scheduler(fresh).schedule_pending()[0]
    assert alone.plan is not None
    assert set(alone.plan.assignments.values()) == {"r2-n1"}  # what pinning must override
    (decision,) = Scheduler(state).schedule_pending()
    assert decision.scheduled, decision.message
    assert decision.plan is not None
    assert {node.split("-")[0] for node in decision.plan.assignments.values()} == {"r1"}


def test_a_partly_bound_gang_whose_rack_is_full_does_not_spill_into_another() -> None:
    bound = [pod(f"g-{i}", "g", gpu=4, nodeName=f"r1-n{i}") for i in range(2)]
    filler = [pod(f"other-{i}", gpu=4, nodeName=f"r1-n{i}", scheduler="default-scheduler") for i in range(2)]
    state = cluster(
        *bound, *filler, pod("g-2", "g", gpu=4), pod("g-3", "g", gpu=4), groups=(group("g", 4, **RACK_REQUIRED),)
    )
    (decision,) = [d for d in Scheduler(state).schedule_pending() if d.unit.key == "ml/g"]
    assert decision.reason is ScheduledReason.UNSCHEDULABLE
    assert "r0" not in str(decision.plan.assignments if decision.plan else "")


def test_lone_pods_alike_that_fit_nowhere_are_searched_for_once_a_pass_and_each_told_why(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Four pods of 16 GPUs on nodes of 8, and one of 4 GPUs that fits: it is searched for itself.
    state = cluster(*(pod(f"big-{i}", gpu=16, age=i) for i in range(4)), pod("small", gpu=4, age=9), racks=1)
    searches: list[str] = []
    real = place_gang

    def counted(capacity: Any, gang: Any, *args: Any, **kwargs: Any) -> Any:
        searches.append(gang.name)
        return real(capacity, gang, *args, **kwargs)

    monkeypatch.setattr(cycle, "place_gang", counted)
    decisions = {d.unit.key: d for d in Scheduler(state).schedule_pending()}
    assert searches == ["ml/big-0", "ml/small"]
    big = [decisions[f"ml/big-{i}"] for i in range(4)]
    assert {d.reason for d in big} == {ScheduledReason.UNSCHEDULABLE}
    assert len({d.message for d in big}) == 1
    assert "Insufficient nvidia.com/gpu" in big[0].message
    assert [d.plan.gang for d in big if d.plan is not None] == [f"ml/big-{i}" for i in range(4)]
    assert decisions["ml/small"].scheduled


def test_a_lone_pod_that_may_preempt_is_searched_for_though_one_alike_that_may_not_was_refused() -> None:
    victim = pod("victim", gpu=8, nodeName="r0-n0", priorityClassName="low")
    filler = pod("filler", gpu=8, nodeName="r0-n1", priorityClassName="high")
    never = pod("never", gpu=8, age=0, priorityClassName="high", preemptionPolicy="Never")
    state = cluster(victim, filler, never, pod("may", gpu=8, age=1, priorityClassName="high"), racks=1)
    decisions = {d.unit.key: d for d in Scheduler(state).schedule_pending()}
    assert decisions["ml/never"].reason is ScheduledReason.UNSCHEDULABLE
    assert decisions["ml/may"].reason is ScheduledReason.WAITING_FOR_PREEMPTION

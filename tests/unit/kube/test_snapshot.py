"""`phalanx top`'s view from the API's answers: which pods make which unit, the queue's order, gangs by domain,
decisions folded per gang, and reads that fail becoming one line."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from kubernetes_asyncio import client

from scheduler.kube.snapshot import build_view, snapshot

NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
RACK = "network.phalanx.dev/rack"


def pod(
    name: str,
    *,
    group: str | None = None,
    node: str | None = None,
    owner: tuple[str, str] | None = None,
    priority: int | None = None,
    age_s: float = 60,
    phase: str = "Pending",
    why: str = "",
    deleting: bool = False,
    labels: dict[str, str] | None = None,
) -> client.V1Pod:
    owners = None
    if owner is not None:
        kind, owner_name = owner
        owners = [client.V1OwnerReference(api_version="v1", kind=kind, name=owner_name, uid="u", controller=True)]
    conditions = [
        client.V1PodCondition(
            type="PodScheduled", status="False", reason="Unschedulable", message=why, last_transition_time=NOW
        )
    ]
    return client.V1Pod(
        metadata=client.V1ObjectMeta(
            name=name,
            namespace="ml",
            labels={**({"scheduling.phalanx.dev/pod-group": group} if group else {}), **(labels or {})},
            owner_references=owners,
            creation_timestamp=NOW - timedelta(seconds=age_s),
            deletion_timestamp=NOW if deleting else None,
        ),
        spec=client.V1PodSpec(containers=[], node_name=node, priority=priority, scheduler_name="phalanx"),
        status=client.V1PodStatus(phase=phase, conditions=conditions if why else None),
    )


def pod_group(name: str, min_count: int, phase: str = "Pending", **status: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "ml", "creationTimestamp": "2026-01-01T11:00:00Z"},
        "spec": {"schedulingPolicy": {"gang": {"minCount": min_count}}, **status.pop("spec", {})},
        "status": {"phase": phase, **status},
    }


def node(name: str, rack: str, *, ready: bool = True, cordoned: bool = False) -> client.V1Node:
    return client.V1Node(
        metadata=client.V1ObjectMeta(name=name, labels={RACK: rack}),
        spec=client.V1NodeSpec(unschedulable=cordoned),
        status=client.V1NodeStatus(
            conditions=[client.V1NodeCondition(type="Ready", status="True" if ready else "False")]
        ),
    )


def event(name: str, reason: str, age_s: float, kind: str = "Pod", component: str = "phalanx") -> client.CoreV1Event:
    return client.CoreV1Event(
        metadata=client.V1ObjectMeta(name=f"{name}.1", namespace="ml"),
        involved_object=client.V1ObjectReference(kind=kind, name=name, namespace="ml"),
        reason=reason,
        message=f"{reason} {name}",
        type="Normal",
        source=client.V1EventSource(component=component),
        last_timestamp=NOW - timedelta(seconds=age_s),
    )


def test_pods_make_units_by_their_label_their_jobs_gang_or_their_controller_or_alone() -> None:
    groups = [
        pod_group("train", 2),
        pod_group("pretrain-job-workers", 2, spec={"workloadRef": {"workloadName": "pretrain-job"}}),
    ]
    pods = [
        pod("train-0", group="train", node="n1"),
        pod("train-1", group="train"),
        pod("pretrain-0", owner=("Job", "pretrain")),  # joins the gang made for its Job, no label needed
        pod("pretrain-1", owner=("Job", "pretrain")),
        pod("coscheduled-0", labels={"scheduling.x-k8s.io/pod-group": "cos"}),
        pod("db-0", owner=("StatefulSet", "db")),
        pod("db-1", owner=("StatefulSet", "db")),
        pod("web-0"),
        pod("done-0", group="train", phase="Succeeded"),  # finished: counts for nothing
        pod("leaving-0", group="train", deleting=True),  # deleted before it was bound: never placed
    ]
    view = build_view("ml", NOW, groups, pods, [], [])
    units = {u.key: (u.kind, u.pods, u.pending) for u in view.queue}
    assert units == {
        "ml/train": ("PodGroup", 2, 1),
        "ml/pretrain-job-workers": ("PodGroup", 2, 2),
        "ml/cos": ("PodGroup", 1, 1),  # its PodGroup is not there (yet): its pods are all there is to show
        "ml/db": ("StatefulSet", 2, 2),
        "ml/web-0": ("Pod", 1, 1),
    }


def test_the_queue_is_in_the_schedulers_order_priority_then_age_then_name() -> None:
    pods = [
        pod("low-old", priority=10, age_s=500),
        pod("high-young", priority=1000, age_s=5),
        pod("low-young-b", priority=10, age_s=50),
        pod("low-young-a", priority=10, age_s=50),
    ]
    view = build_view("ml", NOW, [], pods, [], [])
    assert [u.key for u in view.queue] == ["ml/high-young", "ml/low-old", "ml/low-young-a", "ml/low-young-b"]


def test_a_gang_waits_with_its_conditions_reason_even_before_its_pods_exist() -> None:
    condition = {
        "type": "PodGroupScheduled",
        "status": "False",
        "reason": "WaitingForPods",
        "message": "0/4 pods present",
        "lastTransitionTime": "2026-01-01T11:59:00Z",
    }
    view = build_view("ml", NOW, [pod_group("empty", 4, conditions=[condition])], [], [], [])
    assert view.queue == ()  # nothing of it to place yet
    (waiting,) = view.waiting
    assert (waiting.key, waiting.reason, waiting.message, waiting.pods) == (
        "ml/empty",
        "WaitingForPods",
        "0/4 pods present",
        0,
    )
    assert waiting.since == datetime(2026, 1, 1, 11, 59, tzinfo=UTC)


def test_running_gangs_are_grouped_by_their_placement_with_the_nodes_of_that_domain() -> None:
    placement = {"domain": "rack-1", "level": RACK}
    groups = [
        pod_group("a", 1, "Running", placement=placement, running=1),
        pod_group("b", 1, "Scheduled", placement=placement),
        pod_group("c", 1, "Running", placement={"domain": "rack-2", "level": RACK}, running=1),
    ]
    pods = [pod("a-0", group="a", node="r1-n1"), pod("b-0", group="b", node="r1-n1"), pod("c-0", group="c", node="r2")]
    nodes = [node("r1-n1", "rack-1"), node("r1-n2", "rack-1", cordoned=True), node("r1-n3", "rack-1", ready=False)]
    view = build_view("ml", NOW, groups, pods, [*nodes, node("r2", "rack-2")], [])
    domains = {(d.name, d.nodes, d.busy): sorted(g.key for g in d.gangs) for d in view.domains}
    assert domains == {("rack-1", 3, 1): ["ml/a", "ml/b"], ("rack-2", 1, 1): ["ml/c"]}
    assert (view.nodes, view.usable_nodes) == (4, 2)  # cordoned and NotReady nodes take nothing new
    assert view.waiting == ()


def test_a_lone_pod_says_why_from_its_pod_scheduled_condition() -> None:
    view = build_view("ml", NOW, [], [pod("web-0", why="0/3 nodes fit: 3 Insufficient cpu")], [], [])
    (unit,) = view.queue
    assert (unit.reason, unit.message, unit.since) == ("Unschedulable", "0/3 nodes fit: 3 Insufficient cpu", NOW)


def test_decisions_are_newest_first_with_a_gangs_pods_folded_and_other_components_left_out() -> None:
    pods = [pod(f"train-{i}", group="train", node="n1") for i in range(3)]
    events = [
        event("train-0", "Scheduled", 10),
        event("train-1", "Scheduled", 10),
        event("train-2", "Scheduled", 10),
        event("train-0", "Pulled", 5, component="kubelet"),
        event("big", "FailedScheduling", 3, kind="PodGroup"),
        event("web-0", "Scheduled", 30),
    ]
    view = build_view("ml", NOW, [pod_group("train", 3, "Running")], pods, [], events)
    assert [(e.unit, e.reason, e.objects) for e in view.decisions] == [
        ("ml/big", "FailedScheduling", 1),
        ("ml/train", "Scheduled", 3),
        ("ml/web-0", "Scheduled", 1),
    ]
    assert view.decisions[0].time == NOW - timedelta(seconds=3)


async def test_a_server_that_refuses_every_read_is_one_error_line_naming_them_all() -> None:
    configuration = client.Configuration(host="http://127.0.0.1:9")  # the discard port: nothing answers
    async with client.ApiClient(configuration) as api:
        view = await snapshot(api, None)
    assert len(view.errors) == 1
    assert view.errors[0].startswith("cannot list podgroups, pods, events, nodes, upstream podgroups: ")
    assert (view.namespace, view.queue, view.nodes) == (None, (), 0)

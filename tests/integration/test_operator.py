"""The operator end to end on a real kube-apiserver: gangs bound all or nothing, quorum, explanations,
Workloads stamping PodGroups, and preemption of a whole lower-priority gang."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from kubernetes_asyncio import client

from tests.integration.apiserver import ApiServer
from tests.integration.operator_harness import (
    GROUP,
    VERSION,
    OperatorProcess,
    all_bound,
    bound,
    create_pods,
    eventually,
    http_status,
    http_text,
    kubelet_namespace,
    make_nodes,
    pod_body,
    pod_group,
    pod_group_body,
    serving_operator,
    unique,
)

pytestmark = pytest.mark.usefixtures("phalanx_crds")


@pytest.fixture(scope="module")
def operator(apiserver: ApiServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[OperatorProcess]:
    yield from serving_operator(apiserver.kubeconfig_path, tmp_path_factory.mktemp("operator"))


@pytest.fixture
async def namespace(api_client: client.ApiClient, operator: OperatorProcess) -> AsyncIterator[str]:
    async with kubelet_namespace(api_client, "ns") as name:
        yield name


@pytest.fixture
async def priorities(api_client: client.ApiClient) -> tuple[str, str]:
    """A low (10) and a high (1000) PriorityClass, named for this test."""
    scheduling: Any = client.SchedulingV1Api(api_client)
    low, high = unique("low"), unique("high")
    await scheduling.create_priority_class({"metadata": {"name": low}, "value": 10})
    await scheduling.create_priority_class({"metadata": {"name": high}, "value": 1000})
    return low, high


async def create_group(api: client.ApiClient, namespace: str, body: dict[str, Any]) -> None:
    objects: Any = client.CustomObjectsApi(api)
    await objects.create_namespaced_custom_object(GROUP, VERSION, namespace, "podgroups", body)


async def test_a_gang_is_bound_whole_into_one_rack_and_its_status_says_so(
    api_client: client.ApiClient, namespace: str
) -> None:
    pool = unique("pool")
    await make_nodes(api_client, pool, racks=2, per_rack=2)
    rack = {"schedulingConstraints": {"topology": [{"key": "network.phalanx.dev/rack"}]}}
    await create_group(api_client, namespace, pod_group_body("train", 4, **rack))
    await create_pods(api_client, namespace, [pod_body(f"train-{i}", pool, "train", gpus=4) for i in range(4)])

    await eventually(all_bound(api_client, namespace, "train-", 4), what="all four pods bound")
    nodes = set((await bound(api_client, namespace, "train-")).values())
    assert len({n.rsplit("-n", 1)[0] for n in nodes if n}) == 1  # one rack

    async def running() -> bool:
        status = (await pod_group(api_client, namespace, "train")).get("status", {})
        return bool(status.get("phase") == "Running" and status.get("running") == 4)

    await eventually(running, what="PodGroup Running")
    status = (await pod_group(api_client, namespace, "train"))["status"]
    condition = next(c for c in status["conditions"] if c["type"] == "PodGroupScheduled")
    assert (condition["status"], condition["reason"]) == ("True", "Scheduled")
    assert status["placement"]["domain"].startswith(f"{pool}-rack-")
    assert status["lastDecision"]["solverStatus"] in ("Optimal", "Feasible")


async def test_a_gang_waits_for_its_quorum_then_binds(api_client: client.ApiClient, namespace: str) -> None:
    pool = unique("pool")
    await make_nodes(api_client, pool, racks=1, per_rack=2)
    await create_group(api_client, namespace, pod_group_body("q", 3))
    await create_pods(api_client, namespace, [pod_body(f"q-{i}", pool, "q", gpus=1) for i in range(2)])

    async def waiting() -> bool:
        status = (await pod_group(api_client, namespace, "q")).get("status", {})
        return any(c.get("reason") == "WaitingForPods" for c in status.get("conditions", []))

    await eventually(waiting, what="WaitingForPods")
    assert not any((await bound(api_client, namespace, "q-")).values())
    await create_pods(api_client, namespace, [pod_body("q-2", pool, "q", gpus=1)])

    await eventually(all_bound(api_client, namespace, "q-", 3), what="the gang bound once whole")


async def test_a_gang_that_cannot_fit_binds_nothing_and_explains_why(
    api_client: client.ApiClient, namespace: str
) -> None:
    pool = unique("pool")
    await make_nodes(api_client, pool, racks=1, per_rack=2)
    await create_group(api_client, namespace, pod_group_body("big", 3))
    await create_pods(api_client, namespace, [pod_body(f"big-{i}", pool, "big", gpus=8) for i in range(3)])
    core: Any = client.CoreV1Api(api_client)

    async def explained() -> bool:
        pod = await core.read_namespaced_pod("big-0", namespace)
        conditions = {c.type: c for c in pod.status.conditions or []}
        scheduled = conditions.get("PodScheduled")
        # While the pods are being created the condition first says "waiting for pods: 1/3 present".
        return scheduled is not None and scheduled.reason == "Unschedulable" and "nodes fit" in scheduled.message

    await eventually(explained, what="PodScheduled=False on the pods")
    pod = await core.read_namespaced_pod("big-0", namespace)
    message = next(c.message for c in pod.status.conditions if c.type == "PodScheduled")
    assert "the cluster has room for 2 of the 3 pods needed" in message
    assert not any((await bound(api_client, namespace, "big-")).values())

    async def unschedulable() -> bool:
        status = (await pod_group(api_client, namespace, "big")).get("status", {})
        return bool(status.get("phase") == "Unschedulable")

    await eventually(unschedulable, what="PodGroup Unschedulable")  # written apart from the pods' conditions
    events = await core.list_namespaced_event(namespace)
    assert any(e.reason == "FailedScheduling" and e.involved_object.name == "big" for e in events.items)


async def test_a_workload_stamps_out_owned_pod_groups_and_removes_them_with_it(
    api_client: client.ApiClient, namespace: str
) -> None:
    objects: Any = client.CustomObjectsApi(api_client)
    workload = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Workload",
        "metadata": {"name": "job"},
        "spec": {
            "podGroupTemplates": [{"name": "workers", "replicas": 2, "schedulingPolicy": {"gang": {"minCount": 2}}}]
        },
    }
    created = await objects.create_namespaced_custom_object(GROUP, VERSION, namespace, "workloads", workload)

    async def stamped() -> bool:
        groups = await objects.list_namespaced_custom_object(GROUP, VERSION, namespace, "podgroups")
        return sorted(g["metadata"]["name"] for g in groups["items"]) == ["job-workers-0", "job-workers-1"]

    await eventually(stamped, what="two PodGroups")
    group = await pod_group(api_client, namespace, "job-workers-0")
    owner = group["metadata"]["ownerReferences"][0]
    assert (owner["kind"], owner["uid"]) == ("Workload", created["metadata"]["uid"])
    assert group["spec"]["workloadRef"] == {"workloadName": "job", "templateName": "workers"}
    await objects.delete_namespaced_custom_object(GROUP, VERSION, namespace, "workloads", "job")

    async def removed() -> bool:
        groups = await objects.list_namespaced_custom_object(GROUP, VERSION, namespace, "podgroups")
        return not groups["items"]

    await eventually(removed, what="PodGroups deleted with the Workload")


async def test_a_higher_priority_gang_preempts_a_whole_lower_priority_gang(
    api_client: client.ApiClient, namespace: str, priorities: tuple[str, str]
) -> None:
    low, high = priorities
    pool = unique("pool")
    await make_nodes(api_client, pool, racks=1, per_rack=2)
    await create_group(
        api_client, namespace, pod_group_body("batch", 2, disruptionMode="PodGroup", priorityClassName=low)
    )
    await create_pods(api_client, namespace, [pod_body(f"batch-{i}", pool, "batch", 8, low) for i in range(2)])

    await eventually(all_bound(api_client, namespace, "batch-", 2), what="the low-priority gang bound")
    await create_group(api_client, namespace, pod_group_body("urgent", 1, priorityClassName=high))
    await create_pods(api_client, namespace, [pod_body("urgent-0", pool, "urgent", 8, high)])

    async def urgent_bound() -> bool:
        pods = await bound(api_client, namespace, "urgent-")
        return bool(pods.get("urgent-0"))

    await eventually(urgent_bound, within=30, what="the urgent pod bound after preemption")
    assert await bound(api_client, namespace, "batch-") == {}  # both evicted, though one node would do
    core: Any = client.CoreV1Api(api_client)
    events = await core.list_namespaced_event(namespace)
    assert sum(e.reason == "Preempted" and e.involved_object.kind == "Pod" for e in events.items) == 2


async def test_pods_of_other_schedulers_are_left_alone(api_client: client.ApiClient, namespace: str) -> None:
    pool = unique("pool")
    await make_nodes(api_client, pool, racks=1, per_rack=1)
    body = pod_body("theirs", pool, None, gpus=1)
    body["spec"]["schedulerName"] = "default-scheduler"
    await create_pods(api_client, namespace, [body, pod_body("ours", pool, None, gpus=1)])

    async def ours_bound() -> bool:
        return bool((await bound(api_client, namespace, "ours")).get("ours"))

    await eventually(ours_bound, what="our pod bound")
    assert (await bound(api_client, namespace, "theirs")) == {"theirs": None}


async def test_a_gang_waiting_for_resources_schedules_when_a_node_is_added(
    api_client: client.ApiClient, namespace: str
) -> None:
    pool = unique("pool")
    await make_nodes(api_client, pool, racks=1, per_rack=1)
    await create_group(api_client, namespace, pod_group_body("grow", 2))
    await create_pods(api_client, namespace, [pod_body(f"grow-{i}", pool, "grow", gpus=8) for i in range(2)])

    async def unschedulable() -> bool:
        status = (await pod_group(api_client, namespace, "grow")).get("status", {})
        return bool(status.get("phase") == "Unschedulable")

    await eventually(unschedulable, what="Unschedulable")
    core: Any = client.CoreV1Api(api_client)
    node = (await make_nodes(api_client, f"{pool}-more", racks=1, per_rack=1))[0]
    await core.patch_node(node, {"metadata": {"labels": {"pool": pool}}})

    await eventually(all_bound(api_client, namespace, "grow-", 2), what="the gang bound on the new node")


async def test_a_gang_above_min_count_binds_as_many_pods_as_fit(api_client: client.ApiClient, namespace: str) -> None:
    pool = unique("pool")
    await make_nodes(api_client, pool, racks=1, per_rack=2)
    await create_group(api_client, namespace, pod_group_body("elastic", 2))
    await create_pods(api_client, namespace, [pod_body(f"elastic-{i}", pool, "elastic", gpus=8) for i in range(3)])

    async def two_bound() -> bool:
        pods = await bound(api_client, namespace, "elastic-")
        return sum(bool(n) for n in pods.values()) == 2

    await eventually(two_bound, what="two of three pods bound")


async def test_two_gangs_competing_for_the_same_capacity_end_whole_or_pending(
    api_client: client.ApiClient, namespace: str
) -> None:
    pool = unique("pool")
    await make_nodes(api_client, pool, racks=1, per_rack=4)
    bodies = []
    for gang in ("left", "right"):
        await create_group(api_client, namespace, pod_group_body(gang, 3))
    for i in range(3):  # interleaved, as a pod-by-pod scheduler would see them
        bodies += [pod_body(f"left-{i}", pool, "left", gpus=8), pod_body(f"right-{i}", pool, "right", gpus=8)]
    await create_pods(api_client, namespace, bodies)

    async def one_gang_bound() -> bool:
        left, right = await bound(api_client, namespace, "left-"), await bound(api_client, namespace, "right-")
        return all(left.values()) or all(right.values())

    await eventually(one_gang_bound, what="one gang bound")
    left, right = await bound(api_client, namespace, "left-"), await bound(api_client, namespace, "right-")
    bound_counts = sorted([sum(bool(n) for n in left.values()), sum(bool(n) for n in right.values())])
    assert bound_counts == [0, 3]  # never two partial gangs


async def test_single_pods_in_the_way_are_preempted_one_by_one_and_never_preemptors_wait(
    api_client: client.ApiClient, namespace: str, priorities: tuple[str, str]
) -> None:
    low, high = priorities
    pool = unique("pool")
    await make_nodes(api_client, pool, racks=1, per_rack=2)
    await create_group(api_client, namespace, pod_group_body("web", 2, priorityClassName=low))
    await create_pods(api_client, namespace, [pod_body(f"web-{i}", pool, "web", 8, low) for i in range(2)])

    await eventually(all_bound(api_client, namespace, "web-", 2), what="the low-priority pods bound")
    patient = pod_group_body("patient", 1, priorityClassName=high, preemptionPolicy="Never")
    await create_group(api_client, namespace, patient)
    await create_pods(api_client, namespace, [pod_body("patient-0", pool, "patient", 8, high)])

    async def patient_explained() -> bool:
        status = (await pod_group(api_client, namespace, "patient")).get("status", {})
        return any("preemptionPolicy is Never" in c.get("message", "") for c in status.get("conditions", []))

    await eventually(patient_explained, what="the Never preemptor waiting")
    assert len(await bound(api_client, namespace, "web-")) == 2
    objects: Any = client.CustomObjectsApi(api_client)
    await objects.delete_namespaced_custom_object(GROUP, VERSION, namespace, "podgroups", "patient")
    core: Any = client.CoreV1Api(api_client)
    await core.delete_namespaced_pod("patient-0", namespace, grace_period_seconds=0)
    await create_group(api_client, namespace, pod_group_body("urgent", 1, priorityClassName=high))
    await create_pods(api_client, namespace, [pod_body("urgent-0", pool, "urgent", 8, high)])

    async def urgent_bound() -> bool:
        return bool((await bound(api_client, namespace, "urgent-")).get("urgent-0"))

    await eventually(urgent_bound, within=30, what="the urgent pod bound")
    assert len(await bound(api_client, namespace, "web-")) == 1  # disruptionMode Pod: one victim only


async def test_explain_shows_the_reasons_from_the_live_cluster(
    api_client: client.ApiClient, namespace: str, apiserver: ApiServer
) -> None:
    from scheduler.kube.explain import explain

    pool = unique("pool")
    await make_nodes(api_client, pool, racks=1, per_rack=1)
    await create_group(api_client, namespace, pod_group_body("huge", 2))
    await create_pods(api_client, namespace, [pod_body(f"huge-{i}", pool, "huge", gpus=8) for i in range(2)])

    async def explained() -> bool:
        result = await explain(namespace, "huge", str(apiserver.kubeconfig_path))
        return bool(result.pods) and all("room for 1 of the 2 pods" in p["message"] for p in result.pods)

    await eventually(explained, what="explain output")

    seen: dict[str, Any] = {}

    async def status_written() -> bool:
        result = await explain(namespace, "huge", str(apiserver.kubeconfig_path))
        seen.update(result.group.get("status", {}))
        return bool(seen.get("phase") == "Unschedulable")

    try:
        await eventually(status_written, what="status in explain")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; last status seen: {seen}") from exc
    result = await explain(namespace, "huge", str(apiserver.kubeconfig_path))
    assert any(e["reason"] == "FailedScheduling" for e in result.events)


async def test_metrics_and_health_are_served_after_scheduling(
    api_client: client.ApiClient, namespace: str, operator: OperatorProcess
) -> None:
    pool = unique("pool")
    await make_nodes(api_client, pool, racks=1, per_rack=1)
    await create_pods(api_client, namespace, [pod_body("m-0", pool, None, gpus=1)])
    await eventually(all_bound(api_client, namespace, "m-", 1), what="a pod bound")
    assert http_status(f"{operator.metrics_url}/healthz") == 200
    assert http_status(f"{operator.metrics_url}/readyz") == 200
    page = http_text(f"{operator.metrics_url}/metrics")
    samples = {
        line.split(" ")[0]: float(line.split(" ")[1]) for line in page.splitlines() if line and not line.startswith("#")
    }
    assert samples['phalanx_schedule_attempts_total{result="scheduled"}'] >= 1
    assert samples['phalanx_scheduling_attempt_duration_seconds_count{result="scheduled"}'] >= 1
    assert samples['phalanx_solver_duration_seconds_count{status="Optimal"}'] >= 1
    assert samples["phalanx_leader"] == 1
    assert samples["phalanx_preemption_attempts_total"] >= 1  # the preemption tests ran before
    assert "phalanx_pending_gangs" in samples

"""The bad-input catalogue, on a real kube-apiserver: each kind of bad input is refused by the schema naming the
field, or accepted and answered with a condition and an event, and the operator keeps scheduling the other
gangs throughout (every test ends by scheduling a healthy gang beside the bad input)."""

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
    async with kubelet_namespace(api_client, "bad") as name:
        yield name
    assert operator.proc.poll() is None, "the operator died"
    assert http_status(operator.metrics_url + "/healthz") == 200


async def _healthy_gang_still_schedules(api: client.ApiClient, namespace: str) -> None:
    pool = unique("pool")
    await make_nodes(api, pool, racks=1, per_rack=2)
    objects: Any = client.CustomObjectsApi(api)
    await objects.create_namespaced_custom_object(GROUP, VERSION, namespace, "podgroups", pod_group_body("ok", 2))
    await create_pods(api, namespace, [pod_body(f"ok-{i}", pool, "ok", gpus=8) for i in range(2)])
    await eventually(all_bound(api, namespace, "ok-", 2), within=60, what="a healthy gang bound beside the bad input")


async def _pod_condition(api: client.ApiClient, namespace: str, name: str) -> dict[str, Any]:
    core: Any = client.CoreV1Api(api)
    pod = await core.read_namespaced_pod(name, namespace)
    for condition in pod.status.conditions or []:
        if condition.type == "PodScheduled":
            return {"status": condition.status, "reason": condition.reason, "message": condition.message or ""}
    return {}


async def _events(api: client.ApiClient, namespace: str, name: str) -> list[tuple[str, str]]:
    core: Any = client.CoreV1Api(api)
    events = await core.list_namespaced_event(namespace)
    return [(e.reason, e.message) for e in events.items if e.involved_object.name == name]


BAD_GROUPS = [
    ({"schedulingPolicy": {"gang": {"minCount": 0}}}, "spec.schedulingPolicy.gang.minCount"),
    ({"schedulingPolicy": {"gang": {"minCount": 2147483648}}}, "spec.schedulingPolicy.gang.minCount"),
    ({"schedulingPolicy": {"gang": {"minCount": "four"}}}, "spec.schedulingPolicy.gang.minCount"),
    ({"schedulingPolicy": {}}, "spec.schedulingPolicy"),
    (
        {"schedulingPolicy": {"basic": {}}, "schedulingConstraints": {"topology": [{"key": "r", "mode": "Sometimes"}]}},
        "spec.schedulingConstraints.topology.mode",
    ),
    ({"schedulingPolicy": {"basic": {}}, "priority": 2147483648}, "spec.priority"),
    ({"schedulingPolicy": {"basic": {}}, "disruptionMode": "Half"}, "spec.disruptionMode"),
    ({"schedulingPolicy": {"basic": {}}, "priorityClassName": "Not_A_Name"}, "spec.priorityClassName"),
]


@pytest.mark.parametrize(("spec", "field"), BAD_GROUPS, ids=[f for _, f in BAD_GROUPS])
async def test_an_invalid_pod_group_is_refused_by_the_schema_naming_the_field(
    api_client: client.ApiClient, namespace: str, spec: dict[str, Any], field: str
) -> None:
    objects: Any = client.CustomObjectsApi(api_client)
    body = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "PodGroup", "metadata": {"name": "bad"}, "spec": spec}
    with pytest.raises(client.ApiException) as refused:
        await objects.create_namespaced_custom_object(GROUP, VERSION, namespace, "podgroups", body)
    assert refused.value.status == 422
    assert field in str(refused.value.body)


async def test_a_pod_naming_a_missing_group_waits_and_says_so(api_client: client.ApiClient, namespace: str) -> None:
    pool = unique("pool")
    await make_nodes(api_client, pool, racks=1, per_rack=1)
    await create_pods(api_client, namespace, [pod_body("lost", pool, "nowhere", gpus=1)])

    async def told() -> bool:
        condition = await _pod_condition(api_client, namespace, "lost")
        return "'nowhere' does not exist" in condition.get("message", "")

    await eventually(told, what="PodScheduled=False naming the missing PodGroup")
    assert any(reason == "FailedScheduling" for reason, _ in await _events(api_client, namespace, "lost"))
    await _healthy_gang_still_schedules(api_client, namespace)
    assert not (await bound(api_client, namespace, "lost"))["lost"]


async def test_a_gang_whose_pods_never_all_come_waits_and_says_how_many_are_there(
    api_client: client.ApiClient, namespace: str
) -> None:
    pool = unique("pool")
    await make_nodes(api_client, pool, racks=1, per_rack=2)
    objects: Any = client.CustomObjectsApi(api_client)
    await objects.create_namespaced_custom_object(GROUP, VERSION, namespace, "podgroups", pod_group_body("short", 5))
    await create_pods(api_client, namespace, [pod_body(f"short-{i}", pool, "short", gpus=1) for i in range(2)])

    async def waiting() -> bool:
        status = (await pod_group(api_client, namespace, "short")).get("status", {})
        return any(
            c["reason"] == "WaitingForPods" and "2/5" in c.get("message", "") for c in status.get("conditions", [])
        )

    await eventually(waiting, what="WaitingForPods 2/5 on the PodGroup")
    await _healthy_gang_still_schedules(api_client, namespace)
    assert not any((await bound(api_client, namespace, "short-")).values())


async def test_a_pod_labelled_for_two_groups_joins_the_phalanx_one(
    api_client: client.ApiClient, namespace: str
) -> None:
    pool = unique("pool")
    await make_nodes(api_client, pool, racks=1, per_rack=2)
    objects: Any = client.CustomObjectsApi(api_client)
    await objects.create_namespaced_custom_object(GROUP, VERSION, namespace, "podgroups", pod_group_body("ours", 2))
    await objects.create_namespaced_custom_object(GROUP, VERSION, namespace, "podgroups", pod_group_body("theirs", 3))
    pods = [pod_body(f"both-{i}", pool, "ours", gpus=1) for i in range(2)]
    for pod in pods:
        pod["metadata"]["labels"]["scheduling.x-k8s.io/pod-group"] = "theirs"  # scheduler-plugins' label too
    await create_pods(api_client, namespace, pods)
    await eventually(
        all_bound(api_client, namespace, "both-", 2), within=60, what="bound as members of 'ours' (minCount 2)"
    )

    async def counted() -> bool:
        return bool((await pod_group(api_client, namespace, "ours")).get("status", {}).get("scheduled") == 2)

    await eventually(counted, what="PodGroup 'ours' counting both pods")


async def test_nodes_with_odd_labels_or_resources_are_tolerated(api_client: client.ApiClient, namespace: str) -> None:
    core: Any = client.CoreV1Api(api_client)
    tag = unique("odd")
    ready = [{"type": "Ready", "status": "True"}]
    odd = [
        ({}, {"cpu": "4", "memory": "8Gi", "pods": "110"}, ready),  # no labels at all
        ({"network.phalanx.dev/rack": ""}, {"cpu": "4", "pods": "110"}, ready),  # empty topology value
        ({"x": "y"}, {"cpu": "4", "example.com/widgets": "3", "pods": "110"}, ready),  # unknown resource
        ({"x": "y"}, {"cpu": "0", "memory": "0", "pods": "0"}, ready),  # nothing allocatable
        ({"x": "y"}, {"cpu": "1e6", "memory": "1Ei", "pods": "110"}, ready),  # implausibly large
        ({"x": "y"}, {"cpu": "4", "pods": "110"}, []),  # no conditions: never reported Ready
    ]
    for i, (labels, resources, conditions) in enumerate(odd):
        body = {
            "metadata": {"name": f"{tag}-{i}", "labels": labels},
            "status": {"capacity": resources, "allocatable": resources, "conditions": conditions},
        }
        await core.create_node(body)
    await _healthy_gang_still_schedules(api_client, namespace)
    placed = (await bound(api_client, namespace, "ok-")).values()
    assert not any(node and node.startswith(tag) for node in placed)


async def test_a_gang_larger_than_the_whole_cluster_is_explained(api_client: client.ApiClient, namespace: str) -> None:
    pool = unique("pool")
    await make_nodes(api_client, pool, racks=1, per_rack=2)
    objects: Any = client.CustomObjectsApi(api_client)
    await objects.create_namespaced_custom_object(GROUP, VERSION, namespace, "podgroups", pod_group_body("huge", 6))
    await create_pods(api_client, namespace, [pod_body(f"huge-{i}", pool, "huge", gpus=8) for i in range(6)])

    async def explained() -> bool:
        status = (await pod_group(api_client, namespace, "huge")).get("status", {})
        conditions: list[dict[str, Any]] = status.get("conditions", [])
        condition = next((c for c in conditions if c["type"] == "PodGroupScheduled"), {})
        return status.get("phase") == "Unschedulable" and "nvidia.com/gpu" in condition.get("message", "")

    await eventually(explained, what="Unschedulable with the reason per node")

    async def evented() -> bool:
        return any(reason == "FailedScheduling" for reason, _ in await _events(api_client, namespace, "huge"))

    await eventually(evented, what="a FailedScheduling event on the PodGroup")  # posted after the status
    await _healthy_gang_still_schedules(api_client, namespace)
    assert not any((await bound(api_client, namespace, "huge-")).values())


async def test_a_malformed_quantity_is_refused_by_the_server_naming_the_field(
    api_client: client.ApiClient, namespace: str
) -> None:
    core: Any = client.CoreV1Api(api_client)
    pod = pod_body("malformed", "nowhere", None, gpus=1)
    pod["spec"]["containers"][0]["resources"] = {"requests": {"cpu": "12 cores"}}
    with pytest.raises(client.ApiException) as refused:
        await core.create_namespaced_pod(namespace, pod)
    assert refused.value.status == 400 or refused.value.status == 422
    assert "cpu" in str(refused.value.body)


async def test_a_quantity_too_large_to_schedule_is_answered_on_the_pod(
    api_client: client.ApiClient, namespace: str
) -> None:
    pool = unique("pool")
    await make_nodes(api_client, pool, racks=1, per_rack=1)
    pod = pod_body("enormous", pool, None, gpus=1)
    pod["spec"]["containers"][0]["resources"] = {"requests": {"cpu": "1e30"}}
    await create_pods(api_client, namespace, [pod])  # the server stores it; Phalanx cannot count it

    async def told() -> bool:
        condition = await _pod_condition(api_client, namespace, "enormous")
        return condition.get("status") == "False" and "invalid pod" in condition.get("message", "")

    await eventually(told, what="PodScheduled=False saying the pod is invalid")
    assert any("too large" in message for _, message in await _events(api_client, namespace, "enormous"))
    await _healthy_gang_still_schedules(api_client, namespace)

"""A gang that fits nowhere asks for its whole capacity at once (ProvisioningRequest), on a real kube-apiserver.

No cluster autoscaler runs here: the test plays it, writing the request's conditions and adding the nodes.
"""

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
    kubelet_namespace,
    make_nodes,
    object_path,
    pod_body,
    pod_group,
    pod_group_body,
    rest,
    serving_operator,
    unique,
)

pytestmark = pytest.mark.usefixtures("phalanx_crds", "thirdparty_crds")
CLASS = "best-effort-atomic-scale-up.autoscaling.x-k8s.io"
PR_API = "autoscaling.x-k8s.io/v1"


@pytest.fixture(scope="module")
def operator(
    apiserver: ApiServer, tmp_path_factory: pytest.TempPathFactory, phalanx_crds: Any, thirdparty_crds: Any
) -> Iterator[OperatorProcess]:
    folder = tmp_path_factory.mktemp("operator")
    config = folder / "config.yaml"
    config.write_text(f"provisioning: {{enabled: true, provisioningClassName: {CLASS}, retrySeconds: 2}}\n")
    yield from serving_operator(apiserver.kubeconfig_path, folder, "--config", str(config))


@pytest.fixture
async def namespace(api_client: client.ApiClient, operator: OperatorProcess) -> AsyncIterator[str]:
    async with kubelet_namespace(api_client, "ns") as name:
        yield name


async def _requests(api: client.ApiClient, namespace: str) -> dict[str, dict[str, Any]]:
    found = await rest(api, "GET", object_path(PR_API, "ProvisioningRequest", namespace))
    return {item["metadata"]["name"]: item for item in found["items"]}


async def _templates(api: client.ApiClient, namespace: str) -> list[str]:
    found = await rest(api, "GET", object_path("v1", "PodTemplate", namespace))
    return [item["metadata"]["name"] for item in found["items"]]


async def _set_conditions(api: client.ApiClient, namespace: str, name: str, *conditions: tuple[str, str]) -> None:
    """What the autoscaler writes: (type, message) conditions, all True."""
    body = {
        "status": {
            "conditions": [
                {
                    "type": kind,
                    "status": "True",
                    "reason": kind,
                    "message": message,
                    "lastTransitionTime": "2026-01-01T00:00:00Z",
                }
                for kind, message in conditions
            ]
        }
    }
    await rest(api, "PATCH", object_path(PR_API, "ProvisioningRequest", namespace, name) + "/status", body)


async def _capacity_condition(api: client.ApiClient, namespace: str, group: str) -> dict[str, Any]:
    status = (await pod_group(api, namespace, group)).get("status", {})
    return next((c for c in status.get("conditions", []) if c["type"] == "CapacityProvisioned"), {})


async def _gang_too_big_for_its_pool(api: client.ApiClient, namespace: str) -> str:
    """A gang of 4 pods x 8 GPUs on a pool of one 8-GPU node: unschedulable, nothing to preempt."""
    pool = unique("pool")
    await make_nodes(api, pool, racks=1, per_rack=1)
    objects: Any = client.CustomObjectsApi(api)
    await objects.create_namespaced_custom_object(GROUP, VERSION, namespace, "podgroups", pod_group_body("big", 4))
    await create_pods(api, namespace, [pod_body(f"big-{i}", pool, "big", gpus=8) for i in range(4)])
    return pool


async def test_a_gang_that_fits_nowhere_gets_one_request_for_all_its_pods_and_binds_when_nodes_come(
    api_client: client.ApiClient, namespace: str
) -> None:
    pool = await _gang_too_big_for_its_pool(api_client, namespace)

    async def requested() -> bool:
        return "big-1" in await _requests(api_client, namespace)

    await eventually(requested, what="ProvisioningRequest big-1")
    request = (await _requests(api_client, namespace))["big-1"]
    assert request["spec"]["provisioningClassName"] == CLASS
    (pod_set,) = request["spec"]["podSets"]
    assert pod_set["count"] == 4
    assert pod_set["podTemplateRef"]["name"] in await _templates(api_client, namespace)
    assert request["metadata"]["ownerReferences"][0]["kind"] == "PodGroup"

    async def provisioning() -> bool:
        return (await _capacity_condition(api_client, namespace, "big")).get("reason") == "Provisioning"

    await eventually(provisioning, what="CapacityProvisioned=False (Provisioning) on the PodGroup")
    assert not any((await bound(api_client, namespace, "big-")).values())

    # The autoscaler: accept, scale up (Provisioned), then the three new nodes register.
    await _set_conditions(api_client, namespace, "big-1", ("Accepted", "accepted"))
    await _set_conditions(api_client, namespace, "big-1", ("Accepted", "ok"), ("Provisioned", "3 nodes added"))

    async def provisioned() -> bool:
        return (await _capacity_condition(api_client, namespace, "big")).get("reason") == "Provisioned"

    await eventually(provisioned, what="CapacityProvisioned=True (Provisioned) on the PodGroup")
    await make_nodes(api_client, pool, racks=1, per_rack=4, existing_ok=True)  # n1..n3 beside n0

    await eventually(all_bound(api_client, namespace, "big-", 4), what="the gang bound on the new nodes")

    async def cleaned_up() -> bool:
        return not await _requests(api_client, namespace) and not await _templates(api_client, namespace)

    await eventually(cleaned_up, what="request and templates deleted once the gang bound")
    condition = await _capacity_condition(api_client, namespace, "big")
    assert (condition["status"], condition["reason"]) == ("True", "Provisioned")


async def test_a_failed_request_is_reported_asked_again_and_removed_with_its_group(
    api_client: client.ApiClient, namespace: str
) -> None:
    await _gang_too_big_for_its_pool(api_client, namespace)

    async def requested() -> bool:
        return "big-1" in await _requests(api_client, namespace)

    await eventually(requested, what="ProvisioningRequest big-1")
    await _set_conditions(api_client, namespace, "big-1", ("Failed", "out of GPUs in every zone"))

    async def reported() -> bool:
        condition = await _capacity_condition(api_client, namespace, "big")
        return condition.get("reason") == "ProvisioningFailed" and "out of GPUs" in condition.get("message", "")

    await eventually(reported, what="CapacityProvisioned=False (ProvisioningFailed) with the autoscaler's message")
    core: Any = client.CoreV1Api(api_client)
    events = await core.list_namespaced_event(namespace)
    assert any(e.reason == "ProvisioningFailed" and e.involved_object.name == "big" for e in events.items)

    async def asked_again() -> bool:
        return set(await _requests(api_client, namespace)) == {"big-2"}

    await eventually(asked_again, what="the failed request replaced by big-2 after the retry delay")

    objects: Any = client.CustomObjectsApi(api_client)
    await objects.delete_namespaced_custom_object(GROUP, VERSION, namespace, "podgroups", "big")

    async def removed() -> bool:
        return not await _requests(api_client, namespace) and not await _templates(api_client, namespace)

    await eventually(removed, what="request and templates removed with the PodGroup")

"""Smoke tests proving the test apiserver behaves the way Phalanx's tests rely on."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable

import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client.rest import ApiException

from tests.integration.apiserver import ApiServer
from tests.integration.operator_harness import api_client_for

GROUP = "smoke.phalanx.dev"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def test_the_server_reports_kubernetes_1_20(api_client: client.ApiClient) -> None:
    version = await client.VersionApi(api_client).get_code()
    assert version.git_version.startswith("v1.20."), version.git_version


async def test_the_server_accepts_a_node_and_it_has_no_not_ready_taint(api_client: client.ApiClient) -> None:
    core = client.CoreV1Api(api_client)
    name = unique("node")
    node = client.V1Node(
        metadata=client.V1ObjectMeta(name=name),
        status=client.V1NodeStatus(capacity={"cpu": "8", "memory": "32Gi", "pods": "110"}),
    )
    await core.create_node(node)
    try:
        stored = await core.read_node(name)
        assert not stored.spec.taints, stored.spec.taints
        assert stored.status.capacity["cpu"] == "8"
    finally:
        await core.delete_node(name)


async def test_a_pod_can_be_created_and_bound_to_a_node_by_a_scheduler(api_client: client.ApiClient) -> None:
    core = client.CoreV1Api(api_client)
    node, pod = unique("node"), unique("pod")
    await core.create_node(client.V1Node(metadata=client.V1ObjectMeta(name=node)))
    try:
        await core.create_namespaced_pod(
            "default",
            client.V1Pod(
                metadata=client.V1ObjectMeta(name=pod),
                spec=client.V1PodSpec(
                    scheduler_name="phalanx",
                    containers=[client.V1Container(name="main", image="example.invalid/app:1")],
                ),
            ),
        )
        binding = client.V1Binding(
            metadata=client.V1ObjectMeta(name=pod),
            target=client.V1ObjectReference(kind="Node", name=node),
        )
        # The Binding response can't be deserialized by the generated model (no `target`), so skip it.
        await core.create_namespaced_binding("default", binding, _preload_content=False)
        assert (await core.read_namespaced_pod(pod, "default")).spec.node_name == node
        await core.delete_namespaced_pod(pod, "default", grace_period_seconds=0)
    finally:
        await core.delete_node(node)


async def test_a_custom_resource_can_be_created_without_crashing_the_server(
    apiserver: ApiServer, api_client: client.ApiClient
) -> None:
    # Regression guard: a kube-apiserver 1.20 built with Go >= 1.18 segfaults right here.
    ext = client.ApiextensionsV1Api(api_client)
    plural = unique("widgets").replace("-", "")
    crd_name = f"{plural}.{GROUP}"
    schema = client.V1JSONSchemaProps(
        type="object",
        properties={
            "spec": client.V1JSONSchemaProps(
                type="object",
                properties={"size": client.V1JSONSchemaProps(type="integer")},
            )
        },
    )
    crd = client.V1CustomResourceDefinition(
        metadata=client.V1ObjectMeta(name=crd_name),
        spec=client.V1CustomResourceDefinitionSpec(
            group=GROUP,
            scope="Namespaced",
            names=client.V1CustomResourceDefinitionNames(plural=plural, singular=plural[:-1], kind="Widget"),
            versions=[
                client.V1CustomResourceDefinitionVersion(
                    name="v1",
                    served=True,
                    storage=True,
                    schema=client.V1CustomResourceValidation(open_apiv3_schema=schema),
                )
            ],
        ),
    )
    await ext.create_custom_resource_definition(crd)
    try:

        async def established() -> bool:
            conditions = (await ext.read_custom_resource_definition(crd_name)).status.conditions or []
            return any(c.type == "Established" and c.status == "True" for c in conditions)

        for _ in range(150):  # ~30 s
            if await established():
                break
            await asyncio.sleep(0.2)
        else:
            pytest.fail(f"CRD {crd_name} never became Established")
        custom = client.CustomObjectsApi(api_client)
        body = {
            "apiVersion": f"{GROUP}/v1",
            "kind": "Widget",
            "metadata": {"name": "w1"},
            "spec": {"size": 3},
        }
        await custom.create_namespaced_custom_object(GROUP, "v1", "default", plural, body)
        stored = await custom.get_namespaced_custom_object(GROUP, "v1", "default", plural, "w1")
        assert stored["spec"] == {"size": 3}
        assert apiserver.alive, apiserver.log_tail("kube-apiserver")
    finally:
        if apiserver.alive:
            await ext.delete_custom_resource_definition(crd_name)


async def test_with_rbac_a_user_without_bindings_is_forbidden_while_the_admin_is_allowed(
    apiserver_factory: Callable[..., ApiServer],
) -> None:
    server = apiserver_factory(rbac=True, users=["nobody"])
    for user, allowed in (("phalanx-admin", True), ("nobody", False)):
        kubeconfig = server.write_kubeconfig(server.work_dir / f"{user}.kubeconfig", user)
        async with api_client_for(kubeconfig) as api:
            core = client.CoreV1Api(api)
            if allowed:
                await core.list_node()
            else:
                with pytest.raises(ApiException) as denied:
                    await core.list_node()
                assert denied.value.status == 403
    server.stop()

"""A second scheduler racing for the same nodes: kube-scheduler 1.20 binds an ordinary pod onto the node Phalanx
planned for a gang pod whose binding is still in flight. Phalanx must notice that the node no longer has room,
not bind there (the API server would accept it: nothing but the kubelet checks capacity), and place the gang
again. Made reproducible by the fault proxy, which holds that one binding back until the race has happened."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

import pytest
from kubernetes_asyncio import client

from tests.integration.apiserver import ApiServer
from tests.integration.faultproxy import FaultProxy, FaultRates
from tests.integration.kube_scheduler import KubeScheduler
from tests.integration.operator_harness import (
    GROUP,
    VERSION,
    OperatorProcess,
    all_bound,
    bound,
    create_pods,
    eventually,
    kubelet,
    make_nodes,
    pod_body,
    pod_group_body,
    stand_in_controller,
    unique,
)

pytestmark = pytest.mark.usefixtures("phalanx_crds")
GPUS_PER_NODE = 8


async def _overcommitted(api: client.ApiClient, namespace: str) -> list[str]:
    """Nodes whose bound, live pods ask for more GPUs than the node has."""
    core: Any = client.CoreV1Api(api)
    used: dict[str, int] = {}
    for pod in (await core.list_namespaced_pod(namespace)).items:
        if pod.spec.node_name and pod.status.phase not in ("Succeeded", "Failed"):
            limits = pod.spec.containers[0].resources.limits or {}
            used[pod.spec.node_name] = used.get(pod.spec.node_name, 0) + int(limits.get("nvidia.com/gpu", 0))
    return [node for node, gpus in used.items() if gpus > GPUS_PER_NODE]


async def test_a_node_taken_by_kube_scheduler_mid_binding_is_never_overcommitted_and_the_gang_is_replanned(
    api_client: client.ApiClient, apiserver: ApiServer, k8s_bin_dir: Path, tmp_path: Path
) -> None:
    core: Any = client.CoreV1Api(api_client)
    objects: Any = client.CustomObjectsApi(api_client)
    namespace, pool = unique("race"), unique("pool")
    await core.create_namespace({"metadata": {"name": namespace}})
    await make_nodes(api_client, pool, racks=1, per_rack=2, gpus=GPUS_PER_NODE)
    owner = await stand_in_controller(api_client, namespace)

    def gang_pod(name: str) -> dict[str, Any]:
        body = pod_body(name, pool, "g", gpus=GPUS_PER_NODE)
        body["metadata"]["ownerReferences"] = [owner]
        return body

    overcommits: list[list[str]] = []

    async def watch_capacity() -> None:
        while True:
            if over := await _overcommitted(api_client, namespace):
                overcommits.append(over)
            await asyncio.sleep(0.1)

    kube_scheduler = KubeScheduler(k8s_bin_dir, apiserver.kubeconfig_path, tmp_path)
    with FaultProxy(apiserver.url, apiserver.ca_path, FaultRates()) as proxy:
        proxy.refuse = lambda method, path: 500 if method == "POST" and path.endswith("/pods/g-1/binding") else None
        kubeconfig = proxy.write_kubeconfig(apiserver.kubeconfig_path, tmp_path / "proxied.kubeconfig")
        operator = OperatorProcess(kubeconfig, tmp_path / "operator.log", "--no-leader-election")
        watcher = asyncio.create_task(watch_capacity())
        try:
            operator.wait_for("phalanx starting")
            async with kubelet(api_client, namespace):
                await objects.create_namespaced_custom_object(
                    GROUP, VERSION, namespace, "podgroups", pod_group_body("g", 2)
                )
                await create_pods(api_client, namespace, [gang_pod("g-0"), gang_pod("g-1")])

                async def half() -> bool:
                    placed = await bound(api_client, namespace, "g-")
                    return bool(placed.get("g-0")) and proxy.counts().get("refused", 0) > 0

                await eventually(half, within=60, what="g-0 bound, g-1's binding held back")
                g0_node = (await bound(api_client, namespace, "g-"))["g-0"]
                # kube-scheduler takes the node Phalanx planned for g-1: the only other one in the pool.
                await create_pods(api_client, namespace, [_ordinary(pool)])
                await eventually(all_bound(api_client, namespace, "other", 1), within=60, what="kube-scheduler bound")
                assert (await bound(api_client, namespace, "other"))["other"] != g0_node
                await asyncio.sleep(1.0)  # Phalanx's watch sees it
                proxy.refuse = None  # the held binding may go through now: it must not be sent to a full node

                async def released() -> bool:
                    return "g-0" not in await bound(api_client, namespace, "g-")

                await eventually(released, within=60, what="the stranded g-0 released so the gang can be placed again")
                assert not (await bound(api_client, namespace, "g-")).get("g-1")
                await create_pods(api_client, namespace, [gang_pod("g-0")])  # its controller recreates it
                await asyncio.sleep(2.0)
                assert not any((await bound(api_client, namespace, "g-")).values())  # no room: whole gang waits
                await core.delete_namespaced_pod("other", namespace)
                await eventually(
                    all_bound(api_client, namespace, "g-", 2), within=60, what="the gang bound whole once room came"
                )
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
            operator.stop()
            kube_scheduler.stop()
            print(operator.log_tail(80))
    assert not overcommits, f"nodes overcommitted: {overcommits}"
    events = await core.list_namespaced_event(namespace)
    assert any(e.reason == "BindConflict" and e.involved_object.name == "g" for e in events.items)


def _ordinary(pool: str) -> dict[str, Any]:
    body = pod_body("other", pool, None, gpus=GPUS_PER_NODE)
    body["spec"]["schedulerName"] = "default-scheduler"
    return body

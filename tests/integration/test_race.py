"""A second scheduler racing for the same nodes: kube-scheduler 1.20 binds an ordinary pod onto the node Phalanx
planned for a gang pod whose binding is still in flight. Phalanx must notice that the node no longer has room,
not bind there (the API server would accept it: nothing but the kubelet checks capacity), and place the gang
again. Made reproducible by the fault proxy, which holds the second pod's binding back until the race has happened.
The gang's pods come from the real Job controller (the `controller_manager` fixture), which also recreates the pod
Phalanx releases."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
from typing import Any

import pytest
from kubernetes_asyncio import client

from tests.controllers import job_body, pod_template
from tests.integration.apiserver import ApiServer
from tests.integration.faultproxy import FaultProxy, FaultRates
from tests.integration.kube_scheduler import KubeScheduler
from tests.integration.operator_harness import (
    GROUP,
    NODE_GPUS,
    VERSION,
    OperatorProcess,
    all_bound,
    bound,
    create_owned,
    create_pods,
    eventually,
    job_pods_bound,
    job_pods_of,
    kubelet,
    make_nodes,
    pod_body,
    pod_group_body,
    seen_by_operator,
    unique,
    unschedulable,
)

pytestmark = pytest.mark.usefixtures("phalanx_crds", "controller_manager")


async def _overcommitted(api: client.ApiClient, namespace: str) -> list[str]:
    """Nodes whose bound, live pods ask for more GPUs than the node has."""
    core: Any = client.CoreV1Api(api)
    used: dict[str, int] = {}
    for pod in (await core.list_namespaced_pod(namespace)).items:
        if pod.spec.node_name and pod.status.phase not in ("Succeeded", "Failed"):
            limits = pod.spec.containers[0].resources.limits or {}
            used[pod.spec.node_name] = used.get(pod.spec.node_name, 0) + int(limits.get("nvidia.com/gpu", 0))
    return [node for node, gpus in used.items() if gpus > NODE_GPUS]


async def test_a_node_taken_by_kube_scheduler_mid_binding_is_never_overcommitted_and_the_gang_is_replanned(
    api_client: client.ApiClient, apiserver: ApiServer, k8s_bin_dir: Path, tmp_path: Path
) -> None:
    core: Any = client.CoreV1Api(api_client)
    objects: Any = client.CustomObjectsApi(api_client)
    namespace, pool = unique("race"), unique("pool")
    await core.create_namespace({"metadata": {"name": namespace}})
    await make_nodes(api_client, pool, racks=1, per_rack=2, gpus=NODE_GPUS)
    first: set[str] = set()

    def hold_all_but_first(method: str, path: str) -> int | None:
        """The first pod of the test's namespace bound goes through; every other pod's binding there is refused
        (held back). Other namespaces pass: pods other modules left behind may be bound by this operator."""
        if method != "POST" or not path.endswith("/binding") or f"/namespaces/{namespace}/" not in path:
            return None
        pod = path.rsplit("/", 2)[-2]
        if not first:
            first.add(pod)
        return None if pod in first else 500

    overcommits: list[list[str]] = []

    async def watch_capacity() -> None:
        while True:
            if over := await _overcommitted(api_client, namespace):
                overcommits.append(over)
            await asyncio.sleep(0.1)

    kube_scheduler = KubeScheduler(k8s_bin_dir, apiserver.kubeconfig_path, tmp_path)
    with FaultProxy(apiserver.url, apiserver.ca_path, FaultRates()) as proxy:
        proxy.refuse = hold_all_but_first
        kubeconfig = proxy.write_kubeconfig(apiserver.kubeconfig_path, tmp_path / "proxied.kubeconfig")
        operator = OperatorProcess(kubeconfig, tmp_path / "operator.log", "--no-leader-election")
        watcher = asyncio.create_task(watch_capacity())
        try:
            operator.wait_for("phalanx starting")
            async with kubelet(api_client, namespace):
                await objects.create_namespaced_custom_object(
                    GROUP, VERSION, namespace, "podgroups", pod_group_body("g", 2)
                )
                # A Job "g" of two full-node pods, in PodGroup "g" by label.
                template = pod_template(gpus=NODE_GPUS, pool=pool)
                template["metadata"]["labels"] = {"scheduling.phalanx.dev/pod-group": "g"}
                await create_owned(api_client, namespace, [job_body("g", 2, indexed=False, template=template)])

                async def half() -> bool:
                    placed = await job_pods_of(api_client, namespace, "g")
                    return sum(1 for n in placed.values() if n) == 1 and proxy.counts().get("refused", 0) > 0

                await eventually(half, within=60, what="one gang pod bound, the other's binding held back")
                (stranded,) = first
                stranded_node = (await job_pods_of(api_client, namespace, "g"))[stranded]
                # kube-scheduler takes the node Phalanx planned for the other pod: the only other one in the pool.
                await create_pods(api_client, namespace, [_ordinary(pool)])
                await eventually(all_bound(api_client, namespace, "other", 1), within=60, what="kube-scheduler bound")
                assert (await bound(api_client, namespace, "other"))["other"] != stranded_node
                await seen_by_operator(api_client, namespace, pool)
                proxy.refuse = None  # the held binding may go through now: it must not be sent to a full node

                async def released() -> bool:
                    return stranded not in await job_pods_of(api_client, namespace, "g")

                await eventually(released, within=60, what="the stranded pod released so the gang can be placed again")

                # Its Job controller recreates it; with no room, the whole gang waits.
                async def waiting_whole() -> bool:
                    pods = await job_pods_of(api_client, namespace, "g")
                    return len(pods) == 2 and all([await unschedulable(api_client, namespace, p) for p in pods])

                await eventually(waiting_whole, within=60, what="the recreated gang found no room, both pods told")
                assert not any((await job_pods_of(api_client, namespace, "g")).values())
                await core.delete_namespaced_pod("other", namespace)
                await eventually(
                    job_pods_bound(api_client, namespace, "g", 2), within=60, what="the gang bound whole once room came"
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
    body = pod_body("other", pool, None, gpus=NODE_GPUS)
    body["spec"]["schedulerName"] = "default-scheduler"
    return body

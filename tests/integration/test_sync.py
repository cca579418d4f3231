"""No decision before every watched kind is listed: made deterministic by holding one listing back.

kopf raises its ready flag before its watchers have listed anything; when PodGroups, PDBs and priority classes
came through kopf, a freshly started (or failed-over) leader could decide before it knew the PodGroups, and
split a `disruptionMode: PodGroup` gang it took for lone pods. Here the fault proxy refuses the PodGroup
listing for as long as the test says: the operator must decide nothing meanwhile, then preempt the gang whole.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes_asyncio import client

from tests.integration.apiserver import ApiServer
from tests.integration.faultproxy import FaultProxy, FaultRates
from tests.integration.operator_harness import (
    GROUP,
    VERSION,
    OperatorProcess,
    bound,
    create_pods,
    eventually,
    http_status,
    kubelet,
    make_nodes,
    pod_body,
    pod_group_body,
    unique,
)

pytestmark = pytest.mark.usefixtures("phalanx_crds")


@pytest.fixture
async def namespace(api_client: client.ApiClient) -> AsyncIterator[str]:
    core: Any = client.CoreV1Api(api_client)
    name = unique("sync")
    await core.create_namespace({"metadata": {"name": name}})
    async with kubelet(api_client, name):
        yield name


def ours(body: dict[str, Any], scheduler: str, node: str | None = None) -> dict[str, Any]:
    body["spec"]["schedulerName"] = scheduler
    if node is not None:
        body["spec"]["nodeName"] = node
    return body


async def test_a_leader_that_has_not_listed_podgroups_decides_nothing_and_then_preempts_a_gang_whole(
    api_client: client.ApiClient, apiserver: ApiServer, namespace: str, tmp_path: Path
) -> None:
    scheduler, pool = unique("phalanx-sync"), unique("pool")
    nodes = await make_nodes(api_client, pool, racks=1, per_rack=2)
    scheduling: Any = client.SchedulingV1Api(api_client)
    objects: Any = client.CustomObjectsApi(api_client)
    low, high = unique("low"), unique("high")
    await scheduling.create_priority_class({"metadata": {"name": low}, "value": 10})
    await scheduling.create_priority_class({"metadata": {"name": high}, "value": 1000})
    # A running gang on both nodes, evicted whole or not at all; a pod that needs one of its nodes.
    group = pod_group_body("low", 2, disruptionMode="PodGroup", priorityClassName=low)
    await objects.create_namespaced_custom_object(GROUP, VERSION, namespace, "podgroups", group)
    await create_pods(
        api_client,
        namespace,
        [ours(pod_body(f"low-{i}", pool, "low", 8, low), scheduler, n) for i, n in enumerate(nodes)],
    )
    await create_pods(api_client, namespace, [ours(pod_body("high", pool, None, 8, high), scheduler)])

    held = True
    with FaultProxy(apiserver.url, apiserver.ca_path, FaultRates()) as proxy:
        proxy.refuse = lambda method, path: 500 if held and method == "GET" and path.endswith("/podgroups") else None
        kubeconfig = proxy.write_kubeconfig(apiserver.kubeconfig_path, tmp_path / "kubeconfig-proxy")
        operator = OperatorProcess(kubeconfig, tmp_path / "operator.log", "--scheduler-name", scheduler)
        try:
            await asyncio.to_thread(operator.wait_for, "became leader")

            async def refused_thrice() -> bool:
                return proxy.counts().get("refused", 0) >= 3

            # The signal: the leader is up and has tried (and failed) to list PodGroups three times.
            await eventually(refused_thrice, within=60, what="the PodGroup listing refused three times")
            placed = await bound(api_client, namespace, "")
            assert placed == {"low-0": nodes[0], "low-1": nodes[1], "high": None}, placed  # nothing decided
            assert http_status(f"{operator.metrics_url}/readyz") == 503  # not synced, so not ready either

            held = False

            async def preempted_whole() -> bool:
                now = await bound(api_client, namespace, "")
                return list(now) == ["high"] and now["high"] is not None

            await eventually(preempted_whole, within=60, what="the gang evicted whole and the pod bound")
        finally:
            operator.stop()
            print(operator.log_tail(80))

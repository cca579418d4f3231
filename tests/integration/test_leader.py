"""Leader election with two operator processes on the real API server: one schedules, the other takes over."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes_asyncio import client

from tests.integration.apiserver import ApiServer
from tests.integration.operator_harness import (
    OperatorProcess,
    eventually,
    http_status,
    kubelet,
    make_nodes,
    pod_body,
    unique,
)

SCHEDULER = "phalanx-ha"  # its own lease, apart from the other modules' operator
LEASE_SECONDS = 3
LEASE_NAMESPACE = "default"  # the operator's default outside a cluster (no POD_NAMESPACE)


@pytest.fixture
async def namespace(api_client: client.ApiClient) -> AsyncIterator[str]:
    core: Any = client.CoreV1Api(api_client)
    name = unique("ha")
    await core.create_namespace({"metadata": {"name": name}})
    async with kubelet(api_client, name):
        yield name


async def renewed_twice(api: client.ApiClient, namespace: str, name: str, within: float = 60.0) -> None:
    coordination: Any = client.CoordinationV1Api(api)
    seen: list[Any] = []

    async def renewals() -> bool:
        lease = await coordination.read_namespaced_lease(name, namespace)
        if not seen or lease.spec.renew_time != seen[-1]:
            seen.append(lease.spec.renew_time)
        return len(seen) >= 3

    await eventually(renewals, within=within, what="the leader renewing its lease twice")


def start(apiserver: ApiServer, folder: Path, name: str) -> OperatorProcess:
    extra = ("--scheduler-name", SCHEDULER, "--lease-seconds", str(LEASE_SECONDS))
    return OperatorProcess(apiserver.kubeconfig_path, folder / f"{name}.log", *extra)


async def test_one_replica_schedules_and_a_standby_takes_over_when_it_dies(
    api_client: client.ApiClient, namespace: str, apiserver: ApiServer, tmp_path: Path
) -> None:
    leader, standby = start(apiserver, tmp_path, "a"), None
    try:
        leader.wait_ready()
        standby = start(apiserver, tmp_path, "b")
        standby.wait_for("phalanx starting")
        # The signal that the standby had its chances: the leader renews the lease twice more while the standby
        # is up and campaigning (it retries every few seconds); the lease never lapsed, so it must not have won.
        await renewed_twice(api_client, LEASE_NAMESPACE, SCHEDULER)
        assert "became leader" not in standby.log_path.read_text()
        assert http_status(f"{leader.metrics_url}/readyz") == 200
        assert http_status(f"{standby.metrics_url}/readyz") == 200  # synced: ready, so a rollout can proceed
        assert http_status(f"{leader.metrics_url}/leader") == 200
        assert http_status(f"{standby.metrics_url}/leader") == 503  # but not the leader
        assert http_status(f"{standby.metrics_url}/healthz") == 200

        pool = unique("pool")
        await make_nodes(api_client, pool, racks=1, per_rack=1)
        core: Any = client.CoreV1Api(api_client)

        async def bound(name: str) -> bool:
            return bool((await core.read_namespaced_pod(name, namespace)).spec.node_name)

        first = pod_body("first", pool, None, gpus=1)
        first["spec"]["schedulerName"] = SCHEDULER
        await core.create_namespaced_pod(namespace, first)
        await eventually(lambda: bound("first"), what="the leader binds")

        leader.kill()
        takeover = standby.wait_for("became leader", within=4 * LEASE_SECONDS)
        assert takeover <= 3 * LEASE_SECONDS
        second = pod_body("second", pool, None, gpus=1)
        second["spec"]["schedulerName"] = SCHEDULER
        await core.create_namespaced_pod(namespace, second)
        await eventually(lambda: bound("second"), what="the new leader binds")
    finally:
        leader.stop()
        if standby is not None:
            standby.stop()


async def test_a_leader_that_loses_its_lease_stops_and_exits(
    api_client: client.ApiClient, apiserver: ApiServer, tmp_path: Path
) -> None:
    name = f"{SCHEDULER}-lost"
    extra = ("--scheduler-name", name, "--lease-seconds", str(LEASE_SECONDS))
    leader = OperatorProcess(apiserver.kubeconfig_path, tmp_path / "leader.log", *extra)
    try:
        leader.wait_ready()
        leases: Any = client.CoordinationV1Api(api_client)
        lease = await leases.read_namespaced_lease(name, "default")
        lease.spec.holder_identity = "someone-else"
        lease.spec.lease_duration_seconds = 3600  # and it keeps it
        await leases.replace_namespaced_lease(name, "default", lease)
        with contextlib.suppress(subprocess.TimeoutExpired):
            await asyncio.to_thread(leader.proc.wait, 6 * LEASE_SECONDS)
        assert leader.proc.returncode == 1, leader.log_tail()
        assert "lost leadership" in leader.log_path.read_text()
    finally:
        leader.stop()

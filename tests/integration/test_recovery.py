"""SIGKILL mid-gang on a real kube-apiserver: after a restart, a half-bound gang is completed in its domain (or,
when it can no longer be, its bound pods are released so it can be placed whole), and a preemption cut short
between evicting the victims and binding the preemptor ends with the preemptor bound and nothing reserved.

The crash is made reproducible with the fault proxy: it refuses the bindings of all but the first two pods, so the
operator is killed with exactly two pods unbound. The restarted operator talks to the API server directly. The
gang's pods come from the real Job controller (the `controller_manager` fixture), which also recreates the pods
Phalanx releases; the preemption test needs no controller (nothing is recreated there).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from kubernetes_asyncio import client

from tests.controllers import job_body, pod_template
from tests.integration.apiserver import ApiServer
from tests.integration.faultproxy import FaultProxy, FaultRates
from tests.integration.operator_harness import (
    GROUP,
    RACK,
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
)

pytestmark = pytest.mark.usefixtures("phalanx_crds", "controller_manager")
RACK_REQUIRED = {"schedulingConstraints": {"topology": [{"key": RACK}]}}


@pytest.fixture
async def namespace(api_client: client.ApiClient) -> str:
    core: Any = client.CoreV1Api(api_client)
    name = unique("crash")
    await core.create_namespace({"metadata": {"name": name}})
    return name


def _operator(kubeconfig: Path, log: Path) -> OperatorProcess:
    # No lease: a killed leader's lease would keep its successor waiting for the lease to expire.
    process = OperatorProcess(kubeconfig, log, "--no-leader-election")
    process.wait_for("phalanx starting")
    return process


def _refuse_all_bindings_but(allowed: int, namespace: str) -> Any:
    """Let the bindings of the first `allowed` pods of `namespace` through and refuse every other pod's there
    (the Job controller names the pods, so which ones is decided by the order they are bound in). Other
    namespaces pass: pods other modules left behind may be bound by this operator too."""
    passed: set[str] = set()

    def refuse(method: str, path: str) -> int | None:
        if method != "POST" or not path.endswith("/binding") or f"/namespaces/{namespace}/" not in path:
            return None
        pod = path.rsplit("/", 2)[-2]
        if pod in passed or len(passed) < allowed:
            passed.add(pod)
            return None
        return 500

    return refuse


def _rack(node: str) -> str:
    return node.rsplit("-n", 1)[0]  # `<pool>-r<i>-n<j>` -> `<pool>-r<i>`


async def _crash_with_half_bound(
    api: client.ApiClient, apiserver: ApiServer, namespace: str, pool: str, tmp_path: Path
) -> tuple[str, set[str]]:
    """A Job "g" of 4 x 4 GPUs whose pods form PodGroup "g" (by label), which needs one rack; the operator is
    killed with two pods bound and two not. Returns the rack of the bound pods (their nodes' name prefix,
    `<pool>-r<i>`) and their names."""
    objects: Any = client.CustomObjectsApi(api)
    await objects.create_namespaced_custom_object(
        GROUP, VERSION, namespace, "podgroups", pod_group_body("g", 4, **RACK_REQUIRED)
    )
    with FaultProxy(apiserver.url, apiserver.ca_path, FaultRates()) as proxy:
        proxy.refuse = _refuse_all_bindings_but(2, namespace)
        kubeconfig = proxy.write_kubeconfig(apiserver.kubeconfig_path, tmp_path / "proxied.kubeconfig")
        first = _operator(kubeconfig, tmp_path / "first.log")
        try:
            template = pod_template(gpus=4, pool=pool)
            template["metadata"]["labels"] = {"scheduling.phalanx.dev/pod-group": "g"}
            await create_owned(api, namespace, [job_body("g", 4, indexed=False, template=template)])

            async def half_bound() -> bool:
                placed = await job_pods_of(api, namespace, "g")
                return sum(1 for n in placed.values() if n) == 2 and proxy.counts().get("refused", 0) > 0

            await eventually(half_bound, within=30, what="two pods bound, the other two's bindings refused")
        finally:
            first.kill()  # SIGKILL: no clean-up of any kind
            first.stop()
    placed = await job_pods_of(api, namespace, "g")
    assert len(placed) == 4
    halves = {name for name, node in placed.items() if node}
    assert len(halves) == 2
    racks = {_rack(node) for node in placed.values() if node}
    assert len(racks) == 1
    return racks.pop(), halves


async def test_a_gang_half_bound_when_the_operator_died_is_completed_in_its_rack_after_restart(
    api_client: client.ApiClient, apiserver: ApiServer, namespace: str, tmp_path: Path
) -> None:
    pool = unique("pool")
    await make_nodes(api_client, pool, racks=2, per_rack=2)
    async with kubelet(api_client, namespace):
        rack, _ = await _crash_with_half_bound(api_client, apiserver, namespace, pool, tmp_path)
        second = _operator(apiserver.kubeconfig_path, tmp_path / "second.log")
        try:
            await eventually(
                job_pods_bound(api_client, namespace, "g", 4), within=60, what="the gang completed after restart"
            )
        finally:
            second.stop()
    nodes = (await job_pods_of(api_client, namespace, "g")).values()
    assert {_rack(n) for n in nodes if n} == {rack}


async def test_a_half_bound_gang_that_can_no_longer_fit_its_rack_is_released_and_placed_whole(
    api_client: client.ApiClient, apiserver: ApiServer, namespace: str, tmp_path: Path
) -> None:
    pool = unique("pool")
    await make_nodes(api_client, pool, racks=2, per_rack=2)
    core: Any = client.CoreV1Api(api_client)
    async with kubelet(api_client, namespace):
        rack, halves = await _crash_with_half_bound(api_client, apiserver, namespace, pool, tmp_path)
        # While Phalanx is down, another scheduler takes the rest of that rack.
        placed = await job_pods_of(api_client, namespace, "g")
        for i in range(2):
            node = f"{rack}-n{i}"
            free = 8 - 4 * sum(1 for n in placed.values() if n == node)
            if free:
                intruder = pod_body(f"other-{i}", pool, None, gpus=free)
                intruder["spec"].update(schedulerName="default-scheduler", nodeName=node)
                await core.create_namespaced_pod(namespace, intruder)
        second = _operator(apiserver.kubeconfig_path, tmp_path / "second.log")
        try:

            async def released() -> bool:
                return not set(await job_pods_of(api_client, namespace, "g")) & halves

            await eventually(released, within=60, what="the two bound pods released (deleted)")
            # The Job controller recreates them; the gang is then placed whole in the other rack.
            await eventually(
                job_pods_bound(api_client, namespace, "g", 4), within=60, what="the gang placed whole elsewhere"
            )
        finally:
            second.stop()
    nodes = (await job_pods_of(api_client, namespace, "g")).values()
    other = f"{pool}-r1" if rack == f"{pool}-r0" else f"{pool}-r0"
    assert {_rack(n) for n in nodes if n} == {other}
    events = await core.list_namespaced_event(namespace)
    assert any(e.reason == "GangReleased" and e.involved_object.name == "g" for e in events.items)


async def test_a_preemption_cut_short_by_a_crash_ends_with_the_preemptor_bound_and_nothing_reserved(
    api_client: client.ApiClient, apiserver: ApiServer, namespace: str, tmp_path: Path
) -> None:
    pool = unique("pool")
    await make_nodes(api_client, pool, racks=1, per_rack=3)
    scheduling: Any = client.SchedulingV1Api(api_client)
    objects: Any = client.CustomObjectsApi(api_client)
    core: Any = client.CoreV1Api(api_client)
    low, high = unique("low"), unique("high")
    await scheduling.create_priority_class({"metadata": {"name": low}, "value": 10})
    await scheduling.create_priority_class({"metadata": {"name": high}, "value": 1000})
    finalize = True
    async with kubelet(api_client, namespace, finalize=lambda: finalize):
        first = _operator(apiserver.kubeconfig_path, tmp_path / "first.log")
        try:
            body = pod_group_body("low", 3, disruptionMode="PodGroup", priorityClassName=low)
            await objects.create_namespaced_custom_object(GROUP, VERSION, namespace, "podgroups", body)
            await create_pods(api_client, namespace, [pod_body(f"low-{i}", pool, "low", 8, low) for i in range(3)])
            await eventually(all_bound(api_client, namespace, "low-", 3), what="the low-priority gang bound")
            finalize = False  # victims will stay Terminating: the preemptor cannot bind yet
            body = pod_group_body("high", 2, priorityClassName=high)
            await objects.create_namespaced_custom_object(GROUP, VERSION, namespace, "podgroups", body)
            await create_pods(api_client, namespace, [pod_body(f"high-{i}", pool, "high", 8, high) for i in range(2)])

            async def evicting() -> bool:
                pods = (await core.list_namespaced_pod(namespace)).items
                return all(p.metadata.deletion_timestamp for p in pods if p.metadata.name.startswith("low-"))

            await eventually(evicting, what="the low-priority gang being evicted whole")
        finally:
            first.kill()
            first.stop()
        assert not any((await bound(api_client, namespace, "high-")).values())
        second = _operator(apiserver.kubeconfig_path, tmp_path / "second.log")
        try:
            # The signal: the restarted operator has decided the preemptor (again preempting the Terminating
            # victims); it must still not bind it while they hold the nodes.
            await asyncio.to_thread(second.wait_for, "preempting")
            assert not any((await bound(api_client, namespace, "high-")).values())  # victims still there
            finalize = True
            await eventually(
                all_bound(api_client, namespace, "high-", 2), within=60, what="the preemptor bound after restart"
            )
            # Nothing stays reserved for nobody: the third node takes a new pod at once.
            await create_pods(api_client, namespace, [pod_body("after", pool, None, 8)])
            await eventually(all_bound(api_client, namespace, "after", 1), what="a new pod bound on the free node")
        finally:
            second.stop()


async def test_a_preemptor_recreated_under_its_name_mid_preemption_inherits_no_nomination(
    api_client: client.ApiClient, apiserver: ApiServer, namespace: str, tmp_path: Path
) -> None:
    """A StatefulSet-style delete and recreate under the same name while the victim terminates: the new pod
    (another UID, and a nodeSelector for the other node, where nothing may be preempted) must not inherit the
    old pod's nomination and land on the freed node its own spec forbids: it waits, unschedulable."""
    pool = unique("pool")
    first, other = await make_nodes(api_client, pool, racks=1, per_rack=2)
    scheduling: Any = client.SchedulingV1Api(api_client)
    core: Any = client.CoreV1Api(api_client)
    low, high = unique("low"), unique("high")
    await scheduling.create_priority_class({"metadata": {"name": low}, "value": 10})
    await scheduling.create_priority_class({"metadata": {"name": high}, "value": 1000})
    finalize = True
    async with kubelet(api_client, namespace, finalize=lambda: finalize):
        operator = _operator(apiserver.kubeconfig_path, tmp_path / "operator.log")
        try:
            victim, keeper = pod_body("victim", pool, None, 8, low), pod_body("keeper", pool, None, 8, high)
            victim["spec"]["nodeSelector"]["kubernetes.io/hostname"] = first
            keeper["spec"]["nodeSelector"]["kubernetes.io/hostname"] = other  # as high as p: never a victim
            await create_pods(api_client, namespace, [victim, keeper])
            await eventually(all_bound(api_client, namespace, "", 2), what="both nodes full")
            finalize = False  # the victim will stay Terminating: the preemptor waits on its nomination
            await create_pods(api_client, namespace, [pod_body("p", pool, None, 8, high)])

            async def nominated() -> bool:
                pod = await core.read_namespaced_pod("p", namespace)
                terminating = (await core.read_namespaced_pod("victim", namespace)).metadata.deletion_timestamp
                return pod.status.nominated_node_name == first and terminating is not None

            await eventually(nominated, within=60, what="p nominated to the victim's node, the victim terminating")
            await core.delete_namespaced_pod("p", namespace, grace_period_seconds=0)

            async def gone() -> bool:
                return "p" not in await bound(api_client, namespace, "p")

            await eventually(gone, what="the preemptor deleted")
            again = pod_body("p", pool, None, 8, high)
            again["spec"]["nodeSelector"]["kubernetes.io/hostname"] = other
            await create_pods(api_client, namespace, [again])
            finalize = True

            async def victim_gone_and_p_decided() -> bool:
                names = await bound(api_client, namespace, "")
                if names.get("p"):
                    return True  # bound: the assertion below says where
                pod = await core.read_namespaced_pod("p", namespace)
                told = any(c.type == "PodScheduled" and c.status == "False" for c in pod.status.conditions or [])
                return "victim" not in names and told

            await eventually(victim_gone_and_p_decided, within=60, what="the victim gone and p decided again")
            await seen_by_operator(api_client, namespace, pool)  # everything up to here has been acted on
            where = (await bound(api_client, namespace, "p"))["p"]
            assert where is None, f"the recreated p was bound to {where}, its predecessor's nominated node"
        finally:
            operator.stop()
            print(operator.log_tail(60))

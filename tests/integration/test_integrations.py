"""Jobs, JobSets and LeaderWorkerSets become gangs on a real kube-apiserver, without a PodGroup written by hand
and without a label on any pod.

The real kube-controller-manager runs for this module: Job pods, their replacements after a preemption and the
cascading deletes (garbage collector) come from it, and PodDisruptionBudget status from its disruption controller.
No JobSet or LeaderWorkerSet controller exists here, so those tests play their controller (tests/controllers.py):
they create the child objects with owner references to the real uids, and the real Job controller takes over
from the JobSet's child Jobs. The 1.20 server has no Indexed Jobs (`completionMode` arrived in 1.21 and is
pruned here), so Jobs opt in by annotation; the Indexed rule itself is covered by the unit tests.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes_asyncio import client

from scheduler.api.integrations import GANG_ANNOTATION
from tests.controllers import job_body, jobset_body, jobset_children, lws_body, lws_objects, pod_template
from tests.integration.apiserver import ApiServer
from tests.integration.controller_manager import CONTROLLERS, ControllerManager
from tests.integration.operator_harness import (
    GROUP,
    VERSION,
    OperatorProcess,
    all_bound,
    bound,
    create_owned,
    eventually,
    job_pods_bound,
    job_pods_of,
    kubelet_namespace,
    make_nodes,
    object_path,
    pod_group,
    rest,
    serving_operator,
    unique,
)

pytestmark = pytest.mark.usefixtures("phalanx_crds", "thirdparty_crds", "controller_manager")
OPT_IN = {GANG_ANNOTATION: "true"}


@pytest.fixture(scope="module")
def controller_manager(
    k8s_bin_dir: Path, apiserver: ApiServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ControllerManager]:
    """The real controllers but the StatefulSet one: the LeaderWorkerSet stand-in makes its StatefulSets' pods
    itself (no LWS controller exists here), and a real StatefulSet controller would release pods that do not
    match its selector, or count and replace them by 1.20's ordinals, which LWS workers do not follow."""
    controllers = tuple(c for c in CONTROLLERS if c != "statefulset")
    manager = ControllerManager(
        k8s_bin_dir, apiserver, tmp_path_factory.mktemp("controller-manager"), controllers=controllers
    )
    manager.start()
    try:
        yield manager
    finally:
        manager.stop()
        print(manager.log_tail(60))


@pytest.fixture(scope="module")
def operator(
    apiserver: ApiServer, tmp_path_factory: pytest.TempPathFactory, phalanx_crds: Any, thirdparty_crds: Any
) -> Iterator[OperatorProcess]:
    yield from serving_operator(apiserver.kubeconfig_path, tmp_path_factory.mktemp("operator"))


@pytest.fixture
async def namespace(api_client: client.ApiClient, operator: OperatorProcess) -> AsyncIterator[str]:
    async with kubelet_namespace(api_client, "ns") as name:
        yield name


async def _workload(api: client.ApiClient, namespace: str, name: str) -> dict[str, Any] | None:
    found: dict[str, Any] | None = await rest(
        api, "GET", f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/workloads/{name}"
    )
    return found


async def _exists(api: client.ApiClient, namespace: str, plural: str, name: str) -> bool:
    return await rest(api, "GET", f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/{plural}/{name}") is not None


async def _min_count(api: client.ApiClient, namespace: str, name: str) -> int | None:
    group = await rest(api, "GET", f"/apis/{GROUP}/{VERSION}/namespaces/{namespace}/podgroups/{name}")
    return None if group is None else int(group["spec"]["schedulingPolicy"]["gang"]["minCount"])


async def _set_pod_quota(api: client.ApiClient, namespace: str, pods: int) -> None:
    """At most `pods` pods in the namespace. No quota controller runs, so the quota's status is written here:
    admission counts new pods against `status.used` by itself (it never goes down, which these tests need not)."""
    core: Any = client.CoreV1Api(api)
    hard = {"pods": str(pods)}
    try:
        await core.create_namespaced_resource_quota(namespace, {"metadata": {"name": "pods"}, "spec": {"hard": hard}})
        status: dict[str, Any] = {"hard": hard, "used": {"pods": "0"}}
    except client.ApiException as exc:
        if exc.status != 409:
            raise
        await core.patch_namespaced_resource_quota("pods", namespace, {"spec": {"hard": hard}})
        status = {"hard": hard}
    await core.patch_namespaced_resource_quota_status("pods", namespace, {"status": status})


async def _delete(api: client.ApiClient, path: str, policy: str) -> None:
    await rest(api, "DELETE", path, {"apiVersion": "v1", "kind": "DeleteOptions", "propagationPolicy": policy})


async def test_a_job_becomes_a_gang_that_binds_only_once_all_its_pods_exist_and_follows_the_job(
    api_client: client.ApiClient, namespace: str
) -> None:
    pool = unique("pool")
    await make_nodes(api_client, pool, racks=1, per_rack=4)
    # A quota of three pods holds the Job controller's fourth pod back until it is raised.
    await _set_pod_quota(api_client, namespace, 3)
    # No completions: they are immutable on 1.20 and would cap the gang at their count after scaling.
    job = job_body("train", 4, indexed=False, annotations=OPT_IN, template=pod_template(gpus=8, pool=pool))
    await create_owned(api_client, namespace, [job])

    async def gang_created() -> bool:
        return await _min_count(api_client, namespace, "train-job-gang") == 4

    await eventually(gang_created, what="Workload train-job and PodGroup train-job-gang (minCount 4)")
    workload = await _workload(api_client, namespace, "train-job")
    assert workload is not None
    assert workload["metadata"]["ownerReferences"][0]["kind"] == "Job"

    async def waiting() -> bool:
        status = (await pod_group(api_client, namespace, "train-job-gang")).get("status", {})
        waits = any(c.get("reason") == "WaitingForPods" for c in status.get("conditions", []))
        return waits and len(await job_pods_of(api_client, namespace, "train")) == 3

    await eventually(waiting, what="three pods from the Job controller and the gang waiting for its fourth")
    assert not any((await job_pods_of(api_client, namespace, "train")).values())

    # Room for the fourth pod; touching the Job makes its controller retry now rather than after its backoff.
    await _set_pod_quota(api_client, namespace, 20)
    job_path = object_path("batch/v1", "Job", namespace, "train")
    await rest(api_client, "PATCH", job_path, {"metadata": {"annotations": {"test/quota": "raised"}}})
    await eventually(job_pods_bound(api_client, namespace, "train", 4), what="the Job's four pods bound together")

    # Scaled: the gang follows.
    await rest(api_client, "PATCH", job_path, {"spec": {"parallelism": 6}})

    async def resized() -> bool:
        return await _min_count(api_client, namespace, "train-job-gang") == 6

    await eventually(resized, what="minCount 6 after scaling the Job")

    # Deleted in the foreground: the garbage collector removes the pods, then the Job; the Workload (owned by the
    # Job) and its PodGroup (owned by the Workload) go with them.
    group = await pod_group(api_client, namespace, "train-job-gang")
    assert group["metadata"]["ownerReferences"][0]["kind"] == "Workload"
    await _delete(api_client, job_path, "Foreground")

    async def removed() -> bool:
        return (
            await rest(api_client, "GET", job_path) is None
            and not await job_pods_of(api_client, namespace, "train")
            and not await _exists(api_client, namespace, "workloads", "train-job")
            and not await _exists(api_client, namespace, "podgroups", "train-job-gang")
        )

    await eventually(removed, what="the Job, its pods, Workload and PodGroup removed")


async def test_a_job_without_parallelism_above_one_is_left_alone(api_client: client.ApiClient, namespace: str) -> None:
    pool = unique("pool")
    await make_nodes(api_client, pool, racks=1, per_rack=1)
    job = job_body("once", 1, indexed=False, template=pod_template(gpus=1, pool=pool))
    await create_owned(api_client, namespace, [job])
    await eventually(job_pods_bound(api_client, namespace, "once", 1), what="the single pod bound on its own")
    assert await _workload(api_client, namespace, "once-job") is None


async def test_a_preempted_job_gang_is_recreated_by_its_controller_and_waits_whole_until_room_returns(
    api_client: client.ApiClient, namespace: str
) -> None:
    pool = unique("pool")
    await make_nodes(api_client, pool, racks=1, per_rack=2)  # 16 GPUs: one gang of 2 x 8 at a time
    low, high = await _priority_classes(api_client)
    await create_owned(api_client, namespace, [_gang_job("low", 2, pool, low)])
    await eventually(job_pods_bound(api_client, namespace, "low", 2), what="the low-priority Job's gang bound")
    first = set(await job_pods_of(api_client, namespace, "low"))

    await create_owned(api_client, namespace, [_gang_job("high", 2, pool, high)])
    await eventually(job_pods_bound(api_client, namespace, "high", 2), what="the high-priority gang bound")

    async def replaced() -> bool:
        pods = await job_pods_of(api_client, namespace, "low")
        return len(pods) == 2 and not set(pods) & first

    await eventually(replaced, what="the Job controller's replacements for the whole evicted gang")
    assert not any((await job_pods_of(api_client, namespace, "low")).values())  # no room: neither binds alone

    await _delete(api_client, object_path("batch/v1", "Job", namespace, "high"), "Background")
    await eventually(
        job_pods_bound(api_client, namespace, "low", 2), what="the replacements bound whole once the room came back"
    )


async def test_a_budget_computed_by_the_disruption_controller_shields_its_pods_from_preemption(
    api_client: client.ApiClient, namespace: str
) -> None:
    pool = unique("pool")
    await make_nodes(api_client, pool, racks=1, per_rack=2)
    low, high = await _priority_classes(api_client)
    budgets = object_path("policy/v1beta1", "PodDisruptionBudget", namespace)  # 1.20 serves no policy/v1
    selector = {"matchLabels": {"job-name": "guarded"}}
    budget = {"metadata": {"name": "guarded"}, "spec": {"minAvailable": 1, "selector": selector}}
    await rest(api_client, "POST", budgets, budget)
    # The guarded pod starts last: without its budget, the younger pod is the one to preempt.
    for name in ("spare", "guarded"):
        await create_owned(api_client, namespace, [_solo_job(name, pool, low)])
        await eventually(job_pods_bound(api_client, namespace, name, 1), what=f"the {name} Job's pod bound")

    async def computed() -> bool:
        status = (await rest(api_client, "GET", f"{budgets}/guarded")).get("status", {})
        return bool(status.get("currentHealthy") == 1 and status.get("disruptionsAllowed") == 0)

    await eventually(computed, what="the disruption controller counting one healthy pod and allowing no disruption")
    guarded = await job_pods_of(api_client, namespace, "guarded")

    spare = await job_pods_of(api_client, namespace, "spare")
    await create_owned(api_client, namespace, [_solo_job("urgent", pool, high)])
    await eventually(job_pods_bound(api_client, namespace, "urgent", 1), what="the high-priority pod bound")
    assert await job_pods_of(api_client, namespace, "guarded") == guarded

    async def spare_replaced() -> bool:
        pods = await job_pods_of(api_client, namespace, "spare")
        return len(pods) == 1 and not set(pods) & set(spare)

    await eventually(spare_replaced, what="the unguarded pod preempted and recreated by its Job controller")
    assert not any((await job_pods_of(api_client, namespace, "spare")).values())  # no room for the replacement


async def _priority_classes(api: client.ApiClient) -> tuple[str, str]:
    scheduling: Any = client.SchedulingV1Api(api)
    low, high = unique("low"), unique("high")
    await scheduling.create_priority_class({"metadata": {"name": low}, "value": 10})
    await scheduling.create_priority_class({"metadata": {"name": high}, "value": 1000})
    return low, high


def _solo_job(name: str, pool: str, priority_class: str) -> dict[str, Any]:
    """A Job of one 8-GPU pod, scheduled by Phalanx on its own."""
    template = pod_template(gpus=8, pool=pool)
    template["spec"]["priorityClassName"] = priority_class
    return job_body(name, 1, indexed=False, template=template)


def _gang_job(name: str, pods: int, pool: str, priority_class: str) -> dict[str, Any]:
    template = pod_template(gpus=8, pool=pool)
    template["spec"]["priorityClassName"] = priority_class
    return job_body(name, pods, indexed=False, annotations=OPT_IN, template=template)


async def test_a_jobset_is_one_gang_bound_all_or_nothing_and_removed_with_it(
    api_client: client.ApiClient, namespace: str
) -> None:
    # No JobSet controller here: the test creates the JobSet's child Jobs as it would; their pods come from the
    # real Job controller.
    pool = unique("pool")
    await make_nodes(api_client, pool, racks=1, per_rack=3)  # 24 GPUs
    fits = jobset_body("fits", [("driver", 1, 1), ("workers", 2, 2)])
    too_big = jobset_body("toobig", [("workers", 4, 2)])  # 8 pods x 8 GPUs: 64 > 24
    objects: list[dict[str, Any]] = []
    for jobset, gpus in ((fits, 4), (too_big, 8)):
        children = jobset_children(jobset)
        for child in children:
            child["spec"]["template"]["spec"] = pod_template(gpus=gpus, pool=pool)["spec"]
        objects += [jobset, *children]
    await create_owned(api_client, namespace, objects)

    await eventually(all_bound(api_client, namespace, "fits-", 5), what="the fitting JobSet's five pods bound")
    assert await _min_count(api_client, namespace, "toobig-jobset-gang") == 8

    async def explained() -> bool:
        status = (await pod_group(api_client, namespace, "toobig-jobset-gang")).get("status", {})
        return bool(status.get("phase") == "Unschedulable") and len(await bound(api_client, namespace, "toobig-")) == 8

    await eventually(explained, what="the JobSet too big for the pool explained, with all eight pods there")
    assert not any((await bound(api_client, namespace, "toobig-")).values())

    # The garbage collector takes the child Jobs and their pods; the gang goes with the JobSet.
    path = object_path("jobset.x-k8s.io/v1alpha2", "JobSet", namespace, "toobig")
    await _delete(api_client, path, "Background")

    async def removed() -> bool:
        jobs = await rest(api_client, "GET", object_path("batch/v1", "Job", namespace))
        children = [j for j in jobs["items"] if j["metadata"]["name"].startswith("toobig-")]
        return (
            not children
            and not await bound(api_client, namespace, "toobig-")
            and not await _exists(api_client, namespace, "podgroups", "toobig-jobset-gang")
        )

    await eventually(removed, what="the JobSet's child Jobs, pods and gang removed with it")


async def test_a_leader_worker_set_gets_one_gang_per_group_of_leader_and_workers(
    api_client: client.ApiClient, namespace: str
) -> None:
    # No LeaderWorkerSet controller here: the test creates its StatefulSets and pods as it would (this module
    # runs no StatefulSet controller: see the controller_manager fixture above).
    pool = unique("pool")
    await make_nodes(api_client, pool, racks=1, per_rack=2)  # 16 GPUs: one group of 3 x 4 fits, not two
    lws = lws_body("serve", 2, 3)
    lws["spec"]["leaderWorkerTemplate"]["workerTemplate"] = pod_template(gpus=4, pool=pool)
    sets, pods = lws_objects(lws)
    leaders = {s["metadata"]["name"]: s for s in sets}
    ordered: list[dict[str, Any]] = [lws, leaders["serve"]]
    for group in range(2):  # leader pod, then the set it owns, then its workers: the controller's order
        ordered += [p for p in pods if p["metadata"]["name"] == f"serve-{group}"]
        ordered.append(leaders[f"serve-{group}"])
        ordered += [p for p in pods if p["metadata"]["name"].startswith(f"serve-{group}-")]
    await create_owned(api_client, namespace, ordered)

    async def one_group_bound() -> bool:
        placed = await bound(api_client, namespace, "serve-")
        groups: dict[str, list[str | None]] = {name.split("-")[1]: [] for name in placed}  # serve-<g>[-<w>]
        for name, node in placed.items():
            groups[name.split("-")[1]].append(node)
        whole = [g for g, nodes in groups.items() if all(nodes)]
        empty = [g for g, nodes in groups.items() if not any(nodes)]
        return len(placed) == 6 and len(whole) == 1 and len(empty) == 1

    await eventually(one_group_bound, what="one LWS group bound whole, the other not at all")
    for group in range(2):
        assert await _min_count(api_client, namespace, f"serve-lws-group-{group}") == 3

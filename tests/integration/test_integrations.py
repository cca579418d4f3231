"""Jobs, JobSets and LeaderWorkerSets become gangs on a real kube-apiserver, without a PodGroup written by hand
and without a label on any pod.

No controller runs on the test server, so each test creates the controller object and then its children and
pods the way the controller would (tests/controllers.py), with owner references to the real uids. The 1.20
server has no Indexed Jobs (`completionMode` arrived in 1.21 and is pruned here), so Jobs opt in by annotation;
the Indexed rule itself is covered by the unit tests.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from kubernetes_asyncio import client

from scheduler.api.integrations import GANG_ANNOTATION
from tests.controllers import job_body, job_pods, jobset_body, jobset_children, lws_body, lws_objects, pod_template
from tests.integration.apiserver import ApiServer
from tests.integration.operator_harness import (
    GROUP,
    VERSION,
    OperatorProcess,
    all_bound,
    bound,
    create_owned,
    eventually,
    kubelet_namespace,
    make_nodes,
    object_path,
    pod_group,
    rest,
    serving_operator,
    unique,
)

pytestmark = pytest.mark.usefixtures("phalanx_crds", "thirdparty_crds")
OPT_IN = {GANG_ANNOTATION: "true"}


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


async def test_a_job_becomes_a_gang_that_binds_only_once_all_its_pods_exist_and_follows_the_job(
    api_client: client.ApiClient, namespace: str
) -> None:
    pool = unique("pool")
    await make_nodes(api_client, pool, racks=1, per_rack=4)
    # No completions: they are immutable on 1.20 and would cap the gang at their count after scaling.
    job = job_body("train", 4, indexed=False, annotations=OPT_IN, template=pod_template(gpus=8, pool=pool))
    pods = job_pods(job)
    await create_owned(api_client, namespace, [job, *pods[:3]])

    async def gang_created() -> bool:
        return await _min_count(api_client, namespace, "train-job-gang") == 4

    await eventually(gang_created, what="Workload train-job and PodGroup train-job-gang (minCount 4)")
    workload = await _workload(api_client, namespace, "train-job")
    assert workload is not None
    assert workload["metadata"]["ownerReferences"][0]["kind"] == "Job"

    async def waiting() -> bool:
        status = (await pod_group(api_client, namespace, "train-job-gang")).get("status", {})
        return any(c.get("reason") == "WaitingForPods" for c in status.get("conditions", []))

    await eventually(waiting, what="the gang waiting for its fourth pod")
    assert not any((await bound(api_client, namespace, "train-")).values())

    # The fourth pod, created later, must name the Job's uid as the server assigned it.
    created_job = await rest(api_client, "GET", object_path("batch/v1", "Job", namespace, "train"))
    last = pods[3]
    last["metadata"]["ownerReferences"][0]["uid"] = created_job["metadata"]["uid"]
    await create_owned(api_client, namespace, [last])
    await eventually(all_bound(api_client, namespace, "train-", 4), what="the Job's four pods bound together")

    # Scaled: the gang follows. Deleted: Workload and PodGroup go with it.
    await rest(api_client, "PATCH", object_path("batch/v1", "Job", namespace, "train"), {"spec": {"parallelism": 6}})

    async def resized() -> bool:
        return await _min_count(api_client, namespace, "train-job-gang") == 6

    await eventually(resized, what="minCount 6 after scaling the Job")
    await rest(api_client, "DELETE", object_path("batch/v1", "Job", namespace, "train"))

    async def removed() -> bool:
        return not await _exists(api_client, namespace, "workloads", "train-job") and not await _exists(
            api_client, namespace, "podgroups", "train-job-gang"
        )

    await eventually(removed, what="Workload and PodGroup removed with the Job")


async def test_a_job_without_parallelism_above_one_is_left_alone(api_client: client.ApiClient, namespace: str) -> None:
    pool = unique("pool")
    await make_nodes(api_client, pool, racks=1, per_rack=1)
    job = job_body("once", 1, indexed=False, template=pod_template(gpus=1, pool=pool))
    await create_owned(api_client, namespace, [job, *job_pods(job)])
    await eventually(all_bound(api_client, namespace, "once-", 1), what="the single pod bound on its own")
    assert await _workload(api_client, namespace, "once-job") is None


async def test_a_jobset_is_one_gang_bound_all_or_nothing_and_removed_with_it(
    api_client: client.ApiClient, namespace: str
) -> None:
    pool = unique("pool")
    await make_nodes(api_client, pool, racks=1, per_rack=3)  # 24 GPUs
    fits = jobset_body("fits", [("driver", 1, 1), ("workers", 2, 2)])
    too_big = jobset_body("toobig", [("workers", 4, 2)])  # 8 pods x 8 GPUs: 64 > 24
    objects: list[dict[str, Any]] = []
    for jobset, gpus in ((fits, 4), (too_big, 8)):
        children = jobset_children(jobset)
        for child in children:
            child["spec"]["template"]["spec"] = pod_template(gpus=gpus, pool=pool)["spec"]
        objects += [jobset, *children, *(p for child in children for p in job_pods(child))]
    await create_owned(api_client, namespace, objects)

    await eventually(all_bound(api_client, namespace, "fits-", 5), what="the fitting JobSet's five pods bound")
    assert await _min_count(api_client, namespace, "toobig-jobset-gang") == 8

    async def explained() -> bool:
        status = (await pod_group(api_client, namespace, "toobig-jobset-gang")).get("status", {})
        return bool(status.get("phase") == "Unschedulable")

    await eventually(explained, what="the JobSet too big for the pool explained")
    assert not any((await bound(api_client, namespace, "toobig-")).values())

    await rest(api_client, "DELETE", object_path("jobset.x-k8s.io/v1alpha2", "JobSet", namespace, "toobig"))

    async def removed() -> bool:
        return not await _exists(api_client, namespace, "podgroups", "toobig-jobset-gang")

    await eventually(removed, what="the JobSet's gang removed with it")


async def test_a_leader_worker_set_gets_one_gang_per_group_of_leader_and_workers(
    api_client: client.ApiClient, namespace: str
) -> None:
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

"""Upstream's Workload API (1.36 v1alpha2, 1.37 v1beta1) and coscheduling's PodGroup, scheduled unchanged.

The 1.20 test server has no such types: copies of upstream's, field for field, are served as CRDs
(tests/integration/thirdparty/scheduling.k8s.io/), on a server started without its own scheduling.k8s.io
group, which would otherwise own every path under it (apiserver.py). Two stand-ins follow from that:
- PriorityClass is a CRD copy too, and the Priority admission plugin is off, so pods carry `spec.priority`
  as admission would have set it;
- 1.20 prunes `pod.spec.schedulingGroup`, so pods here join their group with our label, which names a PodGroup
  by name in whichever API holds it; the schedulingGroup field itself is covered by unit tests from recorded
  1.36 and 1.37 pods (tests/unit/api/test_upstream.py).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import yaml
from kubernetes_asyncio import client

from scheduler.kube.explain import explain
from tests.controllers import job_body
from tests.integration.apiserver import ApiServer
from tests.integration.conftest import CRD_DIR, THIRD_PARTY_CRD_DIR, ApiServerFactory, install_crds
from tests.integration.operator_harness import (
    OperatorProcess,
    all_bound,
    api_client_for,
    bound,
    create_pods,
    eventually,
    kubelet_namespace,
    make_nodes,
    pod_body,
    serving_operator,
    unique,
)

STATUS_ANNOTATION = "scheduling.phalanx.dev/status"


@dataclass(frozen=True)
class Release:
    name: str
    version: str  # the scheduling.k8s.io version its PodGroups are read in
    served: tuple[str, ...]
    condition: str
    all_disruption: Any  # disruptionMode meaning "the whole group"
    template_ref: Callable[[str, str], dict[str, Any]]


RELEASES = {
    "1.36": Release(
        "1.36",
        "v1alpha2",
        ("v1alpha2",),
        "PodGroupScheduled",
        "PodGroup",
        lambda w, t: {"podGroupTemplateRef": {"workload": {"workloadName": w, "podGroupTemplateName": t}}},
    ),
    "1.37": Release(
        "1.37",
        "v1beta1",
        ("v1alpha3", "v1beta1"),
        "PodGroupInitiallyScheduled",
        {"all": {}},
        lambda w, t: {"workloadRef": {"workloadName": w, "templateName": t}},
    ),
}


@pytest.fixture(scope="module", params=sorted(RELEASES))
def release(request: pytest.FixtureRequest) -> Release:
    return RELEASES[str(request.param)]


@pytest.fixture(scope="module")
def upstream_server(
    apiserver_factory: ApiServerFactory, release: Release, tmp_path_factory: pytest.TempPathFactory
) -> ApiServer:
    """A server serving the versions `release` serves, as a real one would (1.36: v1alpha2 only; 1.37: v1beta1
    and v1alpha3), so the operator's discovery has to find the right one."""
    server = apiserver_factory(upstream_scheduling=True)
    copies = tmp_path_factory.mktemp(f"crds-{release.name}")
    for path in (THIRD_PARTY_CRD_DIR / "scheduling.k8s.io").glob("*.yaml"):
        crd = yaml.safe_load(path.read_text())
        for version in crd["spec"]["versions"]:
            if version["name"].startswith("v1a") or version["name"] == "v1beta1":
                version["served"] = version["name"] in release.served
        (copies / path.name).write_text(yaml.safe_dump(crd))
    for directory in (CRD_DIR, THIRD_PARTY_CRD_DIR, copies):
        asyncio.run(install_crds(server.kubeconfig_path, directory=directory))
    return server


@pytest.fixture(scope="module")
def operator(upstream_server: ApiServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[OperatorProcess]:
    yield from serving_operator(upstream_server.kubeconfig_path, tmp_path_factory.mktemp("operator"))


@pytest.fixture
async def api(upstream_server: ApiServer) -> AsyncIterator[client.ApiClient]:
    async with api_client_for(upstream_server.kubeconfig_path) as api:
        yield api


@pytest.fixture
async def namespace(api: client.ApiClient, operator: OperatorProcess) -> AsyncIterator[str]:
    async with kubelet_namespace(api, "up") as name:
        yield name


def member(name: str, pool: str, group: str, gpus: int, priority: int = 0) -> dict[str, Any]:
    body = pod_body(name, pool, group, gpus=gpus)
    body["spec"]["priority"] = priority  # what the Priority admission plugin would have written
    return body


async def create(api: client.ApiClient, api_version: str, namespace: str, plural: str, body: dict[str, Any]) -> None:
    group, version = api_version.split("/")
    objects: Any = client.CustomObjectsApi(api)
    body = {"apiVersion": api_version, **body}
    await objects.create_namespaced_custom_object(group, version, namespace, plural, body)


async def read(api: client.ApiClient, api_version: str, namespace: str, name: str) -> dict[str, Any]:
    group, version = api_version.split("/")
    objects: Any = client.CustomObjectsApi(api)
    found: dict[str, Any] = await objects.get_namespaced_custom_object(group, version, namespace, "podgroups", name)
    return found


def condition(group: dict[str, Any], kind: str) -> dict[str, Any] | None:
    return next((c for c in (group.get("status") or {}).get("conditions") or [] if c["type"] == kind), None)


def group_body(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"kind": "PodGroup", "metadata": {"name": name}, "spec": spec}


def workload(name: str, template: str, policy: dict[str, Any]) -> dict[str, Any]:
    spec = {"podGroupTemplates": [{"name": template, "schedulingPolicy": policy, "schedulingConstraints": None}]}
    return {"kind": "Workload", "metadata": {"name": name}, "spec": spec}


async def test_a_gang_described_only_in_upstream_objects_is_placed_whole_under_its_releases_condition(
    api: client.ApiClient, namespace: str, release: Release, upstream_server: ApiServer
) -> None:
    pool = unique("pool")
    await make_nodes(api, pool, racks=2, per_rack=2)
    api_version = f"scheduling.k8s.io/{release.version}"
    gang = {"gang": {"minCount": 4}}
    await create(api, api_version, namespace, "workloads", workload("train", "workers", gang))
    rack = {"topology": [{"key": "network.phalanx.dev/rack"}]}
    spec = {**release.template_ref("train", "workers"), "schedulingPolicy": gang, "schedulingConstraints": rack}
    await create(api, api_version, namespace, "podgroups", group_body("train-workers", spec))
    await create_pods(api, namespace, [member(f"w-{i}", pool, "train-workers", gpus=4) for i in range(4)])

    await eventually(all_bound(api, namespace, "w-", 4), what="the four pods bound")
    nodes = {n for n in (await bound(api, namespace, "w-")).values() if n}
    assert len({n.rsplit("-n", 1)[0] for n in nodes}) == 1  # one rack: upstream's required key honoured

    async def scheduled() -> bool:
        found = condition(await read(api, api_version, namespace, "train-workers"), release.condition)
        return found is not None and found["status"] == "True"

    await eventually(scheduled, what=f"{release.condition}=True")
    group = await read(api, api_version, namespace, "train-workers")
    found = condition(group, release.condition)
    assert found is not None
    assert found["reason"] == "Scheduled"
    assert found["observedGeneration"] == group["metadata"]["generation"]
    assert set(group["status"]) <= {"conditions", "resourceClaimStatuses"}  # upstream's status, nothing of ours
    ours = json.loads(group["metadata"]["annotations"][STATUS_ANNOTATION])
    assert ours["placement"]["level"] == "network.phalanx.dev/rack"
    explained = await explain(namespace, "train-workers", str(upstream_server.kubeconfig_path))
    assert explained.group["status"]["placement"]["level"] == "network.phalanx.dev/rack"
    assert sorted(p["name"] for p in explained.pods) == [f"w-{i}" for i in range(4)]
    workloads: Any = client.CustomObjectsApi(api)
    kept = await workloads.get_namespaced_custom_object(
        "scheduling.k8s.io", release.version, namespace, "workloads", "train"
    )
    assert "status" not in kept  # a Workload has no status, and Phalanx writes none


async def test_a_whole_disruption_group_is_preempted_whole_and_its_condition_never_flips_back(
    api: client.ApiClient, namespace: str, release: Release
) -> None:
    pool = unique("pool")
    await make_nodes(api, pool, racks=1, per_rack=4)
    api_version = f"scheduling.k8s.io/{release.version}"
    low = {"schedulingPolicy": {"gang": {"minCount": 4}}, "disruptionMode": release.all_disruption, "priority": 10}
    await create(api, api_version, namespace, "podgroups", group_body("low", low))
    await create_pods(api, namespace, [member(f"low-{i}", pool, "low", gpus=8, priority=10) for i in range(4)])
    await eventually(all_bound(api, namespace, "low-", 4), what="the low gang fills the pool")

    async def scheduled(name: str) -> bool:
        found = condition(await read(api, api_version, namespace, name), release.condition)
        return found is not None and found["status"] == "True"

    await eventually(lambda: scheduled("low"), what=f"low: {release.condition}=True")

    high = {"schedulingPolicy": {"gang": {"minCount": 2}}, "priority": 1000}
    await create(api, api_version, namespace, "podgroups", group_body("high", high))
    await create_pods(api, namespace, [member(f"high-{i}", pool, "high", gpus=4, priority=1000) for i in range(2)])
    await eventually(all_bound(api, namespace, "high-", 2), within=40, what="the high gang bound after preemption")
    assert await bound(api, namespace, "low-") == {}  # all four gone, though one node would have done

    await eventually(lambda: scheduled("high"), what=f"high: {release.condition}=True")
    evicted = await read(api, api_version, namespace, "low")
    found = condition(evicted, release.condition)
    assert found is not None
    assert found["status"] == "True"  # upstream's rule: never back to False once the group was placed whole
    target = condition(evicted, "DisruptionTarget")
    assert target is not None
    assert (target["status"], target["reason"]) == ("True", "PreemptionByScheduler")


async def test_a_group_whose_pods_disagree_on_priority_is_a_scheduler_error_naming_them(
    api: client.ApiClient, namespace: str, release: Release
) -> None:
    pool = unique("pool")
    await make_nodes(api, pool, racks=1, per_rack=2)
    api_version = f"scheduling.k8s.io/{release.version}"
    await create(
        api, api_version, namespace, "podgroups", group_body("mixed", {"schedulingPolicy": {"gang": {"minCount": 2}}})
    )
    pods = [
        member("mixed-a", pool, "mixed", gpus=1, priority=10),
        member("mixed-b", pool, "mixed", gpus=1, priority=1000),
    ]
    await create_pods(api, namespace, pods)

    async def refused() -> bool:
        found = condition(await read(api, api_version, namespace, "mixed"), release.condition)
        return found is not None and found["reason"] == "SchedulerError"

    await eventually(refused, what="SchedulerError on the group")
    found = condition(await read(api, api_version, namespace, "mixed"), release.condition)
    assert found is not None
    assert found["status"] == "False"
    assert "priority" in found["message"]
    assert "mixed-a" in found["message"]
    assert "mixed-b" in found["message"]
    assert await bound(api, namespace, "mixed-") == {"mixed-a": None, "mixed-b": None}


async def test_a_group_with_resource_claims_is_refused_with_a_condition_naming_the_field(
    api: client.ApiClient, namespace: str, release: Release
) -> None:
    pool = unique("pool")
    await make_nodes(api, pool, racks=1, per_rack=1)
    api_version = f"scheduling.k8s.io/{release.version}"
    claims = [{"name": "gpus", "resourceClaimTemplateName": "gpu-template"}]
    await create(
        api,
        api_version,
        namespace,
        "podgroups",
        group_body("dra", {"schedulingPolicy": {"basic": {}}, "resourceClaims": claims}),
    )
    await create_pods(api, namespace, [member("dra-0", pool, "dra", gpus=1)])

    async def refused() -> bool:
        found = condition(await read(api, api_version, namespace, "dra"), release.condition)
        return found is not None and "spec.resourceClaims" in found["message"]

    await eventually(refused, what="a condition naming spec.resourceClaims")
    assert await bound(api, namespace, "dra-") == {"dra-0": None}


async def test_a_coscheduling_group_waits_for_min_member_and_its_status_is_left_to_its_controller(
    api: client.ApiClient, namespace: str
) -> None:
    pool = unique("pool")
    await make_nodes(api, pool, racks=1, per_rack=2)
    coscheduling = "scheduling.x-k8s.io/v1alpha1"
    spec = {"minMember": 3, "scheduleTimeoutSeconds": 30}
    await create(
        api, coscheduling, namespace, "podgroups", {"kind": "PodGroup", "metadata": {"name": "co"}, "spec": spec}
    )

    def labelled(name: str) -> dict[str, Any]:
        body = member(name, pool, "co", gpus=2)
        body["metadata"]["labels"] = {"scheduling.x-k8s.io/pod-group": "co"}
        return body

    await create_pods(api, namespace, [labelled("co-0"), labelled("co-1")])

    async def annotated() -> bool:
        found = await read(api, coscheduling, namespace, "co")
        raw = (found["metadata"].get("annotations") or {}).get(STATUS_ANNOTATION)
        return raw is not None and "2/3" in json.dumps(json.loads(raw))

    await eventually(annotated, what="our status on the group: waiting for pods 2/3")
    assert await bound(api, namespace, "co-") == {"co-0": None, "co-1": None}
    await create_pods(api, namespace, [labelled("co-2")])
    await eventually(all_bound(api, namespace, "co-", 3), what="the gang of three bound")
    assert "status" not in await read(api, coscheduling, namespace, "co")  # scheduler-plugins' controller's


async def test_a_job_an_upstream_workload_names_as_its_controller_gets_no_workload_of_ours(
    api: client.ApiClient, namespace: str, release: Release
) -> None:
    """1.36's Job controller makes upstream objects for an Indexed Job, with no field on the Job saying so; a
    second gang of ours for the same pods would only sit empty beside theirs. (No Job controller runs on this
    server: the test creates the Job and the Workload as it would.)"""
    batch: Any = client.BatchV1Api(api)
    objects: Any = client.CustomObjectsApi(api)
    job = job_body("train", 2, annotations={"scheduling.phalanx.dev/gang": "true"})  # 1.20 has no Indexed Jobs
    del job["metadata"]["uid"]
    await batch.create_namespaced_job(namespace, job)

    async def ours_exists() -> bool:
        found = await objects.list_namespaced_custom_object(
            "scheduling.phalanx.dev", "v1alpha1", namespace, "workloads"
        )
        return any(w["metadata"]["name"] == "train-job" for w in found["items"])

    await eventually(ours_exists, what="our Workload for an Indexed Job of ours")
    theirs = workload("train-abc12", "workers", {"gang": {"minCount": 2}})
    theirs["spec"]["controllerRef"] = {"apiGroup": "batch", "kind": "Job", "name": "train"}
    await create(api, f"scheduling.k8s.io/{release.version}", namespace, "workloads", theirs)

    async def ours_gone() -> bool:
        return not await ours_exists()

    await eventually(ours_gone, what="our Workload removed once upstream's names the Job")

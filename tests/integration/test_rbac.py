"""The install manifests on a real API server: every object accepted, and the operator scheduling a gang that
needs preemption with nothing but the ClusterRole and Role they grant (on a server authorising with RBAC)."""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from kubernetes_asyncio import client

from scheduler.api.config import load_config
from scheduler.api.integrations import GANG_ANNOTATION
from tests.controllers import job_body, job_pods, pod_template
from tests.integration.apiserver import ApiServer
from tests.integration.conftest import ApiServerFactory, install_crds
from tests.integration.operator_harness import (
    GROUP,
    VERSION,
    OperatorProcess,
    api_client_for,
    create_owned,
    eventually,
    kubelet,
    make_nodes,
    pod_body,
    pod_group_body,
    unique,
)

MANIFESTS = Path(__file__).resolve().parents[2] / "manifests" / "base"
USER = "phalanx-sa"
NAMESPACE = "phalanx-system"
# What the ClusterRole documents, rule by rule; a new permission must be added here on purpose.
EXPECTED = {
    ("", "pods"): {"get", "list", "watch", "delete"},
    ("", "pods/binding"): {"create"},
    ("", "pods/status"): {"patch"},
    ("", "nodes"): {"get", "list", "watch"},
    ("", "events"): {"create", "patch"},
    ("scheduling.k8s.io", "priorityclasses"): {"list", "watch"},
    ("policy", "poddisruptionbudgets"): {"list", "watch"},
    ("", "persistentvolumeclaims"): {"list", "watch", "patch"},
    ("", "persistentvolumes"): {"list", "watch"},
    ("storage.k8s.io", "storageclasses"): {"list", "watch"},
    ("", "namespaces"): {"list", "watch"},
    ("scheduling.phalanx.dev", "podgroups"): {"get", "list", "watch", "create", "patch", "delete"},
    ("scheduling.phalanx.dev", "podgroups/status"): {"patch"},
    ("scheduling.phalanx.dev", "workloads"): {"get", "list", "watch", "create", "patch", "delete"},
    ("scheduling.phalanx.dev", "workloads/status"): {"patch"},
    ("scheduling.k8s.io", "podgroups"): {"list", "watch", "patch"},
    ("scheduling.x-k8s.io", "podgroups"): {"list", "watch", "patch"},
    ("scheduling.k8s.io", "podgroups/status"): {"patch"},
    ("scheduling.k8s.io", "workloads"): {"list", "watch"},
    ("batch", "jobs"): {"list", "watch"},
    ("apps", "statefulsets"): {"list", "watch"},
    ("jobset.x-k8s.io", "jobsets"): {"list", "watch"},
    ("leaderworkerset.x-k8s.io", "leaderworkersets"): {"list", "watch"},
    ("autoscaling.x-k8s.io", "provisioningrequests"): {"list", "watch", "create", "delete"},
    ("", "podtemplates"): {"create", "delete"},
}
PATHS = {  # (apiVersion, kind) -> collection path ({ns} for namespaced kinds)
    ("v1", "Namespace"): "/api/v1/namespaces",
    ("v1", "ServiceAccount"): "/api/v1/namespaces/{ns}/serviceaccounts",
    ("v1", "Service"): "/api/v1/namespaces/{ns}/services",
    ("v1", "ConfigMap"): "/api/v1/namespaces/{ns}/configmaps",
    ("apps/v1", "Deployment"): "/apis/apps/v1/namespaces/{ns}/deployments",
    ("rbac.authorization.k8s.io/v1", "ClusterRole"): "/apis/rbac.authorization.k8s.io/v1/clusterroles",
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"): "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
    ("rbac.authorization.k8s.io/v1", "Role"): "/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/roles",
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): "/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/rolebindings",
    ("apiextensions.k8s.io/v1", "CustomResourceDefinition"): "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
}


def manifest_objects() -> list[dict[str, Any]]:
    """The base kustomization's objects, with its namespace applied (what `kubectl apply -k` sends)."""
    kustomization = yaml.safe_load((MANIFESTS / "kustomization.yaml").read_text())
    objects = []
    for resource in kustomization["resources"]:
        for doc in yaml.safe_load_all((MANIFESTS / resource).read_text()):
            if doc:
                objects.append(doc)
    return objects


async def apply(server: ApiServer, body: dict[str, Any], *, dry_run: bool) -> int:
    """Server-side apply (create or update) as the admin; returns the HTTP status."""
    path = PATHS[(body["apiVersion"], body["kind"])].format(ns=body["metadata"].get("namespace", NAMESPACE))
    url = f"{server.url}{path}/{body['metadata']['name']}?fieldManager=phalanx-tests&force=true"
    url += "&dryRun=All" if dry_run else ""
    headers = {"Authorization": f"Bearer {server.token}", "Content-Type": "application/apply-patch+yaml"}
    context = ssl.create_default_context(cafile=str(server.ca_path))
    async with (
        aiohttp.ClientSession() as session,
        session.patch(url, data=json.dumps(body), headers=headers, ssl=context) as response,
    ):
        assert response.status in (200, 201), await response.text()
        return response.status


@pytest.fixture(scope="module")
def rbac_server(apiserver_factory: ApiServerFactory) -> ApiServer:
    server = apiserver_factory(rbac=True, users=[USER])
    asyncio.run(install_crds(server.kubeconfig_path))
    return server


@pytest.fixture
async def admin(rbac_server: ApiServer) -> AsyncIterator[client.ApiClient]:
    async with api_client_for(rbac_server.kubeconfig_path) as api:
        yield api


def test_the_cluster_role_grants_nothing_beyond_what_it_documents() -> None:
    (role,) = [o for o in manifest_objects() if o["kind"] == "ClusterRole"]
    granted: dict[tuple[str, str], set[str]] = {}
    for rule in role["rules"]:
        assert "resourceNames" not in rule
        assert "nonResourceURLs" not in rule
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                granted.setdefault((group, resource), set()).update(rule["verbs"])
    assert granted == EXPECTED
    assert all("*" not in verbs for verbs in granted.values())


def test_the_config_map_holds_a_valid_scheduler_configuration(tmp_path: Path) -> None:
    (config_map,) = [o for o in manifest_objects() if o["kind"] == "ConfigMap"]
    path = tmp_path / "config.yaml"
    path.write_text(config_map["data"]["config.yaml"])
    settings = load_config(path, env={})
    assert settings.scheduler_name == "phalanx"
    (deployment,) = [o for o in manifest_objects() if o["kind"] == "Deployment"]
    assert "--config=/etc/phalanx/config.yaml" in deployment["spec"]["template"]["spec"]["containers"][0]["args"]


async def test_every_manifest_object_is_accepted_by_the_api_server(apiserver: ApiServer) -> None:
    objects = manifest_objects()
    assert {o["kind"] for o in objects} >= {"Namespace", "ServiceAccount", "ClusterRole", "Deployment", "Service"}
    namespace = next(o for o in objects if o["kind"] == "Namespace")
    await apply(apiserver, namespace, dry_run=False)  # namespaced dry runs need it to exist
    for body in objects:
        await apply(apiserver, body, dry_run=True)


@pytest.fixture
def operator_as_its_service_account(rbac_server: ApiServer, tmp_path: Path) -> Iterator[OperatorProcess]:
    async def grant() -> None:
        for body in manifest_objects():
            if body["kind"] in ("Namespace", "ClusterRole", "Role"):
                await apply(rbac_server, body, dry_run=False)
            elif body["kind"] in ("ClusterRoleBinding", "RoleBinding"):
                body["subjects"] = [{"kind": "User", "name": USER, "apiGroup": "rbac.authorization.k8s.io"}]
                await apply(rbac_server, body, dry_run=False)

    asyncio.run(grant())
    kubeconfig = rbac_server.write_kubeconfig(tmp_path / "sa.kubeconfig", USER)
    process = OperatorProcess(kubeconfig, tmp_path / "operator.log", "--lease-namespace", NAMESPACE)
    try:
        process.wait_ready()
        yield process
    finally:
        process.stop()
        print(process.log_tail(100))


async def test_the_operator_schedules_and_preempts_with_only_its_role(
    admin: client.ApiClient, operator_as_its_service_account: OperatorProcess
) -> None:
    core: Any = client.CoreV1Api(admin)
    objects: Any = client.CustomObjectsApi(admin)
    scheduling: Any = client.SchedulingV1Api(admin)
    namespace, pool = unique("rbac"), unique("pool")
    await core.create_namespace({"metadata": {"name": namespace}})
    await scheduling.create_priority_class({"metadata": {"name": f"{pool}-low"}, "value": 10})
    await scheduling.create_priority_class({"metadata": {"name": f"{pool}-high"}, "value": 1000})
    await make_nodes(admin, pool, racks=1, per_rack=2)
    async with kubelet(admin, namespace):
        low = pod_group_body("low", 2, disruptionMode="PodGroup", priorityClassName=f"{pool}-low")
        await objects.create_namespaced_custom_object(GROUP, VERSION, namespace, "podgroups", low)
        for i in range(2):
            await core.create_namespaced_pod(namespace, pod_body(f"low-{i}", pool, "low", 8, f"{pool}-low"))

        async def bound(prefix: str, count: int) -> bool:
            pods = (await core.list_namespaced_pod(namespace)).items
            mine = [p for p in pods if p.metadata.name.startswith(prefix)]
            return len(mine) == count and all(p.spec.node_name for p in mine)

        await eventually(lambda: bound("low-", 2), what="the low-priority gang bound")
        high = pod_group_body("high", 2, priorityClassName=f"{pool}-high")
        await objects.create_namespaced_custom_object(GROUP, VERSION, namespace, "podgroups", high)
        for i in range(2):
            await core.create_namespaced_pod(namespace, pod_body(f"high-{i}", pool, "high", 8, f"{pool}-high"))
        await eventually(lambda: bound("high-", 2), within=30, what="the high-priority gang bound after preemption")

        async def status_written() -> bool:
            group = await objects.get_namespaced_custom_object(GROUP, VERSION, namespace, "podgroups", "high")
            return bool(group.get("status", {}).get("phase") in ("Scheduled", "Running"))

        await eventually(status_written, what="PodGroup status written by the operator")

        # A Job becomes a gang: the integration's watches and the Workload it makes need their rules too.
        job = job_body("train", 2, indexed=False, annotations={GANG_ANNOTATION: "true"}, template=pod_template(0, pool))
        await create_owned(admin, namespace, [job, *job_pods(job)])
        await eventually(lambda: bound("train-", 2), within=30, what="the Job's gang bound")
    log = operator_as_its_service_account.log_path.read_text()
    assert "Forbidden" not in log, operator_as_its_service_account.log_tail()
    assert "(403)" not in log

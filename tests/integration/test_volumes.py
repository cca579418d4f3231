"""Volume-aware placement on a real API server (1.20): local volumes pin their pods to their nodes, and a
WaitForFirstConsumer claim learns the node chosen for it (`volume.kubernetes.io/selected-node`) before its pod
is bound, as kube-scheduler's PreBind writes it.

No PV controller or provisioner runs here: volumes and claims are created already bound to each other (the
claim carries the controller's bind-completed annotation, both sides phase Bound), and nobody provisions the
WaitForFirstConsumer claim, which is exactly the moment the annotation matters.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from kubernetes_asyncio import client

from tests.integration.apiserver import ApiServer
from tests.integration.operator_harness import (
    GROUP,
    VERSION,
    OperatorProcess,
    all_bound,
    bound,
    create_pods,
    eventually,
    kubelet_namespace,
    make_nodes,
    pod_body,
    pod_group_body,
    serving_operator,
    unique,
)

pytestmark = pytest.mark.usefixtures("phalanx_crds")
HOST = "kubernetes.io/hostname"
ZONE = "topology.kubernetes.io/zone"
SELECTED_NODE = "volume.kubernetes.io/selected-node"


@pytest.fixture(scope="module")
def operator(apiserver: ApiServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[OperatorProcess]:
    yield from serving_operator(apiserver.kubeconfig_path, tmp_path_factory.mktemp("operator"))


@pytest.fixture
async def namespace(api_client: client.ApiClient, operator: OperatorProcess) -> AsyncIterator[str]:
    async with kubelet_namespace(api_client, "vol") as name:
        yield name


def with_claim(body: dict[str, Any], claim: str) -> dict[str, Any]:
    body["spec"]["volumes"] = [{"name": "data", "persistentVolumeClaim": {"claimName": claim}}]
    return body


async def bound_local_volume(api: client.ApiClient, namespace: str, claim: str, node: str, storage_class: str) -> None:
    """A local PV on `node` and a claim already bound to it, as the PV controller would leave them."""
    core: Any = client.CoreV1Api(api)
    volume = f"{namespace}-{claim}"
    affinity = {
        "required": {"nodeSelectorTerms": [{"matchExpressions": [{"key": HOST, "operator": "In", "values": [node]}]}]}
    }
    await core.create_persistent_volume(
        {
            "metadata": {"name": volume},
            "spec": {
                "storageClassName": storage_class,
                "capacity": {"storage": "10Gi"},
                "accessModes": ["ReadWriteOnce"],
                "local": {"path": "/mnt/disks/data"},
                "nodeAffinity": affinity,
                "claimRef": {
                    "apiVersion": "v1",
                    "kind": "PersistentVolumeClaim",
                    "namespace": namespace,
                    "name": claim,
                },
            },
        }
    )
    await core.create_namespaced_persistent_volume_claim(
        namespace,
        {
            "metadata": {"name": claim, "annotations": {"pv.kubernetes.io/bind-completed": "yes"}},
            "spec": {
                "storageClassName": storage_class,
                "volumeName": volume,
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": "10Gi"}},
            },
        },
    )
    await core.patch_persistent_volume_status(volume, {"status": {"phase": "Bound"}})
    await core.patch_namespaced_persistent_volume_claim_status(claim, namespace, {"status": {"phase": "Bound"}})


async def test_a_gang_lands_each_pod_on_the_node_of_its_local_volume(
    api_client: client.ApiClient, namespace: str
) -> None:
    storage: Any = client.StorageV1Api(api_client)
    objects: Any = client.CustomObjectsApi(api_client)
    pool, local = unique("pool"), unique("local")
    nodes = await make_nodes(api_client, pool, racks=1, per_rack=3)
    await storage.create_storage_class(
        {
            "metadata": {"name": local},
            "provisioner": "kubernetes.io/no-provisioner",
            "volumeBindingMode": "WaitForFirstConsumer",
        }
    )
    # Pod i's volume is on the last-but-i node: best-fit packing alone would put all three (2 GPUs each) on one.
    want = {f"train-{i}": nodes[-1 - i] for i in range(3)}
    for i in range(3):
        await bound_local_volume(api_client, namespace, f"data-{i}", want[f"train-{i}"], local)
    await objects.create_namespaced_custom_object(GROUP, VERSION, namespace, "podgroups", pod_group_body("train", 3))
    pods = [with_claim(pod_body(f"train-{i}", pool, "train", gpus=2), f"data-{i}") for i in range(3)]
    await create_pods(api_client, namespace, pods)

    await eventually(all_bound(api_client, namespace, "train-", 3), what="the gang bound")
    assert await bound(api_client, namespace, "train-") == want


async def test_a_wait_for_first_consumer_claim_is_annotated_with_its_pod_node_before_the_pod_binds(
    api_client: client.ApiClient, namespace: str
) -> None:
    core: Any = client.CoreV1Api(api_client)
    storage: Any = client.StorageV1Api(api_client)
    pool, fast = unique("pool"), unique("fast")
    nodes = await make_nodes(api_client, pool, racks=1, per_rack=2)
    for name, zone in zip(nodes, ("z1", "z2"), strict=True):
        await core.patch_node(name, {"metadata": {"labels": {ZONE: f"{pool}-{zone}"}}})
    allowed = [{"matchLabelExpressions": [{"key": ZONE, "values": [f"{pool}-z2"]}]}]
    await storage.create_storage_class(
        {
            "metadata": {"name": fast},
            "provisioner": "csi.example.com",
            "volumeBindingMode": "WaitForFirstConsumer",
            "allowedTopologies": allowed,
        }
    )
    claim = {"storageClassName": fast, "accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}
    await core.create_namespaced_persistent_volume_claim(namespace, {"metadata": {"name": "scratch"}, "spec": claim})
    await create_pods(api_client, namespace, [with_claim(pod_body("solo", pool, None, gpus=1), "scratch")])

    await eventually(all_bound(api_client, namespace, "solo", 1), what="the pod bound")
    pvc = await core.read_namespaced_persistent_volume_claim("scratch", namespace)
    assert (await bound(api_client, namespace, "solo"))["solo"] == nodes[1]  # the only node in an allowed zone
    assert (pvc.metadata.annotations or {}).get(SELECTED_NODE) == nodes[1]


async def test_a_pod_whose_claim_does_not_exist_waits_naming_the_claim(
    api_client: client.ApiClient, namespace: str
) -> None:
    core: Any = client.CoreV1Api(api_client)
    pool = unique("pool")
    await make_nodes(api_client, pool, racks=1, per_rack=1)
    await create_pods(api_client, namespace, [with_claim(pod_body("orphan", pool, None, gpus=1), "missing")])

    async def told() -> bool:
        pod = await core.read_namespaced_pod("orphan", namespace)
        scheduled = next((c for c in pod.status.conditions or [] if c.type == "PodScheduled"), None)
        return scheduled is not None and 'persistentvolumeclaim "missing" not found' in (scheduled.message or "")

    await eventually(told, what="PodScheduled=False naming the missing claim")
    assert not (await bound(api_client, namespace, "orphan"))["orphan"]

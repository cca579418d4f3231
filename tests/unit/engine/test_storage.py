"""volume_needs against kube-scheduler's table tests (volumebinding/volume_binding_test.go TestVolumeBinding,
volumezone TestWithBinding, volumerestrictions TestAccessModeConflicts); ids keep the upstream test and case
name. Where we deliberately differ, the case says so and why."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from scheduler.api.core import Pod
from scheduler.api.storage import SELECTED_NODE, PersistentVolume, PersistentVolumeClaim, StorageClass
from scheduler.engine.state import ClusterState, pod_info
from scheduler.engine.storage import StorageIndex, claims_to_select, volume_needs
from scheduler.solver.volumes import NeedKind, VolumeNeed, volume_reason
from scheduler.topology.nodes import NodeInfo

HOST = "kubernetes.io/hostname"
WAIT, IMMEDIATE, PROVISIONED = "wait-sc", "immediate-sc", "fast"


def make_pod(
    name: str = "pod-a",
    *claims: str,
    node: str | None = None,
    volumes: list[dict[str, Any]] | None = None,
    created: int = 0,
    uid: str = "uid-a",
) -> Pod:
    spec: dict[str, Any] = {"schedulerName": "phalanx", "containers": [{"name": "main"}]}
    spec["volumes"] = [{"name": f"v{i}", "persistentVolumeClaim": {"claimName": c}} for i, c in enumerate(claims)]
    spec["volumes"] += volumes or []
    if node:
        spec["nodeName"] = node
    meta = {"name": name, "namespace": "default", "uid": uid, "creationTimestamp": datetime.fromtimestamp(created, UTC)}
    return Pod.model_validate({"metadata": meta, "spec": spec})


def make_pvc(
    name: str,
    storage_class: str = WAIT,
    *,
    bound_pv: str = "",
    phase: str = "Pending",
    modes: tuple[str, ...] = ("ReadWriteOnce",),
    request: str = "1Gi",
    **metadata: Any,
) -> PersistentVolumeClaim:
    annotations = {"pv.kubernetes.io/bind-completed": "yes"} if bound_pv else {}
    body = {
        "metadata": {"name": name, "namespace": "default", "annotations": annotations, **metadata},
        "spec": {
            "storageClassName": storage_class,
            "volumeName": bound_pv,
            "accessModes": list(modes),
            "resources": {"requests": {"storage": request}},
        },
        "status": {"phase": phase},
    }
    return PersistentVolumeClaim.model_validate(body)


def make_pv(
    name: str,
    storage_class: str = WAIT,
    *,
    on: dict[str, list[str]] | None = None,
    capacity: str = "100Gi",
    labels: dict[str, str] | None = None,
) -> PersistentVolume:
    spec: dict[str, Any] = {
        "storageClassName": storage_class,
        "capacity": {"storage": capacity},
        "accessModes": ["ReadWriteOnce"],
    }
    if on is not None:
        expressions = [{"key": k, "operator": "In", "values": v} for k, v in on.items()]
        spec["nodeAffinity"] = {"required": {"nodeSelectorTerms": [{"matchExpressions": expressions}]}}
    body = {"metadata": {"name": name, "labels": labels or {}}, "spec": spec, "status": {"phase": "Available"}}
    return PersistentVolume.model_validate(body)


def index(claims: tuple[PersistentVolumeClaim, ...] = (), volumes: tuple[PersistentVolume, ...] = ()) -> StorageIndex:
    storage = StorageIndex()
    storage.upsert_class(StorageClass.model_validate({"metadata": {"name": IMMEDIATE}}))
    wait = {"metadata": {"name": WAIT}, "volumeBindingMode": "WaitForFirstConsumer"}
    storage.upsert_class(StorageClass.model_validate(wait))
    provisioned = {**wait, "metadata": {"name": PROVISIONED}, "provisioner": "csi.example.com"}
    storage.upsert_class(StorageClass.model_validate(provisioned))
    for claim in claims:
        storage.upsert_claim(claim)
    for volume in volumes:
        storage.upsert_volume(volume)
    return storage


def node(name: str, **labels: str) -> NodeInfo:
    return NodeInfo(name, {HOST: name, **labels}, {"pods": 110})


def reasons(needs: tuple[VolumeNeed, ...] | str, *nodes: NodeInfo) -> list[str | None]:
    assert not isinstance(needs, str), needs
    return [volume_reason(needs, n) for n in nodes]


BIND_CONFLICT = "node(s) didn't find available persistent volumes to bind"
NODE_CONFLICT = "node(s) had volume node affinity conflict"
VOLUME_BINDING = [
    ("pod has not pvcs", make_pod(), (), (), [None]),
    (
        "all bound",
        make_pod("pod-a", "pvc-a"),
        (make_pvc("pvc-a", bound_pv="pv-a"),),
        (make_pv("pv-a"),),
        [None],
    ),
    (
        "unbound claims no matches",  # wait-sc has no provisioner and there is no volume to bind
        make_pod("pod-a", "pvc-a"),
        (make_pvc("pvc-a"),),
        (),
        [BIND_CONFLICT],
    ),
    (
        "bound and unbound unsatisfied",  # upstream lists both reasons; the first is ours
        make_pod("pod-a", "pvc-a", "pvc-b"),
        (make_pvc("pvc-a", bound_pv="pv-a"), make_pvc("pvc-b")),
        (make_pv("pv-a", on={"foo": ["bar"]}),),
        [NODE_CONFLICT],
    ),
]


@pytest.mark.parametrize(
    ("pod", "claims", "volumes", "expected"),
    [case[1:] for case in VOLUME_BINDING],
    ids=[f"TestVolumeBinding/{case[0]}" for case in VOLUME_BINDING],
)
def test_volume_binding_filters_nodes_as_upstream(
    pod: Pod,
    claims: tuple[PersistentVolumeClaim, ...],
    volumes: tuple[PersistentVolume, ...],
    expected: list[str | None],
) -> None:
    assert reasons(volume_needs(index(claims, volumes), pod), node("node-a", foo="barbar")) == expected


REFUSED = [
    (
        "TestVolumeBinding/PVC does not exist",
        make_pod("pod-a", "pvc-a"),
        (),
        (),
        'persistentvolumeclaim "pvc-a" not found',
    ),
    (
        "TestVolumeBinding/Part of PVCs do not exist",
        make_pod("pod-a", "pvc-a", "pvc-b"),
        (make_pvc("pvc-a", bound_pv="pv-a"),),
        (make_pv("pv-a"),),
        'spec.volumes[1].persistentVolumeClaim: persistentvolumeclaim "pvc-b" not found',
    ),
    (
        "TestVolumeBinding/immediate claims not bound",
        make_pod("pod-a", "pvc-a"),
        (make_pvc("pvc-a", IMMEDIATE),),
        (),
        "pod has unbound immediate PersistentVolumeClaims",
    ),
    (
        "TestVolumeBinding/pv not found claim lost",
        make_pod("pod-a", "pvc-a"),
        (make_pvc("pvc-a", bound_pv="pv-a", phase="Lost"),),
        (),
        'persistentvolumeclaim "pvc-a" bound to non-existent persistentvolume "pv-a"',
    ),
    (
        # Upstream reports it on every node ("bound to non-existent pv(s)"); the pod waits naming the volume.
        "TestVolumeBinding/pv not found",
        make_pod("pod-a", "pvc-a"),
        (make_pvc("pvc-a", bound_pv="pv-a"),),
        (),
        'persistentvolume "pv-a" not found',
    ),
    (
        # Upstream binds a free local PV itself; we do not bind volumes to claims yet, so the pod waits, saying so.
        "TestVolumeBinding/local volumes with close capacity are preferred",
        make_pod("pod-a", "pvc-a"),
        (make_pvc("pvc-a", request="50Gi"),),
        (make_pv("pv-a-0", on={HOST: ["node-a"]}, capacity="200Gi"),),
        'could bind to an existing persistentvolume ("pv-a-0")',
    ),
    (
        "TestWithBinding/unbound volume empty storage class",  # VolumeBinding's PreFilter speaks first upstream
        make_pod("pod-a", "PVC_EmptySC"),
        (make_pvc("PVC_EmptySC", ""),),
        (),
        "pod has unbound immediate PersistentVolumeClaims",
    ),
    (
        "TestWithBinding/unbound volume no storage class",
        make_pod("pod-a", "PVC_NoSC"),
        (make_pvc("PVC_NoSC", "Class_0"),),
        (),
        'storageclass.storage.k8s.io "Class_0" not found',
    ),
    (
        "claim being deleted",
        make_pod("pod-a", "pvc-a"),
        (make_pvc("pvc-a", bound_pv="pv-a", deletionTimestamp="2026-01-01T00:00:00Z"),),
        (make_pv("pv-a"),),
        'persistentvolumeclaim "pvc-a" is being deleted',
    ),
    (
        "prebound claim waits for the PV controller",
        make_pod("pod-a", "pvc-a"),
        (make_pvc("pvc-a").model_copy(update={"spec": make_pvc("x", bound_pv="pv-a").spec}),),
        (make_pv("pv-a"),),
        "pod has unbound immediate PersistentVolumeClaims",
    ),
]


@pytest.mark.parametrize(
    ("pod", "claims", "volumes", "message"),
    [case[1:] for case in REFUSED],
    ids=[case[0] for case in REFUSED],
)
def test_a_pod_whose_claims_fit_no_node_waits_with_the_reason_and_the_volume_field(
    pod: Pod, claims: tuple[PersistentVolumeClaim, ...], volumes: tuple[PersistentVolume, ...], message: str
) -> None:
    result = volume_needs(index(claims, volumes), pod)
    assert isinstance(result, str)
    assert message in result
    assert result.startswith("spec.volumes[")


def test_a_local_volume_pins_its_pod_to_the_volume_node() -> None:
    storage = index((make_pvc("data", bound_pv="local-1"),), (make_pv("local-1", on={HOST: ["node-b"]}),))
    needs = volume_needs(storage, make_pod("pod-a", "data"))
    assert reasons(needs, node("node-a"), node("node-b")) == [NODE_CONFLICT, None]


def test_a_bound_volume_zone_labels_keep_the_pod_in_its_zone() -> None:
    # volumezone TestWithBinding/label zone failure domain matched, plus its mismatch.
    beta = "failure-domain.beta.kubernetes.io/zone"
    storage = index((make_pvc("PVC_1", bound_pv="Vol_1"),), (make_pv("Vol_1", labels={beta: "us-west1-a"}),))
    needs = volume_needs(storage, make_pod("pod_1", "PVC_1"))
    expected = [None, "node(s) had no available volume zone"]
    assert reasons(needs, node("host1", **{beta: "us-west1-a"}), node("host2", **{beta: "us-west1-b"})) == expected


def test_a_wait_for_first_consumer_claim_is_provisioned_where_its_class_allows() -> None:
    storage = index((make_pvc("scratch", PROVISIONED),))
    allowed = {"allowedTopologies": [{"matchLabelExpressions": [{"key": "zone", "values": ["a"]}]}]}
    cls = {"metadata": {"name": PROVISIONED}, "provisioner": "csi.example.com"}
    storage.upsert_class(StorageClass.model_validate({**cls, "volumeBindingMode": "WaitForFirstConsumer", **allowed}))
    pod = make_pod("pod-a", "scratch")
    needs = volume_needs(storage, pod)
    assert reasons(needs, node("node-a", zone="a"), node("node-b", zone="b")) == [None, BIND_CONFLICT]
    assert claims_to_select(storage, pod) == ("default/scratch",)


def test_a_claim_whose_node_is_already_selected_keeps_its_pod_there_and_is_not_written_again() -> None:
    storage = index((make_pvc("scratch", PROVISIONED, annotations={SELECTED_NODE: "node-b"}),))
    pod = make_pod("pod-a", "scratch")
    assert reasons(volume_needs(storage, pod), node("node-a"), node("node-b")) == [BIND_CONFLICT, None]
    assert claims_to_select(storage, pod) == ()


def test_pods_sharing_a_claim_to_provision_go_one_by_one_to_the_first_one_node() -> None:
    state = ClusterState((HOST,))
    state.storage = index((make_pvc("shared", PROVISIONED, modes=("ReadWriteMany",)),))
    first, second = make_pod("pod-a", "shared", created=1), make_pod("pod-b", "shared", created=2, uid="uid-b")
    state.upsert_pod(pod_info(first))
    state.upsert_pod(pod_info(second))
    waiting = volume_needs(state.storage, second)
    assert isinstance(waiting, str)
    assert "pod default/pod-a, placed first" in waiting
    assert not isinstance(volume_needs(state.storage, first), str)
    state.assume("default/pod-a", "node-b")
    assert volume_needs(state.storage, second) == (
        VolumeNeed("default/shared", NeedKind.PROVISION, selected_node="node-b"),
    )


def test_a_generic_ephemeral_volume_uses_the_claim_named_after_pod_and_volume_owned_by_the_pod() -> None:
    ephemeral = [{"name": "scratch", "ephemeral": {"volumeClaimTemplate": {"spec": {}}}}]
    pod = make_pod("pod-a", volumes=ephemeral)
    assert "waiting for ephemeral volume controller" in str(volume_needs(index(), pod))
    owner = {"apiVersion": "v1", "kind": "Pod", "name": "pod-a", "uid": "uid-a", "controller": True}
    claim = make_pvc("pod-a-scratch", bound_pv="pv-e", ownerReferences=[owner])
    assert volume_needs(index((claim,), (make_pv("pv-e"),)), pod) == (
        VolumeNeed("default/pod-a-scratch", NeedKind.BOUND),
    )
    stranger = make_pvc("pod-a-scratch", bound_pv="pv-e")
    refused = volume_needs(index((stranger,), (make_pv("pv-e"),)), pod)
    assert refused == (
        "spec.volumes[0].ephemeral: PVC default/pod-a-scratch was not created for pod default/pod-a (pod is not owner)"
    )


@pytest.mark.parametrize("kind", ["gcePersistentDisk", "awsElasticBlockStore", "rbd", "iscsi", "azureDisk", "cinder"])
def test_an_in_tree_disk_whose_conflicts_we_do_not_model_is_refused_by_its_field(kind: str) -> None:
    pod = make_pod("pod-a", volumes=[{"name": "emptyfirst", "emptyDir": {}}, {"name": "disk", kind: {"x": "y"}}])
    result = volume_needs(index(), pod)
    assert isinstance(result, str)
    assert result.startswith(f"spec.volumes[1].{kind}: ")


def test_volumes_that_do_not_affect_placement_need_nothing() -> None:
    volumes = [{"name": "a", "emptyDir": {}}, {"name": "b", "configMap": {"name": "c"}}, {"name": "c", "hostPath": {}}]
    assert volume_needs(index(), make_pod("pod-a", volumes=volumes)) == ()


RWOP = ("ReadWriteOncePod",)


def rwop_state(*pods: Pod) -> ClusterState:
    state = ClusterState((HOST,))
    claims = (
        make_pvc("claim-with-rwop-1", bound_pv="pv-1", modes=RWOP),
        make_pvc("claim-with-rwop-2", bound_pv="pv-2", modes=RWOP),
        make_pvc("claim-with-rwx", bound_pv="pv-3", modes=("ReadWriteMany",)),
    )
    state.storage = index(claims, (make_pv("pv-1"), make_pv("pv-2"), make_pv("pv-3")))
    for pod in pods:
        state.upsert_pod(pod_info(pod))
    return state


# The claims are bound here (upstream's are bare): VolumeBinding would stop unbound ones before this rule.
ACCESS_MODES = [
    ("failed to get PVC", (), make_pod("pod-with-one-pvc", "claim-missing"), 'persistentvolumeclaim "claim-missing"'),
    (
        "no access mode conflict",
        (make_pod("pod-with-rwx", "claim-with-rwx", node="node-1", uid="u2"),),
        make_pod("pod-with-one-pvc", "claim-with-rwop-1"),
        None,
    ),
    (
        "access mode conflict, unschedulable",
        (make_pod("pod-with-one-pvc", "claim-with-rwop-1", node="node-1", uid="u2"),),
        make_pod("pod-with-one-conflict", "claim-with-rwop-1"),
        "node has pod using PersistentVolumeClaim with the same name and ReadWriteOncePod access mode",
    ),
    (
        "two conflicts, unschedulable",
        (make_pod("pod-with-two-pvcs", "claim-with-rwop-1", "claim-with-rwop-2", node="node-1", uid="u2"),),
        make_pod("pod-with-two-conflicts", "claim-with-rwop-1", "claim-with-rwop-2"),
        "node has pod using PersistentVolumeClaim with the same name and ReadWriteOncePod access mode",
    ),
]


@pytest.mark.parametrize(
    ("existing", "pod", "message"),
    [case[1:] for case in ACCESS_MODES],
    ids=[f"TestAccessModeConflicts/{case[0]}" for case in ACCESS_MODES],
)
def test_a_read_write_once_pod_claim_is_used_by_one_pod_at_a_time(
    existing: tuple[Pod, ...], pod: Pod, message: str | None
) -> None:
    result = volume_needs(rwop_state(*existing).storage, pod)
    if message is None:
        assert not isinstance(result, str), result
    else:
        assert isinstance(result, str)
        assert message in result


def test_a_read_write_once_pod_claim_is_free_again_once_its_pod_is_gone() -> None:
    holder = make_pod("holder", "claim-with-rwop-1", node="node-1", uid="u2")
    state = rwop_state(holder)
    pod = make_pod("next", "claim-with-rwop-1")
    assert isinstance(volume_needs(state.storage, pod), str)
    state.remove_pod("default/holder")
    assert not isinstance(volume_needs(state.storage, pod), str)


def test_two_pending_pods_of_a_gang_never_both_take_a_read_write_once_pod_claim() -> None:
    first = make_pod("worker-0", "claim-with-rwop-1", created=1)
    second = make_pod("worker-1", "claim-with-rwop-1", created=2, uid="u2")
    state = rwop_state(first, second)
    assert not isinstance(volume_needs(state.storage, first), str)
    assert "pod default/worker-0 is placed first" in str(volume_needs(state.storage, second))


def test_unreadable_claims_are_named_instead_of_reported_missing() -> None:
    storage = index()
    storage.set_served("PersistentVolumeClaim", False)
    assert "not readable" in str(volume_needs(storage, make_pod("pod-a", "data")))
    storage.set_served("PersistentVolumeClaim", True)
    assert "not found" in str(volume_needs(storage, make_pod("pod-a", "data")))

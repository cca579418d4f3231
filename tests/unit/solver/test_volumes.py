"""volume_reason against kube-scheduler's own tables (pkg/scheduler/framework/plugins/volumezone/
volume_zone_test.go and volumebinding's binder tests): each case id keeps the upstream test and case name."""

from __future__ import annotations

import pytest

from scheduler.api.storage import BETA_REGION, BETA_ZONE, REGION, ZONE, PersistentVolume
from scheduler.solver.volumes import (
    REASON_BIND_CONFLICT,
    REASON_NODE_CONFLICT,
    REASON_ZONE_CONFLICT,
    NeedKind,
    NodeRequirement,
    VolumeNeed,
    volume_reason,
)
from scheduler.topology.nodes import NodeInfo

HOST = "kubernetes.io/hostname"


def labelled(labels: dict[str, str], name: str = "host1") -> NodeInfo:
    return NodeInfo(name, labels, {"pods": 110})


def bound_to(pv_labels: dict[str, str]) -> VolumeNeed:
    """The need of a claim bound to a PV with these labels (through the API model, as the engine builds it)."""
    pv = PersistentVolume.model_validate({"metadata": {"name": "pv", "labels": pv_labels}})
    return VolumeNeed("default/pvc", NeedKind.BOUND, topology=pv.topology())


SINGLE_ZONE_PVS = {
    "Vol_1": {BETA_ZONE: "us-west1-a"},
    "Vol_2": {BETA_REGION: "us-west1", "uselessLabel": "none"},
    "Vol_3": {BETA_REGION: "us-west1"},
    "Vol_Stable_1": {ZONE: "us-west1-a"},
    "Vol_Stable_2": {REGION: "us-west1", "uselessLabel": "none"},
    "Vol_Stable_3": {ZONE: "us-west1-a", REGION: "us-west1-a"},
}
SINGLE_ZONE = [
    ("node without labels", "Vol_1", {}, None),
    ("beta zone label matched", "Vol_1", {BETA_ZONE: "us-west1-a", "uselessLabel": "none"}, None),
    ("beta region label matched", "Vol_2", {BETA_REGION: "us-west1", "uselessLabel": "none"}, None),
    ("beta region label doesn't match", "Vol_2", {BETA_REGION: "no_us-west1"}, REASON_ZONE_CONFLICT),
    ("beta zone label doesn't match", "Vol_1", {BETA_ZONE: "no_us-west1-a"}, REASON_ZONE_CONFLICT),
    ("zone label matched", "Vol_Stable_1", {ZONE: "us-west1-a", "uselessLabel": "none"}, None),
    ("region label matched", "Vol_Stable_2", {REGION: "us-west1", "uselessLabel": "none"}, None),
    ("region label doesn't match", "Vol_Stable_2", {REGION: "no_us-west1"}, REASON_ZONE_CONFLICT),
    ("zone label doesn't match", "Vol_Stable_1", {ZONE: "no_us-west1-a"}, REASON_ZONE_CONFLICT),
    ("pv with zone and region, node with only zone", "Vol_Stable_3", {ZONE: "us-west1-a"}, REASON_ZONE_CONFLICT),
    ("pv with zone,node with beta zone", "Vol_Stable_1", {BETA_ZONE: "us-west1-a"}, REASON_ZONE_CONFLICT),
    ("pv with beta label,node with ga label, matched", "Vol_1", {ZONE: "us-west1-a"}, None),
    ("pv with beta label,node with ga label, don't match", "Vol_1", {ZONE: "us-west1-b"}, REASON_ZONE_CONFLICT),
]


@pytest.mark.parametrize(
    ("volume", "node_labels", "expected"),
    [case[1:] for case in SINGLE_ZONE],
    ids=[f"TestSingleZone/{case[0]}" for case in SINGLE_ZONE],
)
def test_a_bound_volume_keeps_its_pod_in_the_volume_zone(
    volume: str, node_labels: dict[str, str], expected: str | None
) -> None:
    assert volume_reason((bound_to(SINGLE_ZONE_PVS[volume]),), labelled(node_labels)) == expected


MULTI_ZONE_PVS = {
    "Vol_1": {BETA_ZONE: "us-west1-a"},
    "Vol_3": {BETA_ZONE: "us-west1-c__us-west1-a"},
    "Vol_Stable_1": {ZONE: "us-west1-a"},
    "Vol_Stable_2": {ZONE: "us-west1-c__us-west1-a"},
}
MULTI_ZONE = [
    ("node without labels", "Vol_3", {}, None),
    ("beta zone label matched", "Vol_3", {BETA_ZONE: "us-west1-a", "uselessLabel": "none"}, None),
    ("beta zone label doesn't match", "Vol_1", {BETA_ZONE: "us-west1-b"}, REASON_ZONE_CONFLICT),
    ("zone label matched", "Vol_Stable_2", {ZONE: "us-west1-a", "uselessLabel": "none"}, None),
    ("zone label doesn't match", "Vol_Stable_1", {ZONE: "us-west1-b"}, REASON_ZONE_CONFLICT),
]


@pytest.mark.parametrize(
    ("volume", "node_labels", "expected"),
    [case[1:] for case in MULTI_ZONE],
    ids=[f"TestMultiZone/{case[0]}" for case in MULTI_ZONE],
)
def test_a_volume_in_several_zones_accepts_a_node_in_any_of_them(
    volume: str, node_labels: dict[str, str], expected: str | None
) -> None:
    assert volume_reason((bound_to(MULTI_ZONE_PVS[volume]),), labelled(node_labels)) == expected


def affinity(key: str, *values: str, operator: str = "In") -> tuple[tuple[NodeRequirement, ...], ...]:
    return ((NodeRequirement(key, operator, values),),)


AFFINITY = [
    # volumebinding TestVolumeBinding / binder TestFindPodVolumesWithoutProvisioning, bound PVs only.
    ("TestVolumeBinding/all bound", None, {"foo": "bar"}, None),
    ("TestFindPodVolumesWithoutProvisioning/bound-pvc,pv-not-match-node", affinity("foo", "bar"), {}, "conflict"),
    ("TestFindPodVolumesWithoutProvisioning/one-bound-pvc", affinity("foo", "barbar"), {"foo": "barbar"}, None),
    ("local PV on its node", affinity(HOST, "node-a"), {HOST: "node-a"}, None),
    ("local PV on another node", affinity(HOST, "node-a"), {HOST: "node-b"}, "conflict"),
    ("NotIn excludes the named node", affinity(HOST, "node-a", operator="NotIn"), {HOST: "node-a"}, "conflict"),
    ("Exists needs the key", affinity("disk", operator="Exists"), {"disk": "ssd"}, None),
    ("Gt compares integers", affinity("gen", "3", operator="Gt"), {"gen": "4"}, None),
    ("no terms match no node", (), {HOST: "node-a"}, "conflict"),
    ("an empty term matches no node", ((),), {HOST: "node-a"}, "conflict"),
]


@pytest.mark.parametrize(
    ("terms", "node_labels", "expected"),
    [case[1:] for case in AFFINITY],
    ids=[case[0] for case in AFFINITY],
)
def test_a_bound_volume_node_affinity_must_match_the_node(
    terms: tuple[tuple[NodeRequirement, ...], ...] | None, node_labels: dict[str, str], expected: str | None
) -> None:
    need = VolumeNeed("default/pvc", NeedKind.BOUND, node_affinity=terms)
    assert volume_reason((need,), labelled(node_labels)) == (REASON_NODE_CONFLICT if expected else None)


def test_volume_affinity_on_fields_matches_no_node_as_upstream_checks_labels_only() -> None:
    terms = ((NodeRequirement("metadata.name", "In", ("host1",), field=True),),)
    need = VolumeNeed("default/pvc", NeedKind.BOUND, node_affinity=terms)
    assert volume_reason((need,), labelled({}, name="host1")) == REASON_NODE_CONFLICT


def test_node_affinity_conflict_is_reported_before_an_unbound_claim_as_upstream_orders_them() -> None:
    # TestVolumeBinding/bound and unbound unsatisfied: both reasons upstream; the first is ours.
    needs = (
        VolumeNeed("default/pvc-a", NeedKind.BOUND, node_affinity=affinity("foo", "bar")),
        VolumeNeed("default/pvc-b", NeedKind.UNAVAILABLE),
    )
    assert volume_reason(needs, labelled({"foo": "barbar"})) == REASON_NODE_CONFLICT


def test_a_claim_with_no_volume_and_no_provisioner_fits_no_node() -> None:
    # TestVolumeBinding/unbound claims no matches
    need = VolumeNeed("default/pvc-a", NeedKind.UNAVAILABLE)
    assert volume_reason((need,), labelled({})) == REASON_BIND_CONFLICT


PROVISIONING = [
    # binder TestCheckVolumeProvisions-style: the class's allowedTopologies against the node's labels.
    ("no allowed topologies: any node", (), {}, None),
    ("node in an allowed zone", (((ZONE, frozenset({"a", "b"})),),), {ZONE: "b"}, None),
    ("node outside the allowed zones", (((ZONE, frozenset({"a"})),),), {ZONE: "c"}, REASON_BIND_CONFLICT),
    ("node without the key", (((ZONE, frozenset({"a"})),),), {}, REASON_BIND_CONFLICT),
    ("terms are ORed", (((ZONE, frozenset({"a"})),), ((ZONE, frozenset({"c"})),)), {ZONE: "c"}, None),
    ("an empty term allows nothing", ((),), {ZONE: "c"}, REASON_BIND_CONFLICT),
]


@pytest.mark.parametrize(
    ("topologies", "node_labels", "expected"),
    [case[1:] for case in PROVISIONING],
    ids=[case[0] for case in PROVISIONING],
)
def test_a_claim_to_provision_needs_a_node_its_class_allows(
    topologies: tuple[tuple[tuple[str, frozenset[str]], ...], ...], node_labels: dict[str, str], expected: str | None
) -> None:
    need = VolumeNeed("default/pvc", NeedKind.PROVISION, allowed_topologies=topologies)
    assert volume_reason((need,), labelled(node_labels)) == expected


def test_a_claim_whose_node_is_selected_fits_only_that_node() -> None:
    # binder FindPodVolumes: "Fast path, skip unmatched node" for claims carrying volume.kubernetes.io/selected-node.
    need = VolumeNeed("default/pvc", NeedKind.PROVISION, selected_node="node-a")
    assert volume_reason((need,), labelled({}, name="node-a")) is None
    assert volume_reason((need,), labelled({}, name="node-b")) == REASON_BIND_CONFLICT


def test_a_pod_without_volume_needs_fits_every_node() -> None:
    assert volume_reason((), labelled({})) is None


def test_volume_needs_are_hashable_so_signatures_can_carry_them() -> None:
    need = bound_to({ZONE: "a__b"})
    assert hash(need) == hash(bound_to({ZONE: "b__a"}))
    assert need == bound_to({ZONE: "b__a"})

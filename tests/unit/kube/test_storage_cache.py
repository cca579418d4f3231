"""Watch events of claims, volumes, classes and namespaces land in the cache the engine reads."""

from typing import Any

from scheduler.engine.state import ClusterState
from scheduler.kube.cache import Invalid, apply
from scheduler.kube.inbox import Change, Kind

CLAIM = {
    "apiVersion": "v1",
    "kind": "PersistentVolumeClaim",
    "metadata": {"name": "data", "namespace": "ml"},
    "spec": {"storageClassName": "local", "accessModes": ["ReadWriteOnce"]},
}


def test_storage_objects_are_added_and_removed_and_each_may_unblock_a_pod() -> None:
    state = ClusterState(("kubernetes.io/hostname",))
    volume = {"kind": "PersistentVolume", "metadata": {"name": "pv-1"}, "spec": {"capacity": {"storage": "1Gi"}}}
    storage_class = {"kind": "StorageClass", "metadata": {"name": "local"}, "provisioner": "x"}
    namespace = {"kind": "Namespace", "metadata": {"name": "ml", "labels": {"team": "a"}}}
    changes: list[tuple[Kind, dict[str, Any]]] = [
        ("pvc", CLAIM),
        ("pv", volume),
        ("storageclass", storage_class),
        ("namespace", namespace),
    ]
    for kind, body in changes:
        assert apply(state, Change(kind, False, body))
    assert set(state.storage.claims) == {"ml/data"}
    assert set(state.storage.volumes) == {"pv-1"}
    assert set(state.storage.classes) == {"local"}
    assert state.namespaces == {"ml": {"team": "a"}}
    for kind, body in changes:
        apply(state, Change(kind, True, body))
    assert (state.storage.claims, state.storage.volumes, state.storage.classes) == ({}, {}, {})
    assert state.namespaces == {}


def test_a_storage_kind_the_role_cannot_list_is_remembered_without_following_it_as_an_owner() -> None:
    state = ClusterState(("kubernetes.io/hostname",))
    for kind in ("PersistentVolumeClaim", "Namespace"):
        apply(state, Change("served", False, {"kind": kind, "served": False}))
    assert state.storage.unreadable == {"PersistentVolumeClaim", "Namespace"}
    assert state.followed == {}  # owner integrations stay off: pods still join groups by label only


def test_an_invalid_claim_is_left_out_of_the_cache_and_reported() -> None:
    state = ClusterState(("kubernetes.io/hostname",))
    apply(state, Change("pvc", False, CLAIM))
    bad = {**CLAIM, "spec": {"resources": {"requests": {"storage": "lots"}}}}
    invalid: dict[str, Invalid] = {}
    assert not apply(state, Change("pvc", False, bad), invalid)
    assert "ml/data" not in state.storage.claims
    assert "pvc/ml/data" in invalid

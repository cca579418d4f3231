"""Applying watch events to the engine's cache: parse, strip, and keep our own assumptions until confirmed."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import structlog
from pydantic import ValidationError

from scheduler.api.core import Node, Pod, PodDisruptionBudget, PriorityClass
from scheduler.api.fidelity import without_inert_fields
from scheduler.api.namespace import Namespace
from scheduler.api.podgroup import PodGroup
from scheduler.api.storage import PersistentVolume, PersistentVolumeClaim, StorageClass
from scheduler.engine.state import ClusterState, pod_info
from scheduler.kube.inbox import Change
from scheduler.topology.nodes import strip_node

log = structlog.get_logger(__name__)


def apply(state: ClusterState, change: Change, invalid: dict[str, Invalid] | None = None) -> bool:
    """Apply one change; True when it may have freed capacity or changed the cluster (retry waiting units).

    An object that does not parse is left out of the cache (and out of it if it was in: a pod edited into
    nonsense must not keep its old shape) and recorded in `invalid`, so the loop can say so on the object.
    """
    meta = change.body.get("metadata", {})
    key = f"{meta.get('namespace') or 'default'}/{meta.get('name')}"
    if invalid is not None:
        invalid.pop(f"{change.kind}/{key}", None)
    try:
        if change.kind == "pod":
            return _pod(state, change, key)
        if change.kind == "node":
            if change.deleted:
                return state.remove_node(meta.get("name", ""))
            return state.upsert_node(strip_node(Node.model_validate(change.body)))
        if change.kind == "podgroup":
            if change.deleted:
                state.remove_group(key)
            else:
                state.upsert_group(PodGroup.model_validate(change.body))
            return True
        if change.kind == "priorityclass":
            if change.deleted:
                state.priority_classes.pop(meta.get("name", ""), None)
            else:
                cls = PriorityClass.model_validate(change.body)
                state.priority_classes[cls.metadata.name] = cls.value
            return True
        if change.kind == "owner":  # a controller object, already read into its record (kube/integrations.py)
            if change.deleted:
                return state.remove_owner(change.body["id"])
            return state.upsert_owner(change.body["record"])
        if change.kind == "served":
            if change.body["kind"] in READ_KINDS:  # read for placement, not followed as an owner kind
                state.storage.set_served(change.body["kind"], change.body["served"])
            else:
                state.follow(change.body["kind"], change.body["served"])
            return True
        if change.kind in ("pvc", "pv", "storageclass", "namespace"):
            _storage(state, change, key)
            return True  # a claim bound, a volume or class created: pods waiting on them may go now
        if change.kind == "pdb":
            if change.deleted:
                state.budgets.pop(key, None)
            else:
                state.budgets[key] = PodDisruptionBudget.model_validate(change.body)
            return True
    except ValidationError as exc:
        # Bad input is reported, never fatal: the object is left out of the cache until it is fixed.
        error = exc.errors()[0]
        where = ".".join(str(p) for p in error["loc"])
        message = f"{where}: {str(error['msg']).removeprefix('Value error, ')}"
        log.warning("object ignored: invalid", kind=change.kind, object=key, error=message)
        if change.kind == "pod" and not (change.body.get("spec") or {}).get("nodeName"):
            state.remove_pod(key)  # a bound one keeps its last known shape: its node's usage must still count
        elif change.kind == "podgroup":
            state.remove_group(key)
        elif change.kind in ("pvc", "pv", "storageclass"):
            _storage(state, replace(change, deleted=True), key)  # pods using it wait, naming it
        if invalid is not None:
            invalid[f"{change.kind}/{key}"] = Invalid(change.kind, key, change.body, message)
    return False


# Kinds whose watch reports whether it may list them (kube/operator.py STORAGE_WATCHED); "served" changes of
# owner kinds go to the integration instead.
READ_KINDS = frozenset({"PersistentVolumeClaim", "PersistentVolume", "StorageClass", "Namespace"})


def _storage(state: ClusterState, change: Change, key: str) -> None:
    name = change.body.get("metadata", {}).get("name", "")
    storage = state.storage
    if change.kind == "pvc":
        if change.deleted:
            storage.remove_claim(key)
        else:
            storage.upsert_claim(PersistentVolumeClaim.model_validate(change.body))
    elif change.kind == "pv":
        if change.deleted:
            storage.remove_volume(name)
        else:
            storage.upsert_volume(PersistentVolume.model_validate(change.body))
    elif change.kind == "storageclass":
        if change.deleted:
            storage.remove_class(name)
        else:
            storage.upsert_class(StorageClass.model_validate(change.body))
    elif change.deleted:
        state.namespaces.pop(name, None)
    else:
        state.namespaces[name] = dict(Namespace.model_validate(change.body).metadata.labels)


@dataclass(frozen=True)
class Invalid:
    kind: str
    key: str
    body: dict[str, Any]
    message: str


def _pod(state: ClusterState, change: Change, key: str) -> bool:
    if change.deleted:
        return state.remove_pod(key) is not None
    info = pod_info(Pod.model_validate(without_inert_fields(change.body)))
    current = state.pods.get(key)
    if current is not None and current.assumed and info.node is None and current.uid == info.uid:
        # Our own binding is in flight: keep the assumption until the server shows it (or we forget it). A pod
        # recreated under the same name (another uid) is a new pod: it inherits no reservation.
        info = replace(info, node=current.node, assumed=True)
    freed = current is not None and current.holds_capacity and not info.holds_capacity
    state.upsert_pod(info)
    return freed

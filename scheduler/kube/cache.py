"""Applying watch events to the engine's cache: parse, strip, and keep our own assumptions until confirmed."""

from __future__ import annotations

import json
import sys
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import structlog
from pydantic import BaseModel, ValidationError

from scheduler.api.core import (
    Affinity,
    Container,
    Node,
    Pod,
    PodDisruptionBudget,
    PriorityClass,
    Toleration,
    TopologySpreadConstraint,
)
from scheduler.api.fidelity import without_inert_fields
from scheduler.api.meta import OwnerReference
from scheduler.api.namespace import Namespace
from scheduler.api.podgroup import PodGroup
from scheduler.api.storage import PersistentVolume, PersistentVolumeClaim, StorageClass
from scheduler.api.upstream import is_foreign, read_pod_group
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
            return _group(state, change, key)
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
            state.remove_group(key, _api_group(str(change.body.get("apiVersion", ""))))
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


def _group(state: ClusterState, change: Change, key: str) -> bool:
    """A group matters to other units only through its pods that hold room (as victims: its priority, its
    disruption mode), and only when its spec changes; its own unit is woken by the loop, and the statuses we
    write, echoed back by the watch, change nothing."""
    old = state.groups.get(key)
    api_version = str(change.body.get("apiVersion", ""))
    if change.deleted:
        state.remove_group(key, _api_group(api_version))
        new = None
    else:
        new = read_pod_group(change.body) if is_foreign(api_version) else PodGroup.model_validate(change.body)
        state.upsert_group(new)
    if (old.spec if old is not None else None) == (new.spec if new is not None else None):
        return False
    return any(m.holds_capacity for m in state.members(key))


def _api_group(api_version: str) -> str:
    """The API group of a PodGroup's apiVersion, "" (ours) for ours."""
    return api_version.split("/", 1)[0] if is_foreign(api_version) else ""


# Volume sources no kube-scheduler filter reads (they never tie a pod to a node). Such a volume is kept as its name
# alone, so that `spec.volumes[i]` in an explanation still points at the volume it names.
NODE_FREE_VOLUMES = frozenset({"configMap", "secret", "projected", "downwardAPI", "emptyDir", "hostPath"})


def lean_pod(body: Mapping[str, Any]) -> Pod:
    """A pod as the cache keeps it for the life of the process: without the fields known not to affect
    placement (api/fidelity.py), nor container images, container ports that take no host port, and the
    sources of node-free volumes (each nested object costs a pydantic model of its own); the parts pods of one
    template repeat (containers, tolerations, affinity, spread, owner) shared between them (`Shared`), and the
    strings of labels and selectors interned. On the scale bench's pods that is a quarter of the cache."""
    slim = without_inert_fields(body)
    spec = slim.get("spec")
    if isinstance(spec, dict):
        for kind in ("containers", "initContainers"):
            if isinstance(spec.get(kind), list):
                spec[kind] = [SHARED.get(Container, _lean_container(c)) for c in spec[kind]]
        if isinstance(spec.get("volumes"), list):
            spec["volumes"] = [_lean_volume(v) for v in spec["volumes"]]
        for kind, model in (("tolerations", Toleration), ("topologySpreadConstraints", TopologySpreadConstraint)):
            if isinstance(spec.get(kind), list):
                spec[kind] = [SHARED.get(model, item) for item in spec[kind]]
        if isinstance(spec.get("affinity"), dict):
            spec["affinity"] = SHARED.get(Affinity, spec["affinity"])
        if isinstance(spec.get("nodeSelector"), dict):
            spec["nodeSelector"] = _interned(spec["nodeSelector"])
    meta = slim.get("metadata")
    if isinstance(meta, dict):
        meta = slim["metadata"] = dict(meta)
        for kind in ("labels", "annotations"):
            if isinstance(meta.get(kind), dict):
                meta[kind] = _interned(meta[kind])
        if isinstance(meta.get("ownerReferences"), list):
            meta["ownerReferences"] = [SHARED.get(OwnerReference, o) for o in meta["ownerReferences"]]
    return Pod.model_validate(slim)


class Shared:
    """Validated pieces of pods, one object for every pod whose piece has the same JSON (the pods of one
    template): models are frozen, and pydantic takes a validated instance as it is. The most recently used
    SHARED_LIMIT pieces are kept; a piece that does not validate is left as it came, so the pod's own validation
    reports it where it is."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._pieces: OrderedDict[tuple[type[BaseModel], str], BaseModel] = OrderedDict()

    def get(self, model: type[BaseModel], piece: Any) -> Any:
        if not isinstance(piece, Mapping):
            return piece
        key = (model, json.dumps(piece, sort_keys=True, separators=(",", ":"), default=str))
        found = self._pieces.get(key)
        if found is not None:
            self._pieces.move_to_end(key)
            return found
        try:
            found = model.model_validate(piece)
        except ValidationError:
            return piece
        self._pieces[key] = found
        if len(self._pieces) > self.limit:
            self._pieces.popitem(last=False)
        return found


SHARED_LIMIT = 4096
SHARED = Shared(SHARED_LIMIT)


def _interned(strings: Mapping[Any, Any]) -> dict[Any, Any]:
    """Label and selector strings repeat across pods, and each watch event brings its own copies."""
    return {
        sys.intern(k) if isinstance(k, str) else k: sys.intern(v) if isinstance(v, str) and len(v) <= 63 else v
        for k, v in strings.items()
    }


def _lean_container(container: Any) -> Any:
    if not isinstance(container, Mapping):
        return container  # left for validation to report
    lean = {k: v for k, v in container.items() if k not in ("image", "ports")}
    ports = container.get("ports")
    if not isinstance(ports, list):
        if ports is not None:
            lean["ports"] = ports
        return lean
    taken = [p for p in ports if not isinstance(p, Mapping) or p.get("hostPort")]
    if taken:
        lean["ports"] = taken
    return lean


def _lean_volume(volume: Any) -> Any:
    if isinstance(volume, Mapping) and "name" in volume and len(volume) == 2 and NODE_FREE_VOLUMES & volume.keys():
        return {"name": volume["name"]}
    return volume


def _pod(state: ClusterState, change: Change, key: str) -> bool:
    if change.deleted:
        return state.remove_pod(key) is not None
    info = pod_info(lean_pod(change.body))
    current = state.pods.get(key)
    if current is not None and current.assumed and info.node is None and current.uid == info.uid:
        # Our own binding is in flight: keep the assumption until the server shows it (or we forget it). A pod
        # recreated under the same name (another uid) is a new pod: it inherits no reservation.
        info = replace(info, node=current.node, assumed=True)
    freed = current is not None and current.holds_capacity and not info.holds_capacity
    state.upsert_pod(info)
    return freed

"""Claims, volumes and classes as the cache sees them, and what a pod's volumes require (kube-scheduler's
VolumeBinding PreFilter, VolumeZone and VolumeRestrictions, resolved once per pod instead of once per node).

A pod's claim-backed volumes become `VolumeNeed`s (solver/volumes.py checks them per node); anything that makes
the pod unschedulable on every node, or that we do not model, becomes a message naming the volume field, and the
pod waits with it: a volume that affects placement is honoured or named, never ignored.

Not modelled, so refused by name: in-tree volume types whose disk conflicts and attach limits kube-scheduler
checks per node (VolumeRestrictions, the *Limits plugins), and WaitForFirstConsumer claims that an existing
volume could satisfy (the scheduler would have to bind volume and claim itself, one volume per pod across a
whole gang; such a claim waits until it is bound, or its class provisions).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from scheduler.api.core import Pod, Volume
from scheduler.api.storage import (
    READ_WRITE_ONCE_POD,
    SELECTED_NODE,
    PersistentVolume,
    PersistentVolumeClaim,
    StorageClass,
)
from scheduler.solver.volumes import NeedKind, NodeRequirement, NodeTerms, TopologyTerms, VolumeNeed

# kube-scheduler checks these for conflicts between pods on a node, or counts them against attach limits.
UNMODELLED_VOLUME_TYPES = ("gcePersistentDisk", "awsElasticBlockStore", "rbd", "iscsi", "azureDisk", "cinder")
REASON_UNBOUND_IMMEDIATE = "pod has unbound immediate PersistentVolumeClaims"
REASON_READ_WRITE_ONCE_POD = (
    "node has pod using PersistentVolumeClaim with the same name and ReadWriteOncePod access mode"
)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class ClaimUser:
    """A pod that mounts a claim: where it is (None: pending) and its place in line among pending users."""

    node: str | None
    order: tuple[datetime, str]
    scheduler: str


@dataclass
class StorageIndex:
    claims: dict[str, PersistentVolumeClaim] = field(default_factory=dict)  # namespace/name -> claim
    volumes: dict[str, PersistentVolume] = field(default_factory=dict)  # name -> volume
    classes: dict[str, StorageClass] = field(default_factory=dict)  # name -> class
    # Kinds the scheduler may not list (its role lacks the right): pods using claims say so instead of "not found".
    unreadable: set[str] = field(default_factory=set)
    _users: dict[str, dict[str, ClaimUser]] = field(default_factory=lambda: defaultdict(dict))  # claim -> pods
    _claims_of: dict[str, tuple[str, ...]] = field(default_factory=dict)  # pod key -> claim keys

    def upsert_claim(self, claim: PersistentVolumeClaim) -> None:
        self.claims[claim.key] = claim

    def remove_claim(self, key: str) -> None:
        self.claims.pop(key, None)

    def upsert_volume(self, volume: PersistentVolume) -> None:
        self.volumes[volume.metadata.name] = volume

    def remove_volume(self, name: str) -> None:
        self.volumes.pop(name, None)

    def upsert_class(self, storage_class: StorageClass) -> None:
        self.classes[storage_class.metadata.name] = storage_class

    def remove_class(self, name: str) -> None:
        self.classes.pop(name, None)

    def select_node(self, key: str, node: str) -> None:
        """What the API shows once the binding cycle has annotated a WaitForFirstConsumer claim with its node
        (the simulator's stand-in for that write; the operator sees the annotation through its watch)."""
        claim = self.claims.get(key)
        if claim is not None:
            annotations = {**claim.metadata.annotations, SELECTED_NODE: node}
            metadata = claim.metadata.model_copy(update={"annotations": annotations})
            self.claims[key] = claim.model_copy(update={"metadata": metadata})

    def set_served(self, kind: str, served: bool | None) -> None:
        if served is False:
            self.unreadable.add(kind)
        else:
            self.unreadable.discard(kind)

    # Which pods mount which claims (ReadWriteOncePod, and the node a shared WaitForFirstConsumer claim chose).
    def use(self, key: str, pod: Pod, node: str | None) -> None:
        """Record the claims `pod` mounts; `node` is where it holds them (None while pending or finished)."""
        self.release(key)
        namespace = pod.metadata.namespace or "default"
        claims = tuple(f"{namespace}/{name}" for _, _, name in _claim_volumes(pod))
        if not claims:
            return
        user = ClaimUser(node, _order(pod), pod.spec.scheduler_name)
        self._claims_of[key] = claims
        for claim in claims:
            self._users[claim][key] = user

    def release(self, key: str) -> None:
        for claim in self._claims_of.pop(key, ()):
            users = self._users[claim]
            users.pop(key, None)
            if not users:
                del self._users[claim]

    def users(self, claim: str) -> Mapping[str, ClaimUser]:
        return self._users.get(claim, {})


def volume_needs(index: StorageIndex, pod: Pod) -> tuple[VolumeNeed, ...] | str:
    """What the pod's volumes require of a node, or why the pod cannot be placed now (a message naming the
    volume field, e.g. `spec.volumes[0].persistentVolumeClaim: persistentvolumeclaim "data" not found`).

    A message means: hold the pod with it. Every such case is unschedulable on every node, or not modelled;
    the pod is decided again when claims, volumes or classes change.
    """
    needs: dict[str, VolumeNeed] = {}
    for i, volume in enumerate(pod.spec.volumes):
        where = f"spec.volumes[{i}]"
        extras = volume.model_extra or {}
        unmodelled = next((t for t in UNMODELLED_VOLUME_TYPES if extras.get(t) is not None), None)
        if unmodelled is not None:
            return (
                f"{where}.{unmodelled}: in-tree {unmodelled} volumes are not supported (kube-scheduler checks "
                "their disk conflicts and attach limits per node); use a PersistentVolumeClaim"
            )
    for i, kind, name in _claim_volumes(pod):
        need = _claim_need(index, pod, name, ephemeral=kind == "ephemeral")
        if isinstance(need, str):
            return f"spec.volumes[{i}].{kind}: {need}"
        needs.setdefault(need.claim, need)
    return tuple(needs.values())


def claims_to_select(index: StorageIndex, pod: Pod) -> tuple[str, ...]:
    """The pod's WaitForFirstConsumer claims still to be provisioned whose node is not written yet: the binding
    cycle annotates each with the pod's node (`volume.kubernetes.io/selected-node`) before binding the pod."""
    namespace = pod.metadata.namespace or "default"
    out = []
    for _, _, name in _claim_volumes(pod):
        claim = index.claims.get(f"{namespace}/{name}")
        if claim is None or claim.fully_bound or claim.spec.volume_name or claim.selected_node:
            continue
        storage_class = index.classes.get(claim.class_name)
        if storage_class is not None and storage_class.wait_for_first_consumer and storage_class.provisions:
            out.append(claim.key)
    return tuple(dict.fromkeys(out))


def _order(pod: Pod) -> tuple[datetime, str]:
    """A pod's place in line among the pending users of a claim: creation time, then key. Naive times (a
    hand-written scenario) count as UTC, so they compare with the server's."""
    created = pod.metadata.creation_timestamp or EPOCH
    if created.tzinfo is None:
        created = created.replace(tzinfo=UTC)
    return created, f"{pod.metadata.namespace or 'default'}/{pod.metadata.name}"


def _claim_volumes(pod: Pod) -> list[tuple[int, str, str]]:
    """(index, field, claim name) of the pod's claim-backed volumes; a generic ephemeral volume's claim is
    named `<pod>-<volume>` (ephemeral.VolumeClaimName)."""
    out = []
    volumes: list[Volume] = pod.spec.volumes
    for i, volume in enumerate(volumes):
        if volume.persistent_volume_claim is not None:
            out.append((i, "persistentVolumeClaim", volume.persistent_volume_claim.claim_name))
        elif volume.ephemeral is not None:
            out.append((i, "ephemeral", f"{pod.metadata.name}-{volume.name}"))
    return out


def _claim_need(index: StorageIndex, pod: Pod, name: str, *, ephemeral: bool) -> VolumeNeed | str:
    namespace = pod.metadata.namespace or "default"
    key = f"{namespace}/{name}"
    if "PersistentVolumeClaim" in index.unreadable:
        return "persistentvolumeclaims are not readable by the scheduler (its role lacks list/watch on them)"
    claim = index.claims.get(key)
    if claim is None:
        if ephemeral:
            return f'waiting for ephemeral volume controller to create the persistentvolumeclaim "{name}"'
        return f'persistentvolumeclaim "{name}" not found'
    if claim.status.phase == "Lost":
        return f'persistentvolumeclaim "{name}" bound to non-existent persistentvolume "{claim.spec.volume_name}"'
    if claim.metadata.deletion_timestamp is not None:
        return f'persistentvolumeclaim "{name}" is being deleted'
    if ephemeral and not any(o.controller and o.uid == pod.metadata.uid for o in claim.metadata.owner_references):
        return f"PVC {key} was not created for pod {namespace}/{pod.metadata.name} (pod is not owner)"
    if READ_WRITE_ONCE_POD in claim.spec.access_modes and (conflict := _exclusive(index, pod, key)):
        return conflict
    if claim.fully_bound:
        volume = index.volumes.get(claim.spec.volume_name)
        if volume is None:
            if "PersistentVolume" in index.unreadable:
                return "persistentvolumes are not readable by the scheduler (its role lacks list/watch on them)"
            return f'persistentvolume "{claim.spec.volume_name}" not found (bound to this claim)'
        return VolumeNeed(key, NeedKind.BOUND, node_affinity=_node_terms(volume), topology=volume.topology())
    return _unbound_need(index, pod, claim)


def _unbound_need(index: StorageIndex, pod: Pod, claim: PersistentVolumeClaim) -> VolumeNeed | str:
    name, class_name = claim.metadata.name, claim.class_name
    storage_class = index.classes.get(class_name) if class_name else None
    if class_name and storage_class is None:
        if "StorageClass" in index.unreadable:
            return "storageclasses are not readable by the scheduler (its role lacks list/watch on them)"
        return f'storageclass.storage.k8s.io "{class_name}" not found'
    # A claim that names its volume but is not bound yet ("prebound") waits for the PV controller, as upstream.
    if storage_class is None or not storage_class.wait_for_first_consumer or claim.spec.volume_name:
        return f'{REASON_UNBOUND_IMMEDIATE} (persistentvolumeclaim "{name}")'
    if claim.selected_node:
        return VolumeNeed(claim.key, NeedKind.PROVISION, selected_node=claim.selected_node)
    mine = _order(pod)
    pod_key = mine[1]
    others = {k: u for k, u in index.users(claim.key).items() if k != pod_key}
    placed = sorted((u.order, u.node) for u in others.values() if u.node is not None)
    if placed:  # a pod sharing the claim was placed: the volume is made for its node (its binding writes it)
        return VolumeNeed(claim.key, NeedKind.PROVISION, selected_node=placed[0][1])
    first = min((u.order for u in others.values() if u.scheduler == pod.spec.scheduler_name), default=None)
    if first is not None and first < mine:
        return f'persistentvolumeclaim "{name}" is shared with pod {first[1]}, placed first: its node is the volume\'s'
    taken = {c.spec.volume_name for c in index.claims.values() if c.spec.volume_name and c.key != claim.key}
    static = sorted(n for n, v in index.volumes.items() if n not in taken and _could_bind(v, claim))
    if static:
        return (
            f'persistentvolumeclaim "{name}" (StorageClass "{class_name}", WaitForFirstConsumer) could bind to an '
            f'existing persistentvolume ("{static[0]}"); binding claims to existing volumes is not supported yet: '
            "bind the claim (spec.volumeName) or use a StorageClass that provisions"
        )
    if not storage_class.provisions:
        return VolumeNeed(claim.key, NeedKind.UNAVAILABLE)
    return VolumeNeed(claim.key, NeedKind.PROVISION, allowed_topologies=_topology_terms(storage_class))


def _exclusive(index: StorageIndex, pod: Pod, claim: str) -> str | None:
    """VolumeRestrictions' ReadWriteOncePod rule: one pod at a time. Among pending pods of one scheduler the
    first in line goes first, so a gang never places two pods on one such claim."""
    mine = _order(pod)
    pod_key = mine[1]
    name = claim.split("/", 1)[1]
    for other, user in sorted(index.users(claim).items()):
        if other == pod_key:
            continue
        if user.node is not None:
            return f'{REASON_READ_WRITE_ONCE_POD} (pod {other} uses persistentvolumeclaim "{name}")'
        if user.scheduler == pod.spec.scheduler_name and user.order < mine:
            return f'persistentvolumeclaim "{name}" has access mode ReadWriteOncePod; pod {other} is placed first'
    return None


def _could_bind(volume: PersistentVolume, claim: PersistentVolumeClaim) -> bool:
    """volume.FindMatchingVolume without the node: the claim's class, modes, size and selector fit, and the
    volume is free (or prebound to this claim)."""
    spec = volume.spec
    if spec.storage_class_name != claim.class_name or volume.metadata.deletion_timestamp is not None:
        return False
    ref = spec.claim_ref
    if ref is not None:
        ours = ref.name == claim.metadata.name and (ref.namespace or "default") == (
            claim.metadata.namespace or "default"
        )
        if not ours or (ref.uid and claim.metadata.uid and ref.uid != claim.metadata.uid):
            return False
    elif volume.status.phase in ("Released", "Failed"):
        return False
    if spec.volume_mode != claim.spec.volume_mode or not set(claim.spec.access_modes) <= set(spec.access_modes):
        return False
    if claim.spec.selector is not None and not claim.spec.selector.matches(volume.metadata.labels):
        return False
    return volume.storage() >= claim.storage()


def _node_terms(volume: PersistentVolume) -> NodeTerms | None:
    affinity = volume.spec.node_affinity
    if affinity is None or affinity.required is None:
        return None
    return tuple(
        tuple(NodeRequirement(r.key, r.operator.value, tuple(r.values)) for r in term.match_expressions)
        + tuple(NodeRequirement(r.key, r.operator.value, tuple(r.values), field=True) for r in term.match_fields)
        for term in affinity.required.node_selector_terms
    )


def _topology_terms(storage_class: StorageClass) -> TopologyTerms:
    return tuple(
        tuple((r.key, frozenset(r.values)) for r in term.match_label_expressions)
        for term in storage_class.allowed_topologies
    )

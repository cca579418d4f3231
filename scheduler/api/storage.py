"""The slices of core/v1 PersistentVolumeClaims and PersistentVolumes, and storage.k8s.io/v1 StorageClasses, that
volume-aware placement reads (kube-scheduler's VolumeBinding, VolumeZone and VolumeRestrictions).

Unknown fields are kept (`model_extra`), as for pods: the server owns these schemas. The helpers below encode
the storage API's own conventions (the beta class annotation, "fully bound", zone label sets), so the engine
and the solver never read raw annotations.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, field_validator

from scheduler.api.base import LenientModel
from scheduler.api.core import LabelSelector, NodeSelector
from scheduler.api.meta import ObjectMeta
from scheduler.api.quantity import Quantity, to_scheduler_units

# Written by the scheduler on a WaitForFirstConsumer claim: the node the provisioner must make the volume for.
SELECTED_NODE = "volume.kubernetes.io/selected-node"
# Written by the PV controller once both sides of a PV<->PVC binding are done; until then a claim that names a
# volume is only "prebound" (upstream's isPVCFullyBound).
BIND_COMPLETED = "pv.kubernetes.io/bind-completed"
# Deprecated, still honoured before spec.storageClassName (storagehelpers.GetPersistentVolumeClaimClass).
BETA_CLASS = "volume.beta.kubernetes.io/storage-class"
# Provisioner name of classes that only ever bind to existing (static) volumes, e.g. local PVs.
NO_PROVISIONER = "kubernetes.io/no-provisioner"

ZONE = "topology.kubernetes.io/zone"
REGION = "topology.kubernetes.io/region"
BETA_ZONE = "failure-domain.beta.kubernetes.io/zone"
BETA_REGION = "failure-domain.beta.kubernetes.io/region"
# In upstream's order (volumezone.topologyLabels); a beta key on a PV also matches the GA key on a node.
TOPOLOGY_LABELS = (BETA_ZONE, BETA_REGION, ZONE, REGION)
GA_LABEL = {BETA_ZONE: ZONE, BETA_REGION: REGION}

READ_WRITE_ONCE_POD = "ReadWriteOncePod"


def _storage(raw: dict[str, Quantity]) -> dict[str, Quantity]:
    for name, value in raw.items():
        to_scheduler_units(name, value)  # raises QuantityError naming the value
    return raw


def zone_values(value: str) -> frozenset[str]:
    """A PV zone label's set of zones: several zones are joined by "__" (volumehelpers.LabelZonesToSet)."""
    return frozenset(z.strip() for z in value.split("__") if z.strip())


class ObjectReference(LenientModel):
    kind: str | None = None
    namespace: str | None = None
    name: str | None = None
    uid: str | None = None


class VolumeNodeAffinity(LenientModel):
    required: NodeSelector | None = None


class PersistentVolumeSpec(LenientModel):
    storage_class_name: str = ""
    access_modes: list[str] = Field(default_factory=list)
    capacity: dict[str, Quantity] = Field(default_factory=dict)
    claim_ref: ObjectReference | None = None
    node_affinity: VolumeNodeAffinity | None = None
    volume_mode: str = "Filesystem"

    _check_capacity = field_validator("capacity")(_storage)


class PersistentVolumeStatus(LenientModel):
    phase: str = ""


class PersistentVolume(LenientModel):
    KIND: ClassVar[str] = "PersistentVolume"

    api_version: Literal["v1"] = "v1"
    kind: Literal["PersistentVolume"] = "PersistentVolume"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: PersistentVolumeSpec = Field(default_factory=PersistentVolumeSpec)
    status: PersistentVolumeStatus = Field(default_factory=PersistentVolumeStatus)

    def topology(self) -> tuple[tuple[str, frozenset[str]], ...]:
        """The PV's zone and region labels as (key, allowed values), in upstream's order (getPVTopologies)."""
        labels = self.metadata.labels
        return tuple((key, zone_values(labels[key])) for key in TOPOLOGY_LABELS if key in labels)

    def storage(self) -> int:
        return to_scheduler_units("storage", self.spec.capacity.get("storage", 0))


class ClaimResources(LenientModel):
    requests: dict[str, Quantity] = Field(default_factory=dict)

    _check_requests = field_validator("requests")(_storage)


class PersistentVolumeClaimSpec(LenientModel):
    access_modes: list[str] = Field(default_factory=list)
    storage_class_name: str | None = None
    volume_name: str = ""
    volume_mode: str = "Filesystem"
    resources: ClaimResources = Field(default_factory=ClaimResources)
    selector: LabelSelector | None = None


class PersistentVolumeClaimStatus(LenientModel):
    phase: str = "Pending"


class PersistentVolumeClaim(LenientModel):
    KIND: ClassVar[str] = "PersistentVolumeClaim"

    api_version: Literal["v1"] = "v1"
    kind: Literal["PersistentVolumeClaim"] = "PersistentVolumeClaim"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: PersistentVolumeClaimSpec = Field(default_factory=PersistentVolumeClaimSpec)
    status: PersistentVolumeClaimStatus = Field(default_factory=PersistentVolumeClaimStatus)

    @property
    def key(self) -> str:
        return f"{self.metadata.namespace or 'default'}/{self.metadata.name}"

    @property
    def class_name(self) -> str:
        """The claim's class: the beta annotation wins over spec.storageClassName; "" means no class."""
        annotations = self.metadata.annotations
        if BETA_CLASS in annotations:
            return annotations[BETA_CLASS]
        return self.spec.storage_class_name or ""

    @property
    def fully_bound(self) -> bool:
        """Bound on both sides. The PV controller's annotation says so; phase Bound is accepted too, so that
        hand-written claims (scenarios, clusters without a PV controller) need not carry the annotation."""
        done = BIND_COMPLETED in self.metadata.annotations or self.status.phase == "Bound"
        return bool(self.spec.volume_name) and done

    @property
    def selected_node(self) -> str | None:
        return self.metadata.annotations.get(SELECTED_NODE)

    def storage(self) -> int:
        return to_scheduler_units("storage", self.spec.resources.requests.get("storage", 0))


class TopologySelectorLabelRequirement(LenientModel):
    key: str
    values: list[str] = Field(default_factory=list)


class TopologySelectorTerm(LenientModel):
    match_label_expressions: list[TopologySelectorLabelRequirement] = Field(default_factory=list)


class StorageClass(LenientModel):
    KIND: ClassVar[str] = "StorageClass"

    api_version: str = "storage.k8s.io/v1"
    kind: Literal["StorageClass"] = "StorageClass"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    provisioner: str = ""
    # The API server defaults it; a class read from a scenario may leave it out.
    volume_binding_mode: Literal["Immediate", "WaitForFirstConsumer"] = "Immediate"
    allowed_topologies: list[TopologySelectorTerm] = Field(default_factory=list)

    @property
    def wait_for_first_consumer(self) -> bool:
        return self.volume_binding_mode == "WaitForFirstConsumer"

    @property
    def provisions(self) -> bool:
        return self.provisioner not in ("", NO_PROVISIONER)

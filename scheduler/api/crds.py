"""The CRDs Phalanx serves: names, short names and the columns `kubectl get` shows."""

from __future__ import annotations

from typing import Any

from scheduler.api.crd import CrdSpec, PrinterColumn, custom_resource_definition
from scheduler.api.podgroup import POD_GROUP_SCHEDULED, PodGroup
from scheduler.api.workload import GROUP, VERSION, Workload

CATEGORY = "phalanx"

# Short names: `pg` is taken by Volcano, coscheduling and KAI; `wl` by Kueue. Ours are prefixed.
POD_GROUP_CRD = CrdSpec(
    model=PodGroup,
    group=GROUP,
    version=VERSION,
    kind=PodGroup.KIND,
    plural=PodGroup.PLURAL,
    short_names=("phxpg",),
    categories=(CATEGORY,),
    printer_columns=(
        PrinterColumn("Phase", ".status.phase", description="Where the group is in its life"),
        PrinterColumn("MinCount", ".spec.schedulingPolicy.gang.minCount", "integer", "Pods needed together"),
        PrinterColumn("Scheduled", ".status.scheduled", "integer", "Pods bound to nodes"),
        PrinterColumn("Running", ".status.running", "integer", "Pods running"),
        PrinterColumn("Placement", ".status.placement.domain", description="Narrowest domain holding the group"),
        PrinterColumn(
            "Reason",
            f".status.conditions[?(@.type=='{POD_GROUP_SCHEDULED}')].reason",
            description="Why the group is (not) scheduled",
        ),
        PrinterColumn("Age", ".metadata.creationTimestamp", "date"),
    ),
)

WORKLOAD_CRD = CrdSpec(
    model=Workload,
    group=GROUP,
    version=VERSION,
    kind=Workload.KIND,
    plural=Workload.PLURAL,
    short_names=("phxwl",),
    categories=(CATEGORY,),
    printer_columns=(
        PrinterColumn("Controller", ".spec.controllerRef.kind", description="Kind of the owning controller"),
        PrinterColumn("Target", ".spec.controllerRef.name", description="Name of the owning controller"),
        PrinterColumn("PodGroups", ".status.podGroups", "integer", "PodGroups stamped out"),
        PrinterColumn("Age", ".metadata.creationTimestamp", "date"),
    ),
)

ALL_CRDS = (WORKLOAD_CRD, POD_GROUP_CRD)


def generated_crds() -> dict[str, dict[str, Any]]:
    """File name → CRD object, for every CRD Phalanx serves."""
    return {f"{GROUP}_{spec.plural}.yaml": custom_resource_definition(spec) for spec in ALL_CRDS}

"""ProvisioningRequest (autoscaling.x-k8s.io/v1): ask the cluster autoscaler for a whole gang's capacity at once.

A pod-by-pod autoscaler adds nodes for whichever pending pods it looks at; a gang needs all of its capacity or
none. One ProvisioningRequest per gang lists a PodTemplate per pod shape with its count; with the class
`best-effort-atomic-scale-up.autoscaling.x-k8s.io` the autoscaler adds all of it or nothing. Bodies are plain
dicts: this module only shapes and reads them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Any

from scheduler.api.core import Pod

GROUP, VERSION, PLURAL = "autoscaling.x-k8s.io", "v1", "provisioningrequests"
API_VERSION = f"{GROUP}/{VERSION}"
# On the PodGroup: where its capacity request stands.
CAPACITY_CONDITION = "CapacityProvisioned"
# On the ProvisioningRequest and its PodTemplates: the PodGroup they serve (same namespace).
POD_GROUP_LABEL = "scheduling.phalanx.dev/pod-group"
DEFAULT_IMAGE = "registry.k8s.io/pause:3.9"  # a template needs an image; the autoscaler only reads requests
_NAME_MAX = 253


class ProvisioningState(StrEnum):
    PENDING = "Pending"  # created, no answer yet
    ACCEPTED = "Accepted"
    PROVISIONED = "Provisioned"
    FAILED = "Failed"  # failed, or the booking expired or the capacity was revoked before the gang bound


def request_name(group: str, attempt: int) -> str:
    """`<podgroup>-<attempt>`: a failed request is replaced by a new one (the spec is immutable)."""
    suffix = f"-{attempt}"
    return group[: _NAME_MAX - len(suffix)] + suffix


def pod_template_body(name: str, namespace: str, group: str, pod: Pod, owner: Mapping[str, Any]) -> dict[str, Any]:
    """A PodTemplate of one pod shape: requests, selectors, affinity and tolerations are what the autoscaler
    simulates scheduling with; the name and node of the pod are not part of the shape."""
    spec = pod.spec.model_dump(
        mode="json", by_alias=True, exclude_none=True, exclude={"node_name", "priority", "overhead"}
    )
    for container in (*spec.get("containers", []), *spec.get("initContainers", [])):
        container["image"] = container.get("image") or DEFAULT_IMAGE
    return {
        "apiVersion": "v1",
        "kind": "PodTemplate",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {POD_GROUP_LABEL: group},
            "ownerReferences": [dict(owner)],
        },
        "template": {"metadata": {"labels": dict(pod.metadata.labels)}, "spec": spec},
    }


def provisioning_request_body(
    name: str,
    namespace: str,
    group: str,
    class_name: str,
    parameters: Mapping[str, str],
    pod_sets: Sequence[tuple[str, int]],
    owner: Mapping[str, Any],
) -> dict[str, Any]:
    """`pod_sets`: (PodTemplate name, pod count)."""
    spec: dict[str, Any] = {
        "provisioningClassName": class_name,
        "podSets": [{"podTemplateRef": {"name": template}, "count": count} for template, count in pod_sets],
    }
    if parameters:
        spec["parameters"] = dict(parameters)
    return {
        "apiVersion": API_VERSION,
        "kind": "ProvisioningRequest",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {POD_GROUP_LABEL: group},
            "ownerReferences": [dict(owner)],
        },
        "spec": spec,
    }


def read_state(body: Mapping[str, Any]) -> tuple[ProvisioningState, str]:
    """Where a request stands, from its conditions (as the cluster autoscaler writes them), and why."""
    conditions = {c.get("type"): c for c in (body.get("status") or {}).get("conditions") or []}

    def true(kind: str) -> Mapping[str, Any] | None:
        condition = conditions.get(kind)
        return condition if condition is not None and condition.get("status") == "True" else None

    for kind in ("Failed", "BookingExpired", "CapacityRevoked"):
        if (condition := true(kind)) is not None:
            return ProvisioningState.FAILED, f"{kind}: {condition.get('message') or condition.get('reason', '')}"
    if (condition := true("Provisioned")) is not None:
        return ProvisioningState.PROVISIONED, condition.get("message") or "capacity provisioned"
    if (condition := true("Accepted")) is not None:
        return ProvisioningState.ACCEPTED, condition.get("message") or "accepted by the autoscaler"
    return ProvisioningState.PENDING, "waiting for the autoscaler"

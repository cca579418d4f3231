"""Workload -> PodGroups: stamp out each template's groups, keep them in step, remove the ones no longer wanted.

Owner references let garbage collection remove the groups with their Workload; the operator also deletes them
itself when it sees the Workload go, since not every cluster (or test server) runs the garbage collector.
"""

from __future__ import annotations

from typing import Any

import structlog
from pydantic import ValidationError

from scheduler.api.membership import stamp_pod_groups
from scheduler.api.workload import GROUP, VERSION, Workload
from scheduler.kube.api import KubeApi

log = structlog.get_logger(__name__)
WORKLOAD_LABEL = "scheduling.phalanx.dev/workload"


async def reconcile_workload(kube: KubeApi, body: dict[str, Any], deleted: bool) -> None:
    meta = body.get("metadata", {})
    namespace, name = meta.get("namespace", "default"), meta.get("name", "")
    wanted: dict[str, dict[str, Any]] = {}
    if not deleted:
        try:
            workload = Workload.model_validate(body)
        except ValidationError as exc:
            # The schema should have refused it; say so on the object instead of crashing.
            message = f"invalid Workload: {exc.errors()[0]['msg']}"
            ref = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "Workload", "namespace": namespace, "name": name}
            await kube.post_event(ref, "Warning", "InvalidWorkload", message)
            return
        for group in stamp_pod_groups(workload):
            wire = group.to_wire()
            wire["metadata"] = {k: v for k, v in wire["metadata"].items() if v not in ({}, [], "")}
            wanted[group.metadata.name] = wire
        for body_ in wanted.values():
            await kube.apply_pod_group(body_)
    existing = await kube.call(
        f"list podgroups of {name}",
        lambda: kube.objects.list_namespaced_custom_object(
            GROUP, VERSION, namespace, "podgroups", label_selector=f"{WORKLOAD_LABEL}={name}"
        ),
    )
    for item in existing.get("items", []):
        stale = item["metadata"]["name"]
        if stale in wanted:
            continue
        await kube.delete_custom("podgroups", namespace, stale)
    if not deleted:
        status = {"status": {"observedGeneration": meta.get("generation"), "podGroups": len(wanted)}}
        await kube.call(
            f"status workload {name}",
            lambda: kube.objects.patch_namespaced_custom_object_status(
                GROUP, VERSION, namespace, "workloads", name, status, _content_type="application/merge-patch+json"
            ),
        )
    log.info("workload reconciled", workload=f"{namespace}/{name}", podgroups=len(wanted), deleted=deleted)

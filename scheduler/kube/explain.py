"""`phalanx explain`: everything the cluster knows about why a PodGroup is (not) scheduled."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from kubernetes_asyncio import client

from scheduler.api.podgroup import COSCHEDULING_POD_GROUP_LABEL, POD_GROUP_LABEL
from scheduler.api.upstream import (
    COSCHEDULING_GROUP,
    COSCHEDULING_VERSION,
    STATUS_ANNOTATION,
    UPSTREAM_GROUP,
    UPSTREAM_VERSIONS,
)
from scheduler.api.workload import GROUP, VERSION
from scheduler.kube.connection import load_connection


@dataclass
class Explanation:
    group: dict[str, Any]
    pods: list[dict[str, Any]] = field(default_factory=list)  # name, node, phase, PodScheduled message
    events: list[dict[str, Any]] = field(default_factory=list)  # time, type, reason, object, message


async def explain(namespace: str, name: str, kubeconfig: str | None = None) -> Explanation:
    connection = load_connection(kubeconfig)
    async with client.ApiClient(connection.client_configuration()) as api:
        objects: Any = client.CustomObjectsApi(api)
        core: Any = client.CoreV1Api(api)
        group = await find_group(objects, namespace, name)
        pods = [p for p in (await core.list_namespaced_pod(namespace)).items if member_of(p, name)]
        events = (await core.list_namespaced_event(namespace)).items
    names = {name} | {p.metadata.name for p in pods}
    result = Explanation(group)
    result.pods = [pod_summary(pod) for pod in sorted(pods, key=lambda p: p.metadata.name)]
    result.events = [
        event_summary(event)
        for event in sorted(events, key=event_sort_key)
        if event.involved_object.name in names and from_phalanx(event)
    ]
    return result


async def find_group(objects: Any, namespace: str, name: str) -> dict[str, Any]:
    """Our PodGroup of that name, else upstream's (newest version first), else coscheduling's. For theirs, the
    status shown is ours from its annotation, with their own conditions after ours."""
    places = [
        (GROUP, VERSION),
        *((UPSTREAM_GROUP, v) for v in UPSTREAM_VERSIONS),
        (COSCHEDULING_GROUP, COSCHEDULING_VERSION),
    ]
    for group, version in places:
        try:
            body: dict[str, Any] = await objects.get_namespaced_custom_object(
                group, version, namespace, "podgroups", name
            )
        except client.ApiException as exc:
            if exc.status == 404:
                continue
            raise
        if group == GROUP:
            return body
        return {**body, "status": _their_status(body)}
    raise LookupError(f"no PodGroup {namespace}/{name} in {', '.join(sorted({g for g, _ in places}))}")


async def foreign_groups(objects: Any, namespace: str | None, **options: Any) -> list[dict[str, Any]]:
    """Upstream's PodGroups (the newest version served) and coscheduling's, status shown as `find_group` shows
    it; an API the server does not serve contributes nothing."""
    found: list[dict[str, Any]] = []
    upstream = [(UPSTREAM_GROUP, v) for v in UPSTREAM_VERSIONS]
    for places in (upstream, [(COSCHEDULING_GROUP, COSCHEDULING_VERSION)]):
        for group, version in places:
            try:
                if namespace is None:
                    listed = await objects.list_cluster_custom_object(group, version, "podgroups", **options)
                else:
                    listed = await objects.list_namespaced_custom_object(
                        group, version, namespace, "podgroups", **options
                    )
            except client.ApiException as exc:
                if exc.status == 404:
                    continue
                raise
            found += [{**body, "status": _their_status(body)} for body in listed.get("items", [])]
            break
    return found


def _their_status(body: dict[str, Any]) -> dict[str, Any]:
    raw = (body.get("metadata", {}).get("annotations") or {}).get(STATUS_ANNOTATION, "")
    try:
        ours = json.loads(raw) if raw else {}
    except ValueError:
        ours = {}
    ours = ours if isinstance(ours, dict) else {}
    theirs = [c for c in (body.get("status") or {}).get("conditions") or [] if isinstance(c, dict)]
    return {**ours, "conditions": [*ours.get("conditions", []), *theirs]}


def member_of(pod: Any, name: str) -> bool:
    """Whether the pod is in the group, as the cache decides it (api/membership.py): spec.schedulingGroup, else
    our label or coscheduling's. A typed client that predates schedulingGroup drops it; upstream's controllers
    also make the pod a dependent of its PodGroup, which is kept."""
    grouped = getattr(pod.spec, "scheduling_group", None)
    if grouped is not None:
        return bool(getattr(grouped, "pod_group_name", None) == name)
    labels = pod.metadata.labels or {}
    if name in (labels.get(POD_GROUP_LABEL), labels.get(COSCHEDULING_POD_GROUP_LABEL)):
        return True
    return any(ref.kind == "PodGroup" and ref.name == name for ref in pod.metadata.owner_references or [])


# Shared with `phalanx top` (kube/snapshot.py), so both commands read a pod's reason and an event alike.


def pod_summary(pod: Any) -> dict[str, Any]:
    """name, node, phase, and the PodScheduled message while the pod is not scheduled."""
    condition = next((c for c in pod.status.conditions or [] if c.type == "PodScheduled"), None)
    return {
        "name": pod.metadata.name,
        "node": pod.spec.node_name or "",
        "phase": pod.status.phase or "",
        "message": condition.message if condition is not None and condition.status == "False" else "",
    }


def from_phalanx(event: Any) -> bool:
    return event.source is None or event.source.component == "phalanx"


def event_time(event: Any) -> datetime | None:
    when = event.last_timestamp or event.event_time or event.first_timestamp
    return when if isinstance(when, datetime) else None


def event_sort_key(event: Any) -> str:
    return str(event.last_timestamp or event.event_time or "")


def event_summary(event: Any) -> dict[str, Any]:
    """time, type, reason, object (Kind/name), message."""
    return {
        "time": str(event.last_timestamp or ""),
        "type": event.type,
        "reason": event.reason,
        "object": f"{event.involved_object.kind}/{event.involved_object.name}",
        "message": event.message,
    }

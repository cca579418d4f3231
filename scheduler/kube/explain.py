"""`phalanx explain`: everything the cluster knows about why a PodGroup is (not) scheduled."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kubernetes_asyncio import client

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
        group = await objects.get_namespaced_custom_object(GROUP, VERSION, namespace, "podgroups", name)
        selector = f"scheduling.phalanx.dev/pod-group={name}"
        pods = (await core.list_namespaced_pod(namespace, label_selector=selector)).items
        events = (await core.list_namespaced_event(namespace)).items
    names = {name} | {p.metadata.name for p in pods}
    result = Explanation(group)
    for pod in sorted(pods, key=lambda p: p.metadata.name):
        condition = next((c for c in pod.status.conditions or [] if c.type == "PodScheduled"), None)
        result.pods.append(
            {
                "name": pod.metadata.name,
                "node": pod.spec.node_name or "",
                "phase": pod.status.phase or "",
                "message": condition.message if condition is not None and condition.status == "False" else "",
            }
        )
    for event in sorted(events, key=lambda e: str(e.last_timestamp or e.event_time or "")):
        if event.involved_object.name in names and (event.source is None or event.source.component == "phalanx"):
            result.events.append(
                {
                    "time": str(event.last_timestamp or ""),
                    "type": event.type,
                    "reason": event.reason,
                    "object": f"{event.involved_object.kind}/{event.involved_object.name}",
                    "message": event.message,
                }
            )
    return result

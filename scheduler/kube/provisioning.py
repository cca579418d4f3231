"""Capacity for gangs that fit nowhere: one ProvisioningRequest per gang, its answer on the PodGroup, cleanup.

Driven by the scheduling thread (it owns the decisions); API calls run on the event loop. A gang that is
unschedulable even with preemption gets a request for all of its pending pods, one PodTemplate per pod shape,
owned by its PodGroup. Provisioned: the new nodes arrive through the node watch and the gang is retried.
Failed (or booking expired): reported, and asked again after `retry_seconds`. Scheduled or deleted: the
request and its templates are deleted.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import structlog
from kubernetes_asyncio import client

from scheduler.api.conditions import make_condition
from scheduler.api.config import ProvisioningConfig
from scheduler.api.meta import Condition
from scheduler.api.provisioning import (
    CAPACITY_CONDITION,
    GROUP,
    PLURAL,
    POD_GROUP_LABEL,
    VERSION,
    ProvisioningState,
    pod_template_body,
    provisioning_request_body,
    read_state,
    request_name,
)
from scheduler.api.workload import API_VERSION
from scheduler.engine.cycle import Decision
from scheduler.engine.state import ClusterState
from scheduler.kube.api import KubeApi

log = structlog.get_logger(__name__)

Spawn = Callable[[Coroutine[Any, Any, Any]], None]
Event = Callable[[str, str, str, str], None]  # (podgroup key, type, reason, message)


@dataclass
class Request:
    name: str
    namespace: str
    templates: list[str]
    pods: int
    state: ProvisioningState = ProvisioningState.PENDING
    message: str = ""
    since: float = field(default_factory=time.monotonic)


class Provisioner:
    def __init__(
        self, kube: KubeApi, config: ProvisioningConfig, state: ClusterState, spawn: Spawn, event: Event
    ) -> None:
        self.kube, self.config, self.state, self.spawn, self.event = kube, config, state, spawn, event
        self.core: Any = kube.core
        self.requests: dict[str, Request] = {}  # PodGroup key -> its current request
        self.attempts: dict[str, int] = {}
        self.final: dict[str, Condition] = {}  # PodGroup key -> how its last request ended, kept for the status
        self.unavailable = ""  # why requests cannot be made (the API is not installed); set once

    def want(self, decision: Decision) -> None:
        """The gang fits nowhere, even with preemption: ask for its capacity, unless already asked."""
        unit = decision.unit
        if not self.config.enabled or self.unavailable or unit.group is None or unit.gang is None:
            return
        key = unit.key
        current = self.requests.get(key)
        if current is not None and current.state is not ProvisioningState.FAILED:
            return
        if current is not None and time.monotonic() - current.since < self.config.retry_seconds:
            return
        if current is not None:
            self._delete(current)
        namespace, group = key.split("/", 1)
        attempt = self.attempts[key] = self.attempts.get(key, 0) + 1
        name = request_name(group, attempt)
        owner = {
            "apiVersion": API_VERSION,
            "kind": "PodGroup",
            "name": group,
            "uid": unit.group.metadata.uid or "",
            "controller": True,
        }
        templates, pod_sets = [], []
        for i, pod_set in enumerate(unit.gang.pod_sets):
            info = self.state.pods.get(pod_set.pods[0])
            if info is None:
                return  # the pod just went: the next decision asks again
            template = request_name(name, i)
            templates.append(pod_template_body(template, namespace, group, info.pod, owner))
            pod_sets.append((template, len(pod_set.pods)))
        body = provisioning_request_body(
            name, namespace, group, self.config.provisioning_class_name, self.config.parameters, pod_sets, owner
        )
        pods = sum(count for _, count in pod_sets)
        message = f"ProvisioningRequest {name} asks {self.config.provisioning_class_name} for {pods} pod(s)"
        self.final.pop(key, None)
        self.requests[key] = Request(name, namespace, [t["metadata"]["name"] for t in templates], pods, message=message)
        self.spawn(self._create(key, templates, body))

    async def _create(self, key: str, templates: list[dict[str, Any]], body: dict[str, Any]) -> None:
        namespace, name = body["metadata"]["namespace"], body["metadata"]["name"]
        try:
            for template in templates:
                await self.kube.call(
                    f"create podtemplate {template['metadata']['name']}",
                    lambda t=template: self.core.create_namespaced_pod_template(namespace, t),  # type: ignore[misc]
                )
            await self.kube.call(
                f"create provisioningrequest {name}",
                lambda: self.kube.objects.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body),
            )
        except client.ApiException as exc:
            if exc.status == 409:
                return  # made by an earlier leader: the watch reports its state
            if exc.status == 404:
                self.unavailable = f"{GROUP}/{VERSION} {PLURAL} is not installed"
                log.warning("capacity provisioning off", why=self.unavailable)
            self.requests.pop(key, None)
            for template in templates:
                await self._quiet_delete_template(namespace, template["metadata"]["name"])
            raise
        self.event(key, "Normal", "ProvisioningRequested", self.requests[key].message if key in self.requests else name)
        log.info(
            "capacity requested", podgroup=key, request=name, pods=sum(s["count"] for s in body["spec"]["podSets"])
        )

    def observe(self, body: dict[str, Any], deleted: bool) -> tuple[str, ProvisioningState] | None:
        """A ProvisioningRequest changed: (PodGroup key, its new state) when that changed anything."""
        meta = body.get("metadata", {})
        group = (meta.get("labels") or {}).get(POD_GROUP_LABEL)
        key = f"{meta.get('namespace') or 'default'}/{group}"
        current = self.requests.get(key)
        if group is None or current is None or current.name != meta.get("name") or deleted:
            return None
        state, message = read_state(body)
        if state is current.state:
            return None
        current.state, current.message, current.since = state, f"{current.name}: {message}", time.monotonic()
        if state is ProvisioningState.FAILED:
            self.event(key, "Warning", "ProvisioningFailed", current.message)
        elif state is ProvisioningState.PROVISIONED:
            self.event(key, "Normal", "Provisioned", current.message)
        log.info("capacity request changed", podgroup=key, request=current.name, state=state.value, why=message)
        return key, state

    def settle(self, key: str) -> None:
        """The gang is placed, or gone: its request has served its purpose."""
        current = self.requests.pop(key, None)
        if current is None:
            return
        if current.state is not ProvisioningState.PROVISIONED:
            # Capacity turned up before the autoscaler said so (or freed elsewhere): either way it is there.
            message = f"the gang was placed while {current.name} was {current.state.value.lower()}"
            self.final[key] = make_condition(CAPACITY_CONDITION, True, "CapacityAvailable", message)
        else:
            self.final[key] = self._condition(current)
        self._delete(current)

    def prune(self) -> None:
        for key in [k for k in self.requests if k not in self.state.groups]:
            self.settle(key)
        for book in (self.attempts, self.final):
            for key in [k for k in book if k not in self.state.groups]:
                del book[key]

    def condition(self, key: str) -> Condition | None:
        current = self.requests.get(key)
        return self.final.get(key) if current is None else self._condition(current)

    def _condition(self, current: Request) -> Condition:
        provisioned = current.state is ProvisioningState.PROVISIONED
        reason = {
            ProvisioningState.PENDING: "Provisioning",
            ProvisioningState.ACCEPTED: "Provisioning",
            ProvisioningState.PROVISIONED: "Provisioned",
            ProvisioningState.FAILED: "ProvisioningFailed",
        }[current.state]
        return make_condition(CAPACITY_CONDITION, provisioned, reason, current.message)

    def _delete(self, request: Request) -> None:
        async def delete() -> None:
            await self.kube.delete_custom(PLURAL, request.namespace, request.name, GROUP, VERSION)
            for template in request.templates:
                await self._quiet_delete_template(request.namespace, template)

        self.spawn(delete())

    async def _quiet_delete_template(self, namespace: str, name: str) -> None:
        try:
            await self.kube.call(
                f"delete podtemplate {name}", lambda: self.core.delete_namespaced_pod_template(name, namespace)
            )
        except client.ApiException as exc:
            if exc.status != 404:
                log.warning("podtemplate not deleted", template=f"{namespace}/{name}", error=str(exc))

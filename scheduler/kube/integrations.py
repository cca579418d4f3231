"""Workload-controller integration on the operator side: watch Jobs, JobSets, LeaderWorkerSets (and the
StatefulSets between an LWS and its pods), feed them to the cache for membership, and keep one Workload per
integrated object in step with it (created, resized, deleted with it).

The Workload carries an owner reference to its controller object so garbage collection removes it where the
collector runs; the operator deletes it itself on the object's deletion too, as it does PodGroups.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import structlog
from kubernetes_asyncio import client
from pydantic import ValidationError

from scheduler.api.controllers import JOB_API, JOBSET_API, LWS_API, STATEFULSET_API
from scheduler.api.integrations import (
    INTEGRATION_LABEL,
    OwnerRecord,
    left_to_upstream,
    owner_id,
    record_for,
    workload_name,
)
from scheduler.api.upstream import UPSTREAM_GROUP, UPSTREAM_VERSIONS
from scheduler.kube.api import KubeApi
from scheduler.kube.discovery import VersionedWatcher
from scheduler.kube.inbox import Change, Inbox
from scheduler.kube.watch import ResourceWatcher
from scheduler.kube.workloads import reconcile_workload

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Followed:
    kind: str
    api: tuple[str, str, str]  # group, version, plural
    root: bool  # may become a Workload (else: only a link in owner chains)


FOLLOWED = (
    Followed("Job", JOB_API, True),
    Followed("StatefulSet", STATEFULSET_API, False),
    Followed("JobSet", JOBSET_API, True),
    Followed("LeaderWorkerSet", LWS_API, True),
)


class Integrations:
    def __init__(self, api: client.ApiClient, kube: KubeApi, inbox: Inbox, scheduler_name: str) -> None:
        self.api, self.kube, self.inbox, self.scheduler_name = api, kube, inbox, scheduler_name
        # object key -> its newest (deleted, body, record or why it could not be read)
        self.latest: dict[str, tuple[bool, dict[str, Any], OwnerRecord | str]] = {}
        self.workers: dict[str, asyncio.Task[None]] = {}
        self.applied: dict[str, OwnerRecord | str] = {}  # object key -> what its Workload was made from
        self.warned: dict[str, str] = {}
        # namespace/name of the Workloads integrations made (listed at start, then kept): only those are ever
        # looked up for removal, so thousands of ordinary Jobs cost no API call.
        self.made: set[str] = set()
        # Upstream Workloads (namespace/name) -> the owner id their controllerRef names, and the newest body of
        # each root object, to read it again when such a Workload comes or goes.
        self.claimed: dict[str, str] = {}
        self.bodies: dict[str, tuple[Followed, dict[str, Any]]] = {}

    async def load(self) -> None:
        """The Workloads an earlier run made, so a Job that stopped being a gang while we were away is cleaned."""
        found = await self.kube.call(
            "list integration workloads",
            lambda: self.kube.objects.list_cluster_custom_object(
                "scheduling.phalanx.dev", "v1alpha1", "workloads", label_selector=INTEGRATION_LABEL
            ),
        )
        for item in found.get("items", []):
            meta = item["metadata"]
            self.made.add(f"{meta.get('namespace')}/{meta.get('name')}")

    def watchers(self, kinds: tuple[Followed, ...] = FOLLOWED) -> list[ResourceWatcher]:
        for followed in kinds:
            self.inbox.put(Change("served", False, {"kind": followed.kind, "served": None}))
        return [
            ResourceWatcher(
                self.api,
                followed.kind,
                *followed.api,
                on_event=self._handler(followed),
                on_served=lambda served, kind=followed.kind: self.inbox.put(  # type: ignore[misc]
                    Change("served", False, {"kind": kind, "served": served})
                ),
            )
            for followed in kinds
        ]

    def _handler(self, followed: Followed) -> Any:
        def handle(deleted: bool, body: dict[str, Any]) -> None:
            meta = body.get("metadata", {})
            # Being deleted counts as gone: with orphan propagation (a Job's default) the object lingers until the
            # garbage collector is done, and its gang must not outlive the decision to delete it.
            deleted = deleted or bool(meta.get("deletionTimestamp"))
            key = owner_id(followed.kind, meta.get("namespace") or "default", meta.get("name", ""))
            try:
                record: OwnerRecord | str = record_for(body, self.scheduler_name)
            except ValidationError as exc:
                record = f"cannot read {followed.kind} {meta.get('name')}: {exc.errors()[0]['msg']}"
            if isinstance(record, OwnerRecord) and key in self.claimed.values():
                record = left_to_upstream(record)
            if followed.root and not deleted:
                self.bodies[key] = (followed, body)
            else:
                self.bodies.pop(key, None)
            # An unreadable object is no owner: its pods wait (and the event below says why).
            gone = deleted or isinstance(record, str)
            self.inbox.put(Change("owner", gone, {"id": key, "record": None if gone else record}))
            if followed.root:
                self.latest[key] = (deleted, body, record)
                if key not in self.workers:
                    self.workers[key] = asyncio.create_task(self._drain(key), name=f"integration {key}")

        return handle

    def upstream_workloads(self) -> ResourceWatcher:
        """Upstream's Workloads, read only for their controllerRef: an object one names is upstream's gang."""
        return VersionedWatcher(
            self.api, "Workload", UPSTREAM_GROUP, UPSTREAM_VERSIONS, "workloads", self._upstream_workload
        )

    def _upstream_workload(self, deleted: bool, body: dict[str, Any]) -> None:
        meta = body.get("metadata", {})
        namespace = meta.get("namespace") or "default"
        key = f"{namespace}/{meta.get('name')}"
        before = self.claimed.pop(key, None)
        ref = (body.get("spec") or {}).get("controllerRef") or {}
        if not deleted and ref.get("kind") and ref.get("name"):
            self.claimed[key] = owner_id(str(ref["kind"]), namespace, str(ref["name"]))
        for owner in {before, self.claimed.get(key)} - {None}:
            if owner in self.bodies:  # read it again: its gang is now upstream's, or ours again
                followed, latest = self.bodies[owner]
                self._handler(followed)(False, latest)

    async def _drain(self, key: str) -> None:
        """One reconciliation at a time per object, always of its newest state."""
        try:
            while key in self.latest:
                deleted, body, record = self.latest.pop(key)
                try:
                    await self.reconcile(key, body, deleted, record)
                except Exception as exc:
                    log.warning("integration not reconciled", object=key, error=str(exc))
        finally:
            self.workers.pop(key, None)

    async def reconcile(self, key: str, body: dict[str, Any], deleted: bool, record: OwnerRecord | str) -> None:
        meta = body.get("metadata", {})
        kind, name, namespace = body.get("kind", ""), meta.get("name", ""), meta.get("namespace") or "default"
        if deleted:
            self.applied.pop(key, None)
            self.warned.pop(key, None)
            await self._remove(namespace, workload_name(name, kind), kind, name)
            return
        if self.applied.get(key) == record:
            return  # nothing that shapes the gang changed (most updates are status)
        self.applied[key] = record
        if isinstance(record, str) or record.gang is None:
            await self._remove(namespace, workload_name(name, kind), kind, name)
            if isinstance(record, str) or record.problem:
                problem = record if isinstance(record, str) else record.problem
                await self._warn(key, body, f"not gang scheduled: {problem}")
            else:
                log.info("not gang scheduled", object=key, why=record.note)
            return
        workload = record.gang.workload.to_wire()
        workload["metadata"]["ownerReferences"] = [
            {
                "apiVersion": body.get("apiVersion", ""),
                "kind": kind,
                "name": name,
                "uid": meta.get("uid", ""),
                "controller": True,
            }
        ]
        await self.kube.apply_custom("workloads", workload)
        self.made.add(f"{namespace}/{workload['metadata']['name']}")
        log.info("gang scheduling", object=key, workload=workload["metadata"]["name"], groups=record.note)

    async def _remove(self, namespace: str, workload: str, kind: str, name: str) -> None:
        """Delete our Workload for the object (and its PodGroups, without waiting for the watch)."""
        if f"{namespace}/{workload}" not in self.made:
            return
        self.made.discard(f"{namespace}/{workload}")
        current = await self._get_workload(namespace, workload)
        ref = (current or {}).get("spec", {}).get("controllerRef") or {}
        if current is None or (ref.get("kind"), ref.get("name")) != (kind, name):
            return  # none, or a user's own Workload of that name: not ours to delete
        await self.kube.delete_custom("workloads", namespace, workload)
        await reconcile_workload(self.kube, current, deleted=True)
        log.info("gang removed", object=f"{kind}/{namespace}/{name}", workload=workload)

    async def _get_workload(self, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            found: dict[str, Any] = await self.kube.call(
                f"get workload {name}",
                lambda: self.kube.objects.get_namespaced_custom_object(
                    "scheduling.phalanx.dev", "v1alpha1", namespace, "workloads", name
                ),
            )
        except client.ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return found

    async def _warn(self, key: str, body: dict[str, Any], message: str) -> None:
        if self.warned.get(key) == message:
            return
        self.warned[key] = message
        meta = body.get("metadata", {})
        ref = {
            "apiVersion": body.get("apiVersion", ""),
            "kind": body.get("kind", ""),
            "namespace": meta.get("namespace") or "default",
            "name": meta.get("name", ""),
            "uid": meta.get("uid", ""),
        }
        log.warning("integration problem", object=key, message=message)
        await self.kube.post_event(ref, "Warning", "GangNotScheduled", message)

"""The API calls behind the engine's effects (kube/effects.py): bindings, evictions, status and events.

Calls are retried on throttling, server errors and dropped connections (a binding is not: the engine's binding
cycle retries it, after checking the node still has room), rate-limited client-side (a token bucket plus a
concurrency cap), and logged. Everything here is async, on the operator's event loop.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

import aiohttp
import structlog
from kubernetes_asyncio import client

from scheduler.api.storage import SELECTED_NODE
from scheduler.api.upstream import STATUS_ANNOTATION
from scheduler.api.workload import GROUP, VERSION
from scheduler.engine.effects import pod_ref

log = structlog.get_logger(__name__)
T = TypeVar("T")
RETRIABLE = frozenset({429, 500, 502, 503, 504})
# What a dropped or stalled connection raises: aiohttp's own errors (a server that hangs up without answering
# raises ServerDisconnectedError, which is no OSError), timeouts and socket errors.
CONNECTION_ERRORS: tuple[type[Exception], ...] = (aiohttp.ClientError, TimeoutError, OSError)
CALL_TIMEOUT_S = 30.0  # one attempt; the client sets no timeout of its own, and a hung call would hold a gang
EVENT_MESSAGE_MAX = 1024


class RetryableConflictError(Exception):
    """A 409 that changed nothing: the same call may pass."""


class BindingRefusedError(Exception):
    """A binding the server will never accept: the pod is bound elsewhere, or is another pod now."""


class TokenBucket:
    """At most `rate` calls per second on average, bursts of `burst`."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.capacity = rate, float(burst)
        self.tokens, self.updated = float(burst), time.monotonic()
        self._lock = asyncio.Lock()

    async def take(self) -> None:
        async with self._lock:
            while True:
                now = time.monotonic()
                self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
                self.updated = now
                if self.tokens >= 1:
                    self.tokens -= 1
                    return
                await asyncio.sleep((1 - self.tokens) / self.rate)


class KubeApi:
    def __init__(
        self,
        api: client.ApiClient,
        *,
        qps: float = 500.0,
        burst: int = 1000,
        concurrency: int = 64,
        observe: Callable[[str, int, float], None] = lambda verb, code, seconds: None,
    ) -> None:
        self.api = api
        self.observe = observe  # (verb, code, seconds) per attempt: the API-request metric
        # Typed loosely on purpose: the generated stubs reject the dict bodies and `_content_type` the server
        # accepts (and needs: merge patches on custom resources).
        self.core: Any = client.CoreV1Api(api)
        self.objects: Any = client.CustomObjectsApi(api)
        self.bucket = TokenBucket(qps, burst)
        self.slots = asyncio.Semaphore(concurrency)
        # Events have a budget of their own, as kube-scheduler's event recorder has its own client: a Scheduled
        # event per pod must not halve the rate bindings go out at.
        self.event_bucket = TokenBucket(qps, burst)
        self.event_slots = asyncio.Semaphore(concurrency)

    async def call(self, what: str, fn: Callable[[], Awaitable[T]], attempts: int = 4, *, event: bool = False) -> T:
        """Rate-limited call, retried with backoff on retriable failures; the last failure is raised."""
        delay = 0.05
        verb = what.split(" ", 1)[0]  # bind, status, condition, event, delete, create, patch, read, ...
        bucket, slots = (self.event_bucket, self.event_slots) if event else (self.bucket, self.slots)
        for attempt in range(1, attempts + 1):
            await bucket.take()
            started = time.monotonic()
            try:
                async with slots, asyncio.timeout(CALL_TIMEOUT_S):
                    result = await fn()
                self.observe(verb, 200, time.monotonic() - started)
                return result
            except client.ApiException as exc:
                self.observe(verb, int(exc.status or 0), time.monotonic() - started)
                if exc.status not in RETRIABLE or attempt == attempts:
                    raise
                headers: Any = exc.headers or {}
                retry_after = headers.get("Retry-After")
                wait = float(retry_after) if retry_after and retry_after.isdigit() else delay
                log.warning("api call retried", call=what, status=exc.status, attempt=attempt, wait=wait)
            except CONNECTION_ERRORS as exc:
                self.observe(verb, 0, time.monotonic() - started)
                if attempt == attempts:
                    raise
                wait = delay
                log.warning("api call retried", call=what, error=str(exc), attempt=attempt, wait=wait)
            await asyncio.sleep(wait)
            delay = min(delay * 4, 2.0)
        raise AssertionError("unreachable")

    # Pods -------------------------------------------------------------------------------------------------
    async def bind(self, pod: str, node: str, uid: str = "") -> None:
        """pods/binding; with the pod's UID, as kube-scheduler sends it, so that the server refuses to bind a
        pod recreated under the same name to a node planned for its predecessor."""
        namespace, name = pod.split("/", 1)
        metadata = {"name": name, **({"uid": uid} if uid else {})}
        body = {
            "apiVersion": "v1",
            "kind": "Binding",
            "metadata": metadata,
            "target": {"kind": "Node", "name": node},
        }

        def create() -> Awaitable[None]:
            # The server answers a Status the generated client cannot parse: take the raw response.
            return unread(self.core.create_namespaced_pod_binding(name, namespace, body, _preload_content=False))

        try:
            # One attempt: the binding cycle (engine/binding.py) retries, and before each retry checks that the
            # node still has room. Retrying here, blind, could bind onto a node another scheduler has just filled.
            await self.call(f"bind {pod}", create, attempts=1)
        except client.ApiException as exc:
            if exc.status != 409:
                raise
            # A conflict means different things: bound where we wanted it (an earlier attempt went through),
            # bound elsewhere or another pod under the name by now (refused for good), or still unbound (the
            # conflict was about nothing this binding changed: try again).
            current = await self.call(f"read {pod}", lambda: self.core.read_namespaced_pod(name, namespace))
            same = not uid or current.metadata.uid == uid
            if same and current.spec.node_name == node:
                return
            if same and not current.spec.node_name:
                raise RetryableConflictError(f"binding {pod}: conflict on an unbound pod") from exc
            raise BindingRefusedError(
                f"binding {pod} to {node}: it is bound to {current.spec.node_name or 'nothing'}"
                + ("" if same else f", and is another pod now (uid {current.metadata.uid})")
            ) from exc

    async def select_nodes(self, selections: Sequence[tuple[str, str]]) -> list[BaseException | None]:
        """kube-scheduler's PreBind for WaitForFirstConsumer claims: annotate each claim (namespace/name) with
        the node its volume is to be provisioned for, so the provisioner makes it there. One result per pair."""

        async def select(claim: str, node: str) -> None:
            namespace, name = claim.split("/", 1)
            body = {"metadata": {"annotations": {SELECTED_NODE: node}}}
            await self.call(
                f"select node {claim}",
                lambda: self.core.patch_namespaced_persistent_volume_claim(
                    name, namespace, body, _content_type="application/merge-patch+json"
                ),
            )

        results = await asyncio.gather(*(select(c, n) for c, n in selections), return_exceptions=True)
        return [r if isinstance(r, BaseException) else None for r in results]

    async def nominate(self, pod: str, node: str | None) -> None:
        """status.nominatedNodeName, as kube-scheduler writes it for a preemptor (None clears it)."""
        namespace, name = pod.split("/", 1)
        body = {"status": {"nominatedNodeName": node}}
        await self.call(
            f"nominate {pod}",
            lambda: unread(
                self.core.patch_namespaced_pod_status(
                    name, namespace, body, _content_type="application/merge-patch+json", _preload_content=False
                )
            ),
        )

    async def set_pod_condition(self, pod: str, condition: Mapping[str, Any]) -> None:
        namespace, name = pod.split("/", 1)
        body = {"status": {"conditions": [dict(condition)]}}
        await self.call(
            f"condition {pod}",
            lambda: unread(
                self.core.patch_namespaced_pod_status(
                    name,
                    namespace,
                    body,
                    _content_type="application/strategic-merge-patch+json",
                    _preload_content=False,
                )
            ),
        )

    async def delete_pod(self, pod: str, grace_seconds: int | None = None) -> None:
        namespace, name = pod.split("/", 1)
        options = client.V1DeleteOptions(grace_period_seconds=grace_seconds) if grace_seconds is not None else None
        try:
            await self.call(f"delete {pod}", lambda: self.core.delete_namespaced_pod(name, namespace, body=options))
        except client.ApiException as exc:
            if exc.status != 404:
                raise

    async def evict(self, pod: str, reason: str, message: str) -> None:
        """kube-scheduler's way: DisruptionTarget=True on the victim, a Preempted event, then delete it with
        its own grace period."""
        now = _now()
        condition = {
            "type": "DisruptionTarget",
            "status": "True",
            "reason": reason,
            "message": message,
            "lastTransitionTime": now,
        }
        try:
            await self.set_pod_condition(pod, condition)
        except client.ApiException as exc:
            if exc.status == 404:
                return
            raise
        await self.post_event(pod_ref(pod), "Normal", "Preempted", message)
        await self.delete_pod(pod)

    # Events -----------------------------------------------------------------------------------------------
    async def post_event(self, ref: Mapping[str, str], type_: str, reason: str, message: str) -> None:
        """Events are helpful but auxiliary: a failure is logged, never raised."""
        namespace = ref.get("namespace", "default")
        now = _now()
        body = {
            "metadata": {"generateName": f"{ref['name']}.", "namespace": namespace},
            "involvedObject": dict(ref),
            "type": type_,
            "reason": reason,
            "message": message[:EVENT_MESSAGE_MAX],
            "source": {"component": "phalanx"},
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
            "reportingComponent": "phalanx",
        }
        try:
            await self.call(
                f"event {reason}",
                lambda: unread(self.core.create_namespaced_event(namespace, body, _preload_content=False)),
                attempts=2,
                event=True,
            )
        except Exception as exc:
            log.warning("event not posted", reason=reason, object=ref.get("name"), error=str(exc))

    # PodGroups --------------------------------------------------------------------------------------------
    async def patch_pod_group_status(self, key: str, status: Mapping[str, Any]) -> None:
        namespace, name = key.split("/", 1)
        await self.call(
            f"status {key}",
            lambda: unread(
                self.objects.patch_namespaced_custom_object_status(
                    GROUP,
                    VERSION,
                    namespace,
                    "podgroups",
                    name,
                    {"status": dict(status)},
                    _content_type="application/merge-patch+json",
                    _preload_content=False,
                )
            ),
        )

    async def write_foreign_status(
        self,
        key: str,
        api_version: str,
        status: Mapping[str, Any],
        conditions: Sequence[Mapping[str, Any]] | None,
    ) -> None:
        """On a PodGroup of another API: our status into the annotation, then (where its status is ours to
        write) its own conditions, the whole list, as its release names them."""
        namespace, name = key.split("/", 1)
        group, version = api_version.split("/", 1)
        annotation = {"metadata": {"annotations": {STATUS_ANNOTATION: json.dumps(dict(status), sort_keys=True)}}}
        await self.call(
            f"annotate {key}",
            lambda: unread(
                self.objects.patch_namespaced_custom_object(
                    group,
                    version,
                    namespace,
                    "podgroups",
                    name,
                    annotation,
                    _content_type="application/merge-patch+json",
                    _preload_content=False,
                )
            ),
        )
        if conditions is None:
            return
        body = {"status": {"conditions": [dict(c) for c in conditions]}}
        await self.call(
            f"status {key}",
            lambda: unread(
                self.objects.patch_namespaced_custom_object_status(
                    group,
                    version,
                    namespace,
                    "podgroups",
                    name,
                    body,
                    _content_type="application/merge-patch+json",
                    _preload_content=False,
                )
            ),
        )

    async def apply_pod_group(self, body: Mapping[str, Any]) -> None:
        """Create a PodGroup, or bring its spec and labels in line with `body` if it exists."""
        await self.apply_custom("podgroups", body)

    async def apply_custom(self, plural: str, body: Mapping[str, Any]) -> None:
        """Create one of our objects, or bring its spec, labels and owners in line with `body` if it exists."""
        namespace, name = body["metadata"]["namespace"], body["metadata"]["name"]
        try:
            await self.call(
                f"create {plural} {name}",
                lambda: self.objects.create_namespaced_custom_object(GROUP, VERSION, namespace, plural, dict(body)),
            )
        except client.ApiException as exc:
            if exc.status != 409:
                raise
            metadata = {"labels": body["metadata"].get("labels", {})}
            if "ownerReferences" in body["metadata"]:
                metadata["ownerReferences"] = body["metadata"]["ownerReferences"]
            patch = {"metadata": metadata, "spec": body["spec"]}
            await self.call(
                f"patch {plural} {name}",
                lambda: self.objects.patch_namespaced_custom_object(
                    GROUP, VERSION, namespace, plural, name, patch, _content_type="application/merge-patch+json"
                ),
            )

    async def delete_custom(
        self, plural: str, namespace: str, name: str, group: str = GROUP, version: str = VERSION
    ) -> bool:
        """Delete a custom object (ours unless `group` says otherwise); False when it was already gone."""
        try:
            await self.call(
                f"delete {plural} {name}",
                lambda: self.objects.delete_namespaced_custom_object(group, version, namespace, plural, name),
            )
        except client.ApiException as exc:
            if exc.status != 404:
                raise
            return False
        return True


async def raise_for_status(response: aiohttp.ClientResponse) -> None:
    """What the client does for preloaded responses only: an error status raises ApiException (with the
    server's body and headers, so Retry-After is honoured); the response is released."""
    if not 200 <= response.status <= 299:
        error = client.ApiException(status=response.status, reason=response.reason)
        error.body, error.headers = await response.read(), response.headers
        response.release()
        raise error


async def unread(call: Awaitable[aiohttp.ClientResponse]) -> None:
    """A write whose answer nobody reads: taken raw, checked, released. The client would parse it into its
    models first (every timestamp through dateutil), a tenth of the operator's time at hundreds of writes a
    second. The body is still read: a connection released with a body unread is closed, not reused."""
    await raise_for_status(response := await call)
    await response.read()
    response.release()


def _now() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")

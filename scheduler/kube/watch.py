"""A lean list-and-watch for any resource: raw JSON lines, relist on expiry, deletions noticed across relists.

Used where kopf's per-object machinery costs more than it gives: pods (kopf's per-event cost was about 4 ms,
so a 512-pod gang waited two seconds just to be seen) and controllers' objects, of which the scheduler only
needs the owner chain and sizes. A resource the server does not serve (a CRD not installed) is reported once as
absent and probed again now and then, so installing JobSet later turns its integration on without a restart.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import structlog
from kubernetes_asyncio import client

log = structlog.get_logger(__name__)
WATCH_TIMEOUT_S = 300
PROBE_ABSENT_S = 60.0

Handler = Callable[[bool, dict[str, Any]], None]  # (deleted, body)


class ResourceWatcher:
    def __init__(
        self,
        api: client.ApiClient,
        kind: str,
        group: str,
        version: str,
        plural: str,
        on_event: Handler,
        on_served: Callable[[bool], None] = lambda served: None,
        *,
        optional: bool = True,
    ) -> None:
        self.api = api
        self.kind = kind
        self.api_version = f"{group}/{version}" if group else version
        self.path = f"/apis/{group}/{version}/{plural}" if group else f"/api/{version}/{plural}"
        self.on_event = on_event
        self.on_served = on_served
        self.optional = optional  # False: a resource the scheduler cannot work without (pods): keep retrying
        self.known: dict[str, dict[str, Any]] = {}  # key -> a stub, to report deletions found by a relist
        self.synced = asyncio.Event()
        self.served: bool | None = None
        self.on_restart: Callable[[str], None] = lambda kind: None  # the watch-restart metric, per kind
        self.on_relist: Callable[[str], None] = lambda kind: None  # the relist metric: listings after the first
        self.listed = False

    async def run(self) -> None:
        delay = 0.5
        while True:
            try:
                version = await self._list()
                if version is None:  # not served: say so once, look again later
                    await asyncio.sleep(PROBE_ABSENT_S)
                    continue
                delay = 0.5  # a good list resets it: cut watches must not leave us blind for longer and longer
                while version is not None:
                    version = await self._watch(version)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("watch failed, relisting", kind=self.kind, error=str(exc), retry_in=delay)
                self.on_restart(self.kind)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)

    async def _get(self, query: list[tuple[str, Any]]) -> Any:
        return await self.api.call_api(
            self.path,
            "GET",
            query_params=query,
            header_params={"Accept": "application/json"},
            auth_settings=["BearerToken"],
            _return_http_data_only=True,
            _preload_content=False,
        )

    async def _list(self) -> str | None:
        response = await self._get([])
        raw = await response.read()
        if response.status in (403, 404) and self.optional:
            # Not installed, or not ours to read: either way the integration cannot work, and pods must not wait
            # for owners this replica will never see.
            why = "not installed" if response.status == 404 else "not permitted to list it"
            self._set_served(False, why)
            return None
        if response.status >= 400:
            raise client.ApiException(status=response.status, reason=raw.decode(errors="replace")[:300])
        data = json.loads(raw)
        self._set_served(True)
        seen = {}
        for body in data.get("items", []):
            body.setdefault("kind", self.kind)
            body.setdefault("apiVersion", self.api_version)
            seen[_key(body)] = self._stub(body)
            self.on_event(False, body)
        for key in self.known.keys() - seen.keys():
            self.on_event(True, self.known[key])
        self.known = seen
        if self.listed:
            self.on_relist(self.kind)
        self.listed = True
        self.synced.set()
        return str(data["metadata"]["resourceVersion"])

    def _set_served(self, served: bool, why: str = "") -> None:
        if served != self.served:
            if not served:
                log.warning("integration off: API unavailable", kind=self.kind, api=self.path, why=why)
            elif self.served is False:
                log.info("API now served: integration on", kind=self.kind)
            self.served = served
            self.on_served(served)
        if not served:
            self.synced.set()  # nothing to wait for

    async def _watch(self, version: str) -> str | None:
        """Stream events from `version`; return the version to resume from, or None to relist."""
        query = [
            ("watch", "true"),
            ("resourceVersion", version),
            ("timeoutSeconds", WATCH_TIMEOUT_S),
            ("allowWatchBookmarks", "true"),
        ]
        response = await self._get(query)
        if response.status >= 400:
            raw = await response.read()
            response.release()
            if response.status == 410:
                return None
            raise client.ApiException(status=response.status, reason=raw.decode(errors="replace")[:300])
        buffer = b""
        try:
            async for chunk in response.content.iter_any():
                buffer += chunk
                while b"\n" in buffer:
                    line, buffer = buffer.split(b"\n", 1)
                    if not line.strip():
                        continue
                    event = json.loads(line)
                    kind, body = event.get("type"), event.get("object", {})
                    if kind == "ERROR":
                        if body.get("code") == 410:
                            return None  # expired: relist
                        raise RuntimeError(f"watch error: {body.get('message')}")
                    version = body.get("metadata", {}).get("resourceVersion", version)
                    if kind == "BOOKMARK":
                        continue
                    body.setdefault("kind", self.kind)
                    body.setdefault("apiVersion", self.api_version)
                    key = _key(body)
                    if kind == "DELETED":
                        self.known.pop(key, None)
                    else:
                        self.known[key] = self._stub(body)
                    self.on_event(kind == "DELETED", body)
        finally:
            response.release()
        return version

    def _stub(self, body: dict[str, Any]) -> dict[str, Any]:
        meta = body.get("metadata", {})
        return {
            "apiVersion": self.api_version,
            "kind": self.kind,
            "metadata": {"name": meta.get("name"), "namespace": meta.get("namespace"), "uid": meta.get("uid")},
        }


def _key(body: dict[str, Any]) -> str:
    meta = body.get("metadata", {})
    return f"{meta.get('namespace') or 'default'}/{meta.get('name')}"

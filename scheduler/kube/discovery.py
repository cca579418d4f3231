"""Watching a resource in whichever of several versions the server serves (upstream's PodGroups).

Upstream's scheduling.k8s.io Workload API moves fast: v1alpha2 on 1.36, v1alpha3 and v1beta1 on 1.37, the
alpha versions removed a release later. Watching every version would show each object once per version, so
the newest version we read that the server serves for the resource is chosen at every (re)list, from API
discovery: an upgrade that adds or removes a version is followed without a restart.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

import structlog
from kubernetes_asyncio import client

from scheduler.kube.watch import Handler, ResourceWatcher

log = structlog.get_logger(__name__)


class VersionedWatcher(ResourceWatcher):
    def __init__(
        self,
        api: client.ApiClient,
        kind: str,
        group: str,
        versions: Sequence[str],
        plural: str,
        on_event: Handler,
        on_served: Callable[[bool], None] = lambda served: None,
    ) -> None:
        super().__init__(api, kind, group, versions[0], plural, on_event, on_served)
        self.group, self.versions, self.plural = group, tuple(versions), plural
        self.version: str | None = None

    async def _list(self) -> str | None:
        chosen = await self._served_version()
        if chosen is None:
            self._set_served(False, f"no version of {self.group} that Phalanx reads serves {self.plural}")
            return None
        if chosen != self.version:
            log.info("reading upstream API", kind=self.kind, api=f"{self.group}/{chosen}", was=self.version)
            self.version = chosen
            self.api_version = f"{self.group}/{chosen}"
            self.path = f"/apis/{self.group}/{chosen}/{self.plural}"
        return await super()._list()

    async def _served_version(self) -> str | None:
        group = await self._discover(f"/apis/{self.group}")
        if group is None:
            return None
        served = {v.get("version") for v in group.get("versions", []) if isinstance(v, dict)}
        for version in self.versions:
            if version not in served:
                continue
            resources = await self._discover(f"/apis/{self.group}/{version}")
            names = {r.get("name") for r in (resources or {}).get("resources", []) if isinstance(r, dict)}
            if self.plural in names:
                return version
        return None

    async def _discover(self, path: str) -> dict[str, Any] | None:
        """A discovery document, or None where the server has none (404: group or version not served)."""
        response = await self.api.call_api(
            path,
            "GET",
            header_params={"Accept": "application/json"},
            auth_settings=["BearerToken"],
            _return_http_data_only=True,
            _preload_content=False,
        )
        raw = await response.read()
        if response.status == 404:
            return None
        if response.status >= 400:
            raise client.ApiException(status=response.status, reason=raw.decode(errors="replace")[:300])
        document = json.loads(raw)
        return document if isinstance(document, dict) else None

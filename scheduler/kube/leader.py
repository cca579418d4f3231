"""Leader election on a coordination.k8s.io/v1 Lease named after the scheduler.

Only the leader schedules; standbys keep their caches warm and take over once the lease has not been renewed
for its duration. A leader that cannot renew within the renew deadline stops scheduling at once: two
schedulers binding against each other is worse than a short pause.
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import structlog
from kubernetes_asyncio import client

log = structlog.get_logger(__name__)


def identity() -> str:
    return f"{socket.gethostname()}_{os.getpid()}_{uuid.uuid4().hex[:6]}"


class LeaderElector:
    def __init__(
        self,
        api: client.ApiClient,
        namespace: str,
        name: str,
        *,
        lease_seconds: float = 15.0,
        renew_deadline_seconds: float = 10.0,
        retry_seconds: float = 2.0,
        holder: str | None = None,
    ) -> None:
        self.leases: Any = client.CoordinationV1Api(api)
        self.namespace, self.name = namespace, name
        self.lease_seconds, self.renew_deadline, self.retry = lease_seconds, renew_deadline_seconds, retry_seconds
        self.holder = holder or identity()
        self.leading = False

    async def run(self, on_started: Callable[[], None], on_lost: Callable[[], None]) -> None:
        """Campaign until elected, then renew; call `on_lost` and return when leadership is lost."""
        while not self.leading:
            if await self._try_acquire():
                self.leading = True
                log.info("became leader", lease=f"{self.namespace}/{self.name}", holder=self.holder)
                on_started()
            else:
                await asyncio.sleep(self.retry)
        last_renewal = asyncio.get_running_loop().time()
        while True:
            await asyncio.sleep(self.retry)
            if await self._try_acquire():
                last_renewal = asyncio.get_running_loop().time()
            elif asyncio.get_running_loop().time() - last_renewal > self.renew_deadline:
                self.leading = False
                log.error("lost leadership", lease=f"{self.namespace}/{self.name}", holder=self.holder)
                on_lost()
                return

    async def _try_acquire(self) -> bool:
        now = datetime.now(UTC)
        try:
            lease = await self.leases.read_namespaced_lease(self.name, self.namespace)
        except client.ApiException as exc:
            if exc.status != 404:
                log.warning("lease not read", error=str(exc.reason))
                return False
            return await self._create(now)
        except (TimeoutError, OSError, aiohttp.ClientError) as exc:  # a dropped connection is no OSError
            log.warning("lease not read", error=str(exc))
            return False
        spec = lease.spec
        renewed = spec.renew_time or spec.acquire_time
        expired = renewed is None or renewed + timedelta(seconds=spec.lease_duration_seconds or 0) < now
        if spec.holder_identity not in (self.holder, None, "") and not expired:
            return False
        mine = spec.holder_identity == self.holder
        body = {
            "metadata": {"name": self.name, "resourceVersion": lease.metadata.resource_version},
            "spec": {
                "holderIdentity": self.holder,
                "leaseDurationSeconds": int(self.lease_seconds),
                "acquireTime": _time(spec.acquire_time if mine and spec.acquire_time else now),
                "renewTime": _time(now),
                "leaseTransitions": (spec.lease_transitions or 0) + (0 if mine else 1),
            },
        }
        try:
            await self.leases.replace_namespaced_lease(self.name, self.namespace, body)
        except client.ApiException as exc:  # 409: someone else renewed or took it first
            if exc.status != 409:
                log.warning("lease not renewed", error=str(exc.reason))
            return False
        except (TimeoutError, OSError, aiohttp.ClientError) as exc:
            log.warning("lease not renewed", error=str(exc))
            return False
        return True

    async def _create(self, now: datetime) -> bool:
        body = {
            "metadata": {"name": self.name, "namespace": self.namespace},
            "spec": {
                "holderIdentity": self.holder,
                "leaseDurationSeconds": int(self.lease_seconds),
                "acquireTime": _time(now),
                "renewTime": _time(now),
                "leaseTransitions": 0,
            },
        }
        try:
            await self.leases.create_namespaced_lease(self.namespace, body)
        except client.ApiException:
            return False
        except (TimeoutError, OSError, aiohttp.ClientError) as exc:
            log.warning("lease not created", error=str(exc))
            return False
        return True


def _time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")

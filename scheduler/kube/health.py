"""/metrics, /healthz, /readyz and /leader on one small aiohttp server (aiohttp comes with kubernetes-asyncio).

Three questions, answered apart, so that a Deployment can roll and both replicas of an HA pair can be Ready:

- /healthz (the liveness probe): the scheduling thread runs and its passes are not failing over and over, as
  the loop itself judges (`healthy`). A 503 here gets the container restarted.
- /readyz (the readiness probe): the thread runs and every cache holds its first listing. A synced standby is
  Ready. Readiness that waited for the lease would keep a rolling update from ever finishing (the new pod waits
  for a lease the old pod holds until it is stopped) and the HA standby from ever being Ready.
- /leader: 200 on the replica that holds the lease and schedules, 503 on a standby (as the phalanx_leader
  metric says); no probe reads it.
"""

from __future__ import annotations

import errno
from collections.abc import Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from scheduler.kube.metrics import Metrics


def health_app(
    metrics: Metrics,
    *,
    alive: Callable[[], bool],
    healthy: Callable[[], bool],
    synced: Callable[[], bool],
    leading: Callable[[], bool],
) -> web.Application:
    """The endpoints, each calling its callables on every request (cheap, thread-safe reads expected).

    `alive`: the scheduling thread runs. `healthy`: its recent passes did not all fail, and True whenever no pass
    is due (a standby, caches not synced yet), lest the liveness probe restart a replica for waiting. `synced`:
    every cache has its first listing. `leading`: this replica holds the lease.
    """

    async def metrics_page(_: web.Request) -> web.Response:
        body = generate_latest(metrics.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def healthz(_: web.Request) -> web.Response:
        if not alive():
            return web.Response(status=503, text="scheduling thread stopped")
        if not healthy():
            return web.Response(status=503, text="scheduling passes keep failing")
        return web.Response(text="ok")

    async def readyz(_: web.Request) -> web.Response:
        if not alive():
            return web.Response(status=503, text="scheduling thread stopped")
        if not synced():
            return web.Response(status=503, text="caches not synced")
        return web.Response(text="ok")

    async def leader(_: web.Request) -> web.Response:
        return web.Response(text="leader") if leading() else web.Response(status=503, text="standby")

    app = web.Application()
    app.add_routes(
        [
            web.get("/metrics", metrics_page),
            web.get("/healthz", healthz),
            web.get("/readyz", readyz),
            web.get("/leader", leader),
        ]
    )
    return app


async def serve(
    host: str,
    port: int,
    metrics: Metrics,
    *,
    alive: Callable[[], bool],
    healthy: Callable[[], bool],
    synced: Callable[[], bool],
    leading: Callable[[], bool],
) -> web.AppRunner:
    """Start serving `health_app` on host:port (0: any free port, see the runner's `addresses`)."""
    app = health_app(metrics, alive=alive, healthy=healthy, synced=synced, leading=leading)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except OSError as exc:
        await runner.cleanup()
        if exc.errno == errno.EADDRINUSE:
            raise PortInUseError(host, port) from exc
        raise
    return runner


class PortInUseError(OSError):
    """The metrics and health port is taken: said in one line, with what to change."""

    def __init__(self, host: str, port: int) -> None:
        super().__init__(
            errno.EADDRINUSE,
            f"port {port} on {host} (/metrics, /healthz, /readyz) is already in use: pick another with "
            f"--metrics-port or PHALANX_METRICS_PORT (0 turns the endpoints off)",
        )

"""/metrics, /healthz and /readyz on one small aiohttp server (aiohttp comes with kubernetes-asyncio)."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from scheduler.kube.metrics import Metrics


async def serve(
    host: str, port: int, metrics: Metrics, *, alive: Callable[[], bool], ready: Callable[[], bool]
) -> web.AppRunner:
    """Start serving; ready means the caches are synced and this replica leads (a standby is alive, not ready)."""

    async def metrics_page(_: web.Request) -> web.Response:
        body = generate_latest(metrics.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def healthz(_: web.Request) -> web.Response:
        return web.Response(text="ok") if alive() else web.Response(status=500, text="scheduling thread stopped")

    async def readyz(_: web.Request) -> web.Response:
        return web.Response(text="ok") if ready() else web.Response(status=503, text="not ready")

    app = web.Application()
    app.add_routes([web.get("/metrics", metrics_page), web.get("/healthz", healthz), web.get("/readyz", readyz)])
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner

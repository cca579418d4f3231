"""/healthz, /readyz and /leader answer apart: a synced standby is Ready, failing passes turn liveness red."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from scheduler.kube.health import PortInUseError, health_app, serve
from scheduler.kube.metrics import Metrics

Http = TestClient[web.Request, web.Application]


@dataclass
class Replica:
    """What the operator would report; the tests flip these."""

    alive: bool = True
    healthy: bool = True
    synced: bool = True
    leading: bool = False


@pytest.fixture
def replica() -> Replica:
    return Replica()


@pytest.fixture
async def http(replica: Replica) -> AsyncIterator[Http]:
    app = health_app(
        Metrics(),
        alive=lambda: replica.alive,
        healthy=lambda: replica.healthy,
        synced=lambda: replica.synced,
        leading=lambda: replica.leading,
    )
    async with TestClient(TestServer(app)) as client:
        yield client


async def status(http: Http, path: str) -> tuple[int, str]:
    async with http.get(path) as response:
        return response.status, await response.text()


async def test_a_synced_standby_is_alive_and_ready_but_not_the_leader(http: Http) -> None:
    assert await status(http, "/healthz") == (200, "ok")
    assert await status(http, "/readyz") == (200, "ok")
    assert await status(http, "/leader") == (503, "standby")


async def test_the_leader_is_ready_and_says_it_leads(http: Http, replica: Replica) -> None:
    replica.leading = True
    assert await status(http, "/readyz") == (200, "ok")
    assert await status(http, "/leader") == (200, "leader")


async def test_a_replica_still_listing_the_cluster_is_alive_but_not_ready(http: Http, replica: Replica) -> None:
    replica.synced = False
    assert await status(http, "/healthz") == (200, "ok")
    assert await status(http, "/readyz") == (503, "caches not synced")


async def test_liveness_turns_red_while_scheduling_passes_keep_failing_and_green_again_after(
    http: Http, replica: Replica
) -> None:
    replica.leading, replica.healthy = True, False
    assert await status(http, "/healthz") == (503, "scheduling passes keep failing")
    assert (await status(http, "/readyz"))[0] == 200  # failing passes restart the pod; they do not unready it
    replica.healthy = True
    assert await status(http, "/healthz") == (200, "ok")


async def test_a_stopped_scheduling_thread_is_neither_alive_nor_ready(http: Http, replica: Replica) -> None:
    replica.alive = False
    assert await status(http, "/healthz") == (503, "scheduling thread stopped")
    assert await status(http, "/readyz") == (503, "scheduling thread stopped")


async def test_the_leader_metric_is_served_in_prometheus_text_format(http: Http) -> None:
    async with http.get("/metrics") as response:
        assert response.status == 200
        assert response.content_type == "text/plain"
        assert "phalanx_leader 0.0" in await response.text()


async def test_serve_listens_on_a_free_port_when_given_port_zero() -> None:
    def yes() -> bool:
        return True

    runner = await serve("127.0.0.1", 0, Metrics(), alive=yes, healthy=yes, synced=yes, leading=yes)
    try:
        host, port = runner.addresses[0][:2]
        async with aiohttp.ClientSession() as session, session.get(f"http://{host}:{port}/leader") as response:
            assert (response.status, await response.text()) == (200, "leader")
    finally:
        await runner.cleanup()


async def test_a_port_already_in_use_is_one_clear_error_naming_the_port_and_the_flag() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(PortInUseError) as raised:
            await serve(
                "127.0.0.1",
                port,
                Metrics(),
                alive=lambda: True,
                healthy=lambda: True,
                synced=lambda: True,
                leading=lambda: True,
            )
    assert raised.value.strerror is not None
    assert f"port {port} on 127.0.0.1" in raised.value.strerror
    assert "--metrics-port" in raised.value.strerror

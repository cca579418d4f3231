"""A fault-injecting reverse proxy between the operator and the real API server, for integration tests.

The operator talks plain HTTP to the proxy on loopback (`write_kubeconfig` points a kubeconfig at it, with
the same token); the proxy forwards every request over HTTPS to the API server, bodies and headers unchanged,
and streams watch responses through line by line. On the way it injects, at per-fault rates drawn from one
seeded `random.Random`:

- `throttle`: 429 Too Many Requests with `Retry-After: 1`, not forwarded;
- `server_error`: 500 Internal Server Error, not forwarded;
- `conflict`: 409 Conflict on writes (POST, PUT, PATCH), not forwarded;
- `drop`: the connection closed without a response, not forwarded;
- `drop_after`: on writes, forwarded (the server applies it) and then the connection closed without the
  response, so the client cannot know it happened;
- `slow`: the response held back for a random latency (combines with the others);
- `watch_lifetime`: every watch stream ends after a random number of seconds, either cleanly (the chunked
  stream ends) or, at rate `watch_cut`, by cutting the connection mid-stream.

Besides the random faults, `refuse` may name requests to answer with a fixed error for as long as it is set
(an admission webhook that denies a binding, say). Error answers carry a `Status` body, as the API server's
own do. `counts()` says how many faults of each kind
were injected, so a test can check they really happened. Paths matched by `exempt` (by default leases: five
failed renewals in a row rightly make a leader step down, which is not what these tests are about) pass
through untouched.

It runs its own event loop in a background thread, so sync and async tests alike can use it:

    with FaultProxy(apiserver.url, apiserver.ca_path, FaultRates(throttle=0.05)) as proxy:
        proxy.write_kubeconfig(apiserver.kubeconfig_path, tmp_path / "kubeconfig")
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import ssl
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import aiohttp
from aiohttp import web
from yarl import URL

from tests.integration.apiserver import free_port

WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
CONFLICTABLE = frozenset({"POST", "PUT", "PATCH"})
# Hop-by-hop headers, and lengths the sending side recomputes.
NOT_FORWARDED = frozenset({"host", "connection", "keep-alive", "transfer-encoding", "content-length", "upgrade"})
ERRORS = {
    "throttle": (429, "TooManyRequests", "injected: too many requests, please try again later"),
    "server_error": (500, "InternalError", "injected: an error on the server has prevented the request"),
    "conflict": (409, "Conflict", "injected: the object has been modified; please apply your changes again"),
}
REASONS = {
    400: "BadRequest",
    403: "Forbidden",
    404: "NotFound",
    409: "Conflict",
    422: "Invalid",
    429: "TooManyRequests",
}


def leases(method: str, path: str) -> bool:
    return "/leases" in path


@dataclass(frozen=True)
class FaultRates:
    """Probabilities per request (0 disables a fault); at most one of the answer-changing faults per request."""

    throttle: float = 0.0
    server_error: float = 0.0
    conflict: float = 0.0  # writes only
    drop: float = 0.0
    drop_after: float = 0.0  # writes only
    slow: float = 0.0
    latency_s: tuple[float, float] = (0.05, 0.5)
    watch_lifetime_s: tuple[float, float] | None = None  # None: watches last as long as the server keeps them
    watch_cut: float = 0.5  # of the watch endings, the share that cut the connection instead of ending cleanly


class FaultProxy:
    def __init__(
        self,
        upstream: str,
        ca_path: Path,
        rates: FaultRates,
        *,
        seed: int = 0,
        exempt: Callable[[str, str], bool] = leases,
    ) -> None:
        self.upstream = upstream.rstrip("/")
        self.ca_path = ca_path
        self.rates = rates
        self.exempt = exempt
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.enabled = True  # False: a plain pass-through proxy (read per request, so it may change any time)
        # (method, path) -> an error status to answer with instead of forwarding, or None; also per request.
        self.refuse: Callable[[str, str], int | None] | None = None
        self._random = random.Random(seed)  # only touched on the proxy's own loop: one order of draws
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._session: aiohttp.ClientSession | None = None

    # -- lifecycle -------------------------------------------------------------------------------------------

    def __enter__(self) -> FaultProxy:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="fault-proxy", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout=10):
            raise RuntimeError("fault proxy did not start")
        if self._error is not None:
            raise RuntimeError("fault proxy did not start") from self._error

    def stop(self) -> None:
        if self._thread is None:
            return
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=15)
        self._thread = None

    def counts(self) -> dict[str, int]:
        """Requests seen and faults injected, by kind (watch endings also per resource: `watch_cut/pods`)."""
        with self._lock:
            return dict(self._counts)

    def write_kubeconfig(self, source: Path, path: Path) -> Path:
        """A copy of the API server's kubeconfig `source` (same user and token) that talks to this proxy."""
        config = json.loads(source.read_text())
        for cluster in config["clusters"]:
            cluster["cluster"] = {"server": self.url}
        path.write_text(json.dumps(config, indent=2))
        return path

    # -- the proxy's thread ----------------------------------------------------------------------------------

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve())
        except BaseException as exc:
            self._error = exc
            self._ready.set()
        finally:
            # Whatever is left (start-up failed half way): end it here, not in the loop's garbage collection.
            pending = asyncio.all_tasks(loop)
            for task in pending:
                task.cancel()
            loop.run_until_complete(_settle(pending))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        context = ssl.create_default_context(cafile=str(self.ca_path))
        # Bodies pass through as they come (compressed or not); no limit on connections or time.
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=context, limit=0),
            auto_decompress=False,
            timeout=aiohttp.ClientTimeout(total=None),
            skip_auto_headers=("Accept-Encoding", "User-Agent", "Content-Type"),
        )
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        try:
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", self.port).start()
            self._ready.set()
            await self._stop.wait()
        finally:
            await runner.cleanup()
            # Handlers still streaming watches (or waiting on the server): end them while their upstream
            # connections can still go back to the session, then close the session and with it every connection.
            handlers = asyncio.all_tasks() - {asyncio.current_task()}
            for task in handlers:
                task.cancel()
            await asyncio.gather(*handlers, return_exceptions=True)
            await self._session.close()
            # Closing TLS connections (one cut short in its handshake, say) takes a few more turns of the loop;
            # closed before them, their sockets would be left to the garbage collector (aiohttp's advice).
            await asyncio.sleep(0.25)

    def _count(self, *kinds: str) -> None:
        with self._lock:
            self._counts.update(kinds)

    def _fault(self, method: str, watch: bool) -> str | None:
        """At most one answer-changing fault for this request, by the rates that apply to it."""
        rates = self.rates
        candidates = [("throttle", rates.throttle), ("server_error", rates.server_error), ("drop", rates.drop)]
        if method in CONFLICTABLE:
            candidates.append(("conflict", rates.conflict))
        if method in WRITES and not watch:
            candidates.append(("drop_after", rates.drop_after))
        roll = self._random.random()
        for name, rate in candidates:
            if roll < rate:
                return name
            roll -= rate
        return None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        method, path = request.method, request.path
        watch = request.query.get("watch", "").lower() in ("true", "1") or "/watch/" in path
        faulty = self.enabled and not self.exempt(method, path)
        self._count("requests", *(("watches",) if watch else ()))
        refusal = self.refuse(method, path) if self.refuse is not None else None
        if refusal is not None:
            self._count("refused")
            return _status(refusal, REASONS.get(refusal, "InternalError"), f"refused by the test: {method} {path}")
        fault = self._fault(method, watch) if faulty else None
        if fault is not None:
            self._count(fault)
        if fault in ERRORS:
            code, reason, message = ERRORS[fault]
            return _status(code, reason, message)
        if fault == "drop":
            _cut(request)
            return web.Response()  # never written: the connection is gone
        headers = {k: v for k, v in request.headers.items() if k.lower() not in NOT_FORWARDED}
        if watch:
            headers.pop("Accept-Encoding", None)  # lines must stay lines, to end a stream between events
        body = await request.read() if request.can_read_body else None
        assert self._session is not None
        url = URL(self.upstream + request.raw_path, encoded=True)  # the query exactly as the client encoded it
        try:
            upstream = await self._session.request(method, url, headers=headers, data=body, allow_redirects=False)
        except aiohttp.ClientError as exc:
            return _status(502, "BadGateway", f"fault proxy: upstream unreachable: {exc}")
        try:
            if watch and upstream.status == 200:
                return await self._stream(request, upstream, faulty)
            payload = await upstream.read()
        finally:
            upstream.release()
        if faulty and self._random.random() < self.rates.slow:
            self._count("slow")
            await asyncio.sleep(self._random.uniform(*self.rates.latency_s))
        if fault == "drop_after":
            _cut(request)
            return web.Response()
        return web.Response(status=upstream.status, body=payload, headers=_response_headers(upstream))

    async def _stream(self, request: web.Request, upstream: aiohttp.ClientResponse, faulty: bool) -> web.StreamResponse:
        """Pass a watch through event by event; end it early (cleanly or by a cut) when its lifetime is up."""
        lifetime = self.rates.watch_lifetime_s
        deadline = None
        cut = False
        if faulty and lifetime is not None:
            deadline = asyncio.get_running_loop().time() + self._random.uniform(*lifetime)
            cut = self._random.random() < self.rates.watch_cut
        response = web.StreamResponse(status=upstream.status, headers=_response_headers(upstream))
        await response.prepare(request)
        try:
            while True:
                timeout = None if deadline is None else deadline - asyncio.get_running_loop().time()
                try:
                    async with asyncio.timeout(timeout):
                        line = await upstream.content.readline()
                except TimeoutError:
                    kind = "watch_cut" if cut else "watch_end"
                    self._count(kind, f"{kind}/{_resource(request.path)}")
                    if cut:
                        # Half an event, then nothing: what a dying connection looks like to the client.
                        await response.write(b'{"type":"MODIFIED","object":{"kind":')
                        _cut(request)
                        return response
                    break
                if not line:
                    break  # the server ended the watch (its timeoutSeconds)
                await response.write(line)
            await response.write_eof()
        except (ConnectionError, aiohttp.ClientError):
            pass  # the client went away, or the server did: either way this stream is over
        return response


async def _settle(tasks: set[asyncio.Task[object]]) -> None:
    await asyncio.gather(*tasks, return_exceptions=True)


def _cut(request: web.Request) -> None:
    """Close the client's connection at once, with nothing (more) written."""
    transport = request.transport
    if transport is not None:
        transport.abort()


def _status(code: int, reason: str, message: str) -> web.Response:
    body: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure"}
    body |= {"message": message, "reason": reason, "code": code}
    headers = {"Retry-After": "1"} if code == 429 else {}
    return web.json_response(body, status=code, headers=headers)


def _response_headers(upstream: aiohttp.ClientResponse) -> dict[str, str]:
    return {k: v for k, v in upstream.headers.items() if k.lower() not in NOT_FORWARDED}


def _resource(path: str) -> str:
    """The resource a request is about: `pods` for /api/v1/pods and /api/v1/namespaces/x/pods alike."""
    parts = [p for p in re.sub(r"/watch/", "/", path).split("/") if p]
    if "namespaces" in parts:
        i = parts.index("namespaces")
        parts = parts[:i] + parts[i + 2 :] if len(parts) > i + 2 else parts
    return parts[-1] if parts else ""

"""`phalanx top`'s terminal: one frame (--once), or a frame redrawn every interval until q or Ctrl-C.

The reads never raise for an API error (they become a line in the view), and anything else that breaks a read
is shown the same way: the loop goes on, a watcher never gets a traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import termios
import tty
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.text import Text

from scheduler.cli.top import render
from scheduler.kube.connection import KubeconfigError
from scheduler.kube.snapshot import ClusterView, client_configuration, snapshots


def main(namespace: str | None, interval: float, once: bool, kubeconfig: str | None, scheduler_name: str) -> int:
    """The command: the live view, or one frame (exit 1 if a read failed) with --once or when the output is not
    a terminal (a live view has nothing to redraw in a pipe); 2 for a kubeconfig that cannot work."""
    console = Console()
    once = once or not console.is_terminal
    try:
        configuration = client_configuration(kubeconfig)
    except KubeconfigError as exc:
        console.print(Text.assemble(("error: ", "bold red"), str(exc)), highlight=False)
        return 2

    async def session() -> int:
        async with snapshots(configuration, namespace, scheduler_name) as fetch:
            if not once:
                await watch(fetch, console, namespace, interval)
                return 0
            try:
                view = await fetch()
            except Exception as exc:
                view = failed_view(namespace, exc)
            console.print(render(view, console.width))
            return 1 if view.errors else 0

    return asyncio.run(session())


def failed_view(namespace: str | None, exc: Exception) -> ClusterView:
    """What a read that broke in an unexpected way shows: the error, and the loop goes on."""
    return ClusterView(namespace, datetime.now(UTC), errors=(f"cannot read the cluster: {exc}",))


async def watch(
    fetch: Callable[[], Awaitable[ClusterView]],
    console: Console,
    namespace: str | None,
    interval: float,
    stop: asyncio.Event | None = None,
) -> None:
    """Refresh every `interval` seconds until q or `stop` (Ctrl-C: the caller sees KeyboardInterrupt)."""
    loop = asyncio.get_running_loop()
    stop, resized = stop or asyncio.Event(), asyncio.Event()
    footer = f"every {interval:g} s · q quits"
    with _keys(stop.set), _on_resize(loop, resized.set), Live(console=console, screen=True, auto_refresh=False) as live:

        def show(view: ClusterView) -> None:
            # The terminal's own size: $COLUMNS, which Rich prefers, is a guess that goes stale on a resize.
            with contextlib.suppress(OSError, ValueError):
                console.size = os.get_terminal_size(console.file.fileno())
            live.update(render(view, console.width, console.height, footer), refresh=True)

        while not stop.is_set():
            reading = asyncio.ensure_future(fetch())
            if not await _until(stop, reading, None):
                reading.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await reading
                return
            try:
                view = reading.result()
            except Exception as exc:
                view = failed_view(namespace, exc)
            show(view)
            deadline = loop.time() + interval
            while not stop.is_set() and (left := deadline - loop.time()) > 0:
                resized.clear()
                if await _until(stop, asyncio.ensure_future(resized.wait()), left):
                    show(view)


async def _until(stop: asyncio.Event, task: asyncio.Future[Any], within: float | None) -> bool:
    """Waits for `task` (at most `within` seconds); False when `stop` came first."""
    stopping = asyncio.ensure_future(stop.wait())
    done, _ = await asyncio.wait({stopping, task}, timeout=within, return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
    if stop.is_set():
        return False
    if task not in done:
        task.cancel()
        return False
    return True


@contextlib.contextmanager
def _keys(on_quit: Callable[[], None]) -> Iterator[None]:
    """q quits: the terminal reads keys one at a time, unechoed, until the view closes (Ctrl-C still signals)."""
    if not sys.stdin.isatty():
        yield
        return
    fd = sys.stdin.fileno()
    loop = asyncio.get_running_loop()
    saved = termios.tcgetattr(fd)
    tty.setcbreak(fd)

    def read() -> None:
        data = os.read(fd, 64)
        if not data:  # the terminal went away: nothing more to read, ever
            loop.remove_reader(fd)
        if b"q" in data or b"Q" in data:
            on_quit()

    loop.add_reader(fd, read)
    try:
        yield
    finally:
        loop.remove_reader(fd)
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


@contextlib.contextmanager
def _on_resize(loop: asyncio.AbstractEventLoop, callback: Callable[[], None]) -> Iterator[None]:
    loop.add_signal_handler(signal.SIGWINCH, callback)
    try:
        yield
    finally:
        loop.remove_signal_handler(signal.SIGWINCH)

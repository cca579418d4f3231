"""`phalanx top` in a real terminal (tmux) against the real API server with the operator scheduling: the view
follows the cluster live, says why a gang waits, shows where a gang runs, and q or Ctrl-C leaves it cleanly; an
API server that does not answer is a line in the view, never a traceback."""

from __future__ import annotations

import asyncio
import os
import shlex
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes_asyncio import client

from tests.integration.apiserver import ApiServer, free_port
from tests.integration.operator_harness import (
    GROUP,
    VERSION,
    OperatorProcess,
    all_bound,
    create_pods,
    eventually,
    kubelet_namespace,
    make_nodes,
    pod_body,
    pod_group,
    pod_group_body,
    serving_operator,
    unique,
)

pytestmark = pytest.mark.usefixtures("phalanx_crds")

REPO = Path(__file__).resolve().parents[2]
TMUX_SCRIPT = REPO / "hack" / "tmux.sh"
RACK = {"schedulingConstraints": {"topology": [{"key": "network.phalanx.dev/rack"}]}}


@pytest.fixture(scope="module")
def tmux() -> str:
    result = subprocess.run([str(TMUX_SCRIPT)], stdout=subprocess.PIPE, text=True, check=False)
    if result.returncode != 0 or not result.stdout.strip():
        # Fail, never skip: a test that cannot run must not look like a green one.
        pytest.fail(f"{TMUX_SCRIPT} found no tmux (exit {result.returncode})", pytrace=False)
    return result.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def operator(apiserver: ApiServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[OperatorProcess]:
    yield from serving_operator(apiserver.kubeconfig_path, tmp_path_factory.mktemp("operator"))


@pytest.fixture
async def namespace(api_client: client.ApiClient, operator: OperatorProcess) -> AsyncIterator[str]:
    async with kubelet_namespace(api_client, "top") as name:
        yield name


class Terminal:
    """A command in a detached 120x40 tmux session of its own tmux server (never the user's)."""

    def __init__(self, tmux: str, folder: Path, command: list[str]) -> None:
        self.tmux, self.socket = tmux, unique("phalanx-top")
        self.status, self.stderr = folder / "status", folder / "stderr"
        # The shell records how the command ended, since the pane closes with it.
        line = f"{shlex.join(command)} 2>{shlex.quote(str(self.stderr))}; echo $? >{shlex.quote(str(self.status))}"
        self.run("new-session", "-d", "-x", "120", "-y", "40", "-s", "top", "-c", str(REPO), line)

    def run(self, *args: str) -> str:
        command = [self.tmux, "-L", self.socket, "-f", os.devnull, *args]
        return subprocess.run(command, capture_output=True, text=True, check=True).stdout

    def screen(self) -> str:
        return self.run("capture-pane", "-p", "-t", "top")

    async def shows(self, *texts: str, within: float = 20.0) -> str:
        """The screen, once it holds every one of `texts` (a text wrapped over lines of its column counts)."""
        deadline, screen = time.monotonic() + within, ""
        while time.monotonic() < deadline:
            if self.status.exists():
                raise AssertionError(f"exited with {self.status.read_text().strip()}: {self.stderr.read_text()}")
            screen = self.screen()
            if all(holds(screen, text) for text in texts):
                return screen
            await asyncio.sleep(0.2)
        raise AssertionError(f"the screen never showed {texts}; last screen:\n{screen}")

    async def exit_code(self, within: float = 10.0) -> int:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if self.status.exists() and self.status.read_text().strip():
                return int(self.status.read_text())
            await asyncio.sleep(0.1)
        raise AssertionError(f"still running {within:.0f} s later:\n{self.screen()}")

    def close(self) -> None:
        subprocess.run([self.tmux, "-L", self.socket, "kill-server"], capture_output=True, check=False)


def holds(screen: str, text: str) -> bool:
    """`text` is on the screen, maybe wrapped: the lines a cell wraps onto are blank but for that cell."""
    return " ".join(text.split()) in " ".join(screen.split())


async def verdict(api: client.ApiClient, namespace: str, name: str) -> str:
    """The last clause of why the PodGroup waits, as its status says now ("" before it says)."""
    status = (await pod_group(api, namespace, name)).get("status", {})
    condition: dict[str, Any] = next((c for c in status.get("conditions", []) if c["type"] == "PodGroupScheduled"), {})
    return str(condition.get("message", "")).rsplit("; ", 1)[-1] if status.get("phase") == "Unschedulable" else ""


def top(kubeconfig: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "scheduler.cli.main", "top", "--kubeconfig", str(kubeconfig), *args]


async def create_group(api: client.ApiClient, namespace: str, body: dict[str, Any]) -> None:
    objects: Any = client.CustomObjectsApi(api)
    await objects.create_namespaced_custom_object(GROUP, VERSION, namespace, "podgroups", body)


async def a_running_and_a_waiting_gang(api: client.ApiClient, namespace: str) -> str:
    """`train` (2 pods of 8 GPUs) running on two nodes of the pool's one rack; `huge` (3 pods of 8 GPUs, room
    for 1 on the third node) waiting."""
    pool = unique("pool")
    await make_nodes(api, pool, racks=1, per_rack=3)
    await create_group(api, namespace, pod_group_body("train", 2, **RACK))
    await create_pods(api, namespace, [pod_body(f"train-{i}", pool, "train", gpus=8) for i in range(2)])
    await eventually(all_bound(api, namespace, "train-", 2), what="train bound")
    await create_group(api, namespace, pod_group_body("huge", 3))
    await create_pods(api, namespace, [pod_body(f"huge-{i}", pool, "huge", gpus=8) for i in range(3)])
    return pool


async def test_top_follows_the_cluster_live_says_why_a_gang_waits_and_q_leaves_it(
    api_client: client.ApiClient, namespace: str, apiserver: ApiServer, tmux: str, tmp_path: Path
) -> None:
    terminal = Terminal(tmux, tmp_path, top(apiserver.kubeconfig_path, "-n", namespace, "--interval", "0.5"))
    try:
        await terminal.shows(f"namespace {namespace}", "Waiting gangs", "q quits")
        pool = await a_running_and_a_waiting_gang(api_client, namespace)

        async def running() -> bool:
            status = (await pod_group(api_client, namespace, "train")).get("status", {})
            return bool(status.get("phase") == "Running")

        await eventually(running, what="train Running in its status")
        screen = await terminal.shows(f"{namespace}/huge", "Unschedulable", f"{pool}-rack-0", f"{namespace}/train")

        async def says_why() -> bool:
            nonlocal screen
            why, screen = await verdict(api_client, namespace, "huge"), terminal.screen()
            return bool(why) and holds(screen, why)

        try:
            await eventually(says_why, what="the waiting gang's reason on the screen")
        except AssertionError as exc:
            raise AssertionError(f"{exc}; last screen:\n{screen}") from exc
        lines = screen.splitlines()
        waiting = next(line for line in lines if line.startswith(f"{namespace}/huge") and "3/3" in line)
        assert "Unschedulable" in waiting
        running_row = next(line for line in lines if line.startswith(f"{pool}-rack-0"))
        assert f"{namespace}/train" in running_row
        assert "2/2" in running_row
        assert any("FailedScheduling" in line for line in lines)

        terminal.run("send-keys", "-t", "top", "q")
        assert await terminal.exit_code() == 0
        assert terminal.stderr.read_text() == ""
    finally:
        terminal.close()


async def test_top_once_prints_one_frame_of_the_namespace_and_exits(
    api_client: client.ApiClient, namespace: str, apiserver: ApiServer
) -> None:
    pool = await a_running_and_a_waiting_gang(api_client, namespace)
    why = ""

    async def explained() -> bool:
        nonlocal why
        why = await verdict(api_client, namespace, "huge")
        return bool(why)

    await eventually(explained, what="huge Unschedulable in its status")
    command = top(apiserver.kubeconfig_path, "-n", namespace, "--once")
    env = {**os.environ, "COLUMNS": "120"}
    process = await asyncio.create_subprocess_exec(
        *command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=REPO
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=30)
    output = out.decode()
    assert (process.returncode, err.decode()) == (0, ""), output
    assert f"{namespace}/huge" in output
    assert holds(output, why), output
    assert f"{pool}-rack-0" in output
    assert f"{namespace}/train" in output
    assert all(len(line) <= 120 for line in output.splitlines())


async def test_an_api_server_that_does_not_answer_is_a_line_in_the_view_and_the_view_goes_on(
    apiserver: ApiServer, tmux: str, tmp_path: Path
) -> None:
    config = yaml.safe_load(apiserver.kubeconfig_path.read_text())
    config["clusters"][0]["cluster"]["server"] = f"https://127.0.0.1:{free_port()}"  # nothing listens there
    kubeconfig = tmp_path / "dead.kubeconfig"
    kubeconfig.write_text(yaml.safe_dump(config))

    once = await asyncio.to_thread(
        subprocess.run, top(kubeconfig, "--once", "-A"), capture_output=True, text=True, timeout=30, check=False
    )
    assert once.returncode == 1
    assert once.stderr == ""
    assert "error: cannot list podgroups, pods, events, nodes" in once.stdout

    terminal = Terminal(tmux, tmp_path, top(kubeconfig, "-A", "--interval", "0.2"))
    try:
        first = await terminal.shows("error: cannot list", "all namespaces")
        clock = next(line for line in first.splitlines() if line.startswith("phalanx top"))

        async def refreshed() -> bool:  # still up after the error: a later frame has a later clock
            return clock not in terminal.screen()

        await eventually(refreshed, within=10, what="a frame after the one with the error")
        await terminal.shows("error: cannot list")
        terminal.run("send-keys", "-t", "top", "C-c")  # Ctrl-C leaves as cleanly as q
        assert await terminal.exit_code() == 0
        assert terminal.stderr.read_text() == ""
    finally:
        terminal.close()

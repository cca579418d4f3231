#!/usr/bin/env python3
"""Latency on one real kube-apiserver 1.20 (built by hack/k8s-test-server.sh), 64 roomy nodes, with `phalanx run`
and kube-scheduler 1.20 both running, the runs of each taken in turn:

1. Phalanx, gang of 8 (PodGroup with gang minCount 8): 7 members are created, and once the PodGroup says it waits
   for pods (phase Pending, WaitingForPods "7/8"), the 8th; timed from the 8th's create call returning to all 8
   bound (seen on a pod watch).
2. kube-scheduler 1.20, one pod (schedulerName default-scheduler): create call returned -> bound.

20 runs of each (--quick: 5) after one unmeasured warm-up run of each; every pod (and PodGroup) is deleted
after its run. Median and p90; figures and a ratio, not pass/fail (a shared 2-core machine: noisy).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from kubernetes_asyncio import client
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "hack"))
from bench import write_json  # noqa: E402

from tests.integration.apiserver import ApiServer  # noqa: E402
from tests.integration.conftest import install_crds  # noqa: E402
from tests.integration.kube_scheduler import DEFAULT_SCHEDULER, KubeScheduler  # noqa: E402
from tests.integration.loadgen import (  # noqa: E402
    Collection,
    GroupView,
    create_concurrently,
    delete_pods,
    pod_groups_of,
    until,
    warm_up,
    watching,
)
from tests.integration.operator_harness import (  # noqa: E402
    GROUP,
    VERSION,
    OperatorProcess,
    api_client_for,
    make_nodes,
    pod_body,
    pod_group_body,
)

PHALANX = "phalanx"
POOL, RACKS, PER_RACK = "lat", 4, 16  # 64 nodes of 8 GPUs; every pod asks for one
GANG = 8
GANG_NS, SINGLE_NS = "latency-gang", "latency-single"
TARGET_S = 0.5  # Phalanx gang latency, median


class BindWatch:
    """A pod watch on one namespace that notes, per pod, when its binding was first seen (perf_counter)."""

    def __init__(self, api: client.ApiClient, namespace: str) -> None:
        core: Any = client.CoreV1Api(api)
        self.bound_at: dict[str, float] = {}
        self.pods: Collection[str | None] = Collection(
            lambda **kw: core.list_namespaced_pod(namespace, **kw), self._project
        )

    def _project(self, body: dict[str, Any]) -> str | None:
        node: str | None = body["spec"].get("nodeName")
        name = body["metadata"]["name"]
        if node and name not in self.bound_at:
            self.bound_at[name] = time.perf_counter()
        return node

    async def all_bound(self, names: list[str], within: float = 60.0) -> float:
        """When the last of `names` was seen bound."""
        deadline = time.monotonic() + within
        while True:
            self.pods.changed.clear()
            if all(n in self.bound_at for n in names):
                return max(self.bound_at[n] for n in names)
            left = deadline - time.monotonic()
            if left <= 0:
                missing = [n for n in names if n not in self.bound_at]
                raise TimeoutError(f"{missing} not bound after {within:.0f} s")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.pods.changed.wait(), timeout=min(left, 1.0))


def waiting_for_last(view: GroupView | None) -> bool:
    return (
        view is not None
        and view.phase == "Pending"
        and view.reason == "WaitingForPods"
        and f"{GANG - 1}/{GANG}" in view.message
    )


async def gang_run(api: client.ApiClient, watch: BindWatch, groups: Collection[GroupView], run: int) -> float:
    objects: Any = client.CustomObjectsApi(api)
    name = f"g{run}"
    bodies = [pod_body(f"{name}-{i}", POOL, name, gpus=1) for i in range(GANG)]
    await create_concurrently(api, GANG_NS, [pod_group_body(name, GANG)])
    await create_concurrently(api, GANG_NS, bodies[:-1])
    await until([groups], lambda: waiting_for_last(groups.items.get(name)), 60, f"{name} waiting for pods 7/8")
    early = [b["metadata"]["name"] for b in bodies if b["metadata"]["name"] in watch.bound_at]
    if early:
        raise RuntimeError(f"gang {name}: {early} bound before the gang was complete")
    _, created = await create_concurrently(api, GANG_NS, bodies[-1:])
    done = await watch.all_bound([b["metadata"]["name"] for b in bodies])
    await delete_pods(api, GANG_NS)
    await objects.delete_namespaced_custom_object(GROUP, VERSION, GANG_NS, "podgroups", name)
    return done - created


async def single_run(api: client.ApiClient, watch: BindWatch, run: int) -> float:
    body = pod_body(f"p{run}", POOL, None, gpus=1)
    body["spec"]["schedulerName"] = DEFAULT_SCHEDULER
    _, created = await create_concurrently(api, SINGLE_NS, [body])
    done = await watch.all_bound([body["metadata"]["name"]])
    await delete_pods(api, SINGLE_NS)
    return done - created


@dataclass(frozen=True)
class Figures:
    runs: int
    gang_s: list[float]
    single_s: list[float]
    load_before: tuple[float, float, float]
    load_after: tuple[float, float, float]


async def scenario(server: ApiServer, runs: int) -> Figures:
    gang_s, single_s = [], []
    async with api_client_for(server.kubeconfig_path) as api:
        core: Any = client.CoreV1Api(api)
        await make_nodes(api, POOL, RACKS, PER_RACK)
        for namespace in (GANG_NS, SINGLE_NS):
            await core.create_namespace({"metadata": {"name": namespace}})
        await warm_up(api, GANG_NS, POOL, PHALANX)
        await warm_up(api, SINGLE_NS, POOL, DEFAULT_SCHEDULER)
        gangs, singles = BindWatch(api, GANG_NS), BindWatch(api, SINGLE_NS)
        async with watching(gangs.pods), watching(singles.pods), watching(pod_groups_of(api, GANG_NS)) as groups:
            await gang_run(api, gangs, groups, -1)  # warm-up runs, not counted
            await single_run(api, singles, -1)
            load_before = os.getloadavg()
            for run in range(runs):
                gang_s.append(await gang_run(api, gangs, groups, run))
                single_s.append(await single_run(api, singles, run))
                print(f"run {run}: gang {gang_s[-1] * 1000:.0f} ms, pod {single_s[-1] * 1000:.0f} ms", file=sys.stderr)
    return Figures(runs, gang_s, single_s, load_before, os.getloadavg())


def p90(values: list[float]) -> float:
    return statistics.quantiles(values, n=10, method="inclusive")[8] if len(values) > 1 else values[0]


def report(figures: Figures, wall: float) -> dict[str, Any]:
    gang_median, gang_p90 = statistics.median(figures.gang_s), p90(figures.gang_s)
    pod_median, pod_p90 = statistics.median(figures.single_s), p90(figures.single_s)
    load = " / ".join(f"{x:.2f}" for x in figures.load_before)
    table = Table(
        title=f"Latency on one kube-apiserver 1.20, {RACKS * PER_RACK} nodes, {figures.runs} runs each "
        f"(2 cores; load average {load} at the start)",
        title_justify="left",
    )
    for column in ("Figure", "Median", "p90", "Target", "Phalanx gang / kube-scheduler pod"):
        table.add_column(column, justify="left" if column in ("Figure", "Target") else "right")
    table.add_row(
        f"Phalanx gang of {GANG}: 8th pod created -> all {GANG} bound",
        f"{gang_median * 1000:.0f} ms",
        f"{gang_p90 * 1000:.0f} ms",
        f"median <= {TARGET_S * 1000:.0f} ms",
        f"{gang_median / pod_median:.2f}x median, {gang_p90 / pod_p90:.2f}x p90",
    )
    table.add_row(
        "kube-scheduler 1.20 single pod: created -> bound",
        f"{pod_median * 1000:.0f} ms",
        f"{pod_p90 * 1000:.0f} ms",
        "(baseline)",
        "",
    )
    console = Console(width=160)
    console.print(table)
    console.print(
        f"gang runs (ms): {', '.join(f'{x * 1000:.0f}' for x in figures.gang_s)}\n"
        f"pod runs (ms): {', '.join(f'{x * 1000:.0f}' for x in figures.single_s)}\n"
        f"load average {' / '.join(f'{x:.2f}' for x in figures.load_after)} at the end; bench wall time: {wall:.0f} s"
    )
    return {
        **asdict(figures),
        "nodes": RACKS * PER_RACK,
        "gang_size": GANG,
        "gang_median_s": gang_median,
        "gang_p90_s": gang_p90,
        "single_median_s": pod_median,
        "single_p90_s": pod_p90,
        "ratio_median": gang_median / pod_median,
        "ratio_p90": gang_p90 / pod_p90,
        "target_median_s": TARGET_S,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="5 runs of each instead of 20")
    parser.add_argument("--runs", type=int, help="runs of each (default 20; quick 5)")
    parser.add_argument("--json", help="merge the figures into this JSON file (key: latency)")
    parser.add_argument("--keep-logs", help="copy the schedulers' logs into this directory")
    args = parser.parse_args()
    began = time.monotonic()
    runs = args.runs or (5 if args.quick else 20)
    cache = subprocess.run([str(ROOT / "hack" / "k8s-test-server.sh")], check=True, capture_output=True, text=True)
    bin_dir = Path(cache.stdout.strip().splitlines()[-1]) / "bin"
    with tempfile.TemporaryDirectory() as tmp, ApiServer(bin_dir, Path(tmp)) as server:
        logs = Path(tmp) / "logs"
        logs.mkdir()
        asyncio.run(install_crds(server.kubeconfig_path))
        operator = OperatorProcess(server.kubeconfig_path, logs / "operator.log", "--no-leader-election")
        kube = KubeScheduler(bin_dir, server.kubeconfig_path, logs)
        try:
            figures = asyncio.run(scenario(server, runs))
        finally:
            kube.stop()
            operator.stop()
            if args.keep_logs:
                Path(args.keep_logs).mkdir(parents=True, exist_ok=True)
                subprocess.run(["cp", "-r", f"{logs}/.", args.keep_logs], check=False)
    result = report(figures, time.monotonic() - began)
    write_json(args.json, "latency", result)


if __name__ == "__main__":
    main()

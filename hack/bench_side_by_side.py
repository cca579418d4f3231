#!/usr/bin/env python3
"""Side by side with kube-scheduler 1.20 on one real kube-apiserver (both built by hack/k8s-test-server.sh): the
same workloads, one scheduler running at a time, every pod deleted between runs.

1. Single pods (one GPU each, 8 GPUs a node) created while the scheduler runs, 64 requests in flight: pods/s
   from the first create to the last bound, on 500 and 5,000 nodes (--quick: 500 nodes, fewer pods). Which
   scheduler goes first alternates between the node counts. Both bind about as fast as the server takes the
   creates, so on 500 nodes a backlog follows: the same pods wait while every node is full, then the room is
   freed at once; pods/s from then to the last bound is the schedulers' own speed.
2. Gangs: 8 gangs of 16 pods of 8 GPUs (one pod fills a node) created interleaved on 64 nodes, room for 4
   gangs. kube-scheduler knows no gangs (the pods carry the PodGroup label only): gangs bound whole, partly
   (their bound pods are stranded: they hold nodes, but the job cannot start), or not at all.

Figures and ratios, one run on a shared 2-core machine: noisy, compare within the run.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

from kubernetes_asyncio import client
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "hack"))
from bench import write_json  # noqa: E402
from bench_profile import spying  # noqa: E402

from tests.integration.apiserver import ApiServer  # noqa: E402
from tests.integration.conftest import install_crds  # noqa: E402
from tests.integration.kube_scheduler import KubeScheduler  # noqa: E402
from tests.integration.loadgen import (  # noqa: E402
    GangOutcome,
    answer,
    create_concurrently,
    delete_pods,
    gang_outcome,
    pods_of,
    tried_pods_of,
    until,
    warm_up,
    watching,
)
from tests.integration.operator_harness import (  # noqa: E402
    NODE_GPUS,
    OperatorProcess,
    api_client_for,
    make_nodes,
    pod_body,
    pod_group_body,
)

KUBE, PHALANX = "kube-scheduler", "phalanx"
SCHEDULER_NAMES = {KUBE: "default-scheduler", PHALANX: "phalanx"}
PER_RACK = 25
BACKOFF_MAX_S = 10.0  # kube-scheduler 1.20's podMaxBackoffSeconds default
GANGS, GANG_SIZE, GANG_RACKS, GANG_PER_RACK = 8, 16, 4, 16
QUIET_S = 5.0  # gang workload: settled once nothing was bound for this long


class Scheduler(Protocol):
    def stop(self) -> None: ...


@dataclass(frozen=True)
class SingleRun:
    scheduler: str
    nodes: int
    pods: int
    created_s: float  # first create to last create
    bound_s: float  # first create to last bound (a backlog: room freed to last bound)
    mode: str = "arriving"  # or "backlog"

    @property
    def rate(self) -> float:
        return self.pods / self.bound_s


@dataclass(frozen=True)
class GangRun:
    scheduler: str
    outcome: GangOutcome
    settled_s: float  # first create to the last binding


def lone_pods(scheduler: str, count: int) -> list[dict[str, Any]]:
    """Pods of one GPU each, without a group, for `scheduler`; every node is a candidate."""
    bodies = []
    for i in range(count):
        body = pod_body(f"p-{i}", "a", None, gpus=1)
        body["spec"]["schedulerName"] = SCHEDULER_NAMES[scheduler]
        del body["spec"]["nodeSelector"]
        bodies.append(body)
    return bodies


class Bench:
    def __init__(self, server: ApiServer, bin_dir: Path, folder: Path, profile: Path | None = None) -> None:
        self.server, self.bin_dir, self.folder = server, bin_dir, folder
        self.profile = profile  # a folder: py-spy profiles of Phalanx during each workload
        self.runs = 0

    def start(self, name: str) -> Scheduler:
        self.runs += 1
        folder = self.folder / f"{self.runs}-{name}"
        folder.mkdir()
        if name == KUBE:
            return KubeScheduler(self.bin_dir, self.server.kubeconfig_path, folder)
        return OperatorProcess(self.server.kubeconfig_path, folder / "operator.log", "--no-leader-election")

    async def run(self, api: client.ApiClient, name: str, pool: str, namespace: str, work: Callable[[], Any]) -> Any:
        """Start the scheduler, wait until it binds a pod, run the workload, stop it, delete the pods."""
        core: Any = client.CoreV1Api(api)
        await core.create_namespace({"metadata": {"name": namespace}})
        scheduler = self.start(name)
        try:
            await warm_up(api, namespace, pool, SCHEDULER_NAMES[name])
            if self.profile is None or not isinstance(scheduler, OperatorProcess):
                return await work()
            with spying(scheduler.proc.pid, self.profile / f"{namespace}.raw"):
                return await work()
        finally:
            scheduler.stop()
            await delete_pods(api, namespace)

    async def single(self, api: client.ApiClient, name: str, nodes: int, count: int) -> SingleRun:
        namespace = f"single-{nodes}-{name}"
        bodies = lone_pods(name, count)

        async def work() -> SingleRun:
            async with watching(pods_of(api, namespace)) as pods:
                first, last = await create_concurrently(api, namespace, bodies)

                def all_bound() -> bool:
                    return sum(1 for p in pods.items.values() if p.node) >= count

                done = await until([pods], all_bound, 900, f"{count} pods bound by {name}")
            return SingleRun(name, nodes, count, last - first, done - first)

        result: SingleRun = await self.run(api, name, "a", namespace, work)
        print(f"{name}: {count} pods on {nodes} nodes in {result.bound_s:.1f} s", file=sys.stderr)
        return result

    async def backlog(self, api: client.ApiClient, name: str, nodes: list[str], count: int) -> SingleRun:
        """Room frees up under a backlog: every node is held by a pod bound without a scheduler, `count` pods
        wait (each tried and found no room), then the holders go at once (one delete-collection) and the pods
        are bound. Pods/s from that delete to the last bound: the scheduler's own speed, as nothing is being
        created meanwhile (the arrival runs above are paced by how fast the server takes the creates)."""
        namespace, holders = f"backlog-{name}", f"holders-{name}"
        core: Any = client.CoreV1Api(api)
        await core.create_namespace({"metadata": {"name": holders}})
        bodies = lone_pods(name, count)
        held = []
        for node in nodes:
            body = pod_body(f"hold-{node}", "a", None, gpus=NODE_GPUS)
            body["spec"].update(schedulerName="nobody", nodeName=node)
            held.append(body)

        async def work() -> SingleRun:
            await create_concurrently(api, holders, held)
            async with watching(tried_pods_of(api, namespace)) as pods:
                first, last = await create_concurrently(api, namespace, bodies)

                def all_tried() -> bool:
                    return sum(1 for p in pods.items.values() if p.tried) >= count

                await until([pods], all_tried, 300, f"{count} pods found no room by {name}")
                # kube-scheduler sends a pod tried lately to its backoff queue (1 s, doubling per attempt up to
                # 10 s) rather than straight back when room frees: past its longest backoff, no pod of either
                # scheduler is held back by one, and both take the freed room as it comes.
                await asyncio.sleep(BACKOFF_MAX_S)
                freed = time.perf_counter()
                await answer(
                    await core.delete_collection_namespaced_pod(holders, grace_period_seconds=0, _preload_content=False)
                )

                def all_bound() -> bool:
                    return sum(1 for p in pods.items.values() if p.node) >= count

                done = await until([pods], all_bound, 900, f"{count} backlogged pods bound by {name}")
            return SingleRun(name, len(nodes), count, last - first, done - freed, "backlog")

        result: SingleRun = await self.run(api, name, "a", namespace, work)
        print(f"{name}: a backlog of {count} pods on {len(nodes)} nodes in {result.bound_s:.1f} s", file=sys.stderr)
        return result

    async def gangs(self, api: client.ApiClient, name: str) -> GangRun:
        namespace = f"gangs-{name}"
        groups = [pod_group_body(f"gang-{g}", GANG_SIZE) for g in range(GANGS)]
        pods = []
        for i in range(GANG_SIZE):  # interleaved: one pod of each gang in turn
            for g in range(GANGS):
                body = pod_body(f"gang-{g}-{i}", "gang", f"gang-{g}", gpus=8)
                body["spec"]["schedulerName"] = SCHEDULER_NAMES[name]
                pods.append(body)

        async def work() -> GangRun:
            await create_concurrently(api, namespace, groups)  # the same objects for both; kube-scheduler ignores them
            async with watching(pods_of(api, namespace)) as watch:
                first, _ = await create_concurrently(api, namespace, pods)
                bound, changed = -1, time.perf_counter()

                def quiet() -> bool:
                    nonlocal bound, changed
                    now = sum(1 for p in watch.items.values() if p.node)
                    if now != bound:
                        bound, changed = now, time.perf_counter()
                    return bound > 0 and time.perf_counter() - changed >= QUIET_S

                await until([watch], quiet, 300, f"{name} to stop binding gang pods")
                min_counts = {f"gang-{g}": GANG_SIZE for g in range(GANGS)}
                return GangRun(name, gang_outcome(watch.items.values(), min_counts), changed - first)

        result: GangRun = await self.run(api, name, "gang", namespace, work)
        return result


async def scenario(bench: Bench, node_counts: list[int], pods: int) -> tuple[list[SingleRun], list[GangRun]]:
    singles, gang_runs = [], []
    async with api_client_for(bench.server.kubeconfig_path) as api:
        present = 0
        for index, nodes in enumerate(node_counts):
            made = await make_nodes(api, "a" if present == 0 else f"b{index}", (nodes - present) // PER_RACK, PER_RACK)
            present = nodes
            order = (KUBE, PHALANX) if index % 2 == 0 else (PHALANX, KUBE)
            for name in order:
                singles.append(await bench.single(api, name, nodes, pods))
            if index == 0:
                for name in reversed(order):
                    singles.append(await bench.backlog(api, name, made, pods))
        await make_nodes(api, "gang", GANG_RACKS, GANG_PER_RACK)
        for name in (KUBE, PHALANX):
            gang_runs.append(await bench.gangs(api, name))
    return singles, gang_runs


def report(singles: list[SingleRun], gang_runs: list[GangRun], wall: float) -> None:
    console = Console(width=160)
    table = Table(
        title="Single pods, same API server, one scheduler at a time (2 cores, one run)", title_justify="left"
    )
    for column in (
        "Scheduler",
        "Nodes",
        "Pods",
        "Created in",
        "Last bound after (backlog: after the room is freed)",
        "Pods/s",
        "Phalanx / kube-scheduler (target >= 1.2x)",
    ):
        table.add_column(column, justify="left" if column == "Scheduler" else "right")
    for mode, nodes in sorted({(r.mode, r.nodes) for r in singles}, key=lambda k: (k[0] != "arriving", k[1])):
        runs = {r.scheduler: r for r in singles if (r.mode, r.nodes) == (mode, nodes)}
        for name in (KUBE, PHALANX):
            run = runs[name]
            ratio = f"{runs[PHALANX].rate / runs[KUBE].rate:.2f}x" if name == PHALANX else ""
            table.add_row(
                name if mode == "arriving" else f"{name}, backlog",
                f"{nodes:,}",
                f"{run.pods:,}",
                f"{run.created_s:.1f} s",
                f"{run.bound_s:.1f} s",
                f"{run.rate:,.0f}",
                ratio,
            )
    console.print(table)
    table = Table(
        title=f"{GANGS} gangs of {GANG_SIZE} pods created interleaved on {GANG_RACKS * GANG_PER_RACK} nodes "
        f"(room for {GANG_RACKS * GANG_PER_RACK // GANG_SIZE} gangs)",
        title_justify="left",
    )
    for column in ("Scheduler", "Gangs whole", "Gangs partial", "Pods stranded", "Gangs unbound", "Last bound after"):
        table.add_column(column, justify="left" if column == "Scheduler" else "right")
    for gang_run in gang_runs:
        o = gang_run.outcome
        table.add_row(
            gang_run.scheduler,
            str(o.whole),
            str(o.partial),
            str(o.stranded_pods),
            str(o.none),
            f"{gang_run.settled_s:.1f} s",
        )
    console.print(table)
    console.print(f"bench wall time: {wall:.0f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="500 nodes only, 1,000 pods")
    parser.add_argument("--pods", type=int, help="single pods per run (default 2,000; quick 1,000)")
    parser.add_argument("--keep-logs", help="copy the schedulers' logs into this directory")
    parser.add_argument("--json", help="merge the figures into this JSON file (key: side_by_side)")
    parser.add_argument("--profile", type=Path, help="py-spy Phalanx during each workload into this directory")
    args = parser.parse_args()
    began = time.monotonic()
    node_counts = [500] if args.quick else [500, 5000]
    pods = args.pods or (1000 if args.quick else 2000)
    cache = subprocess.run([str(ROOT / "hack" / "k8s-test-server.sh")], check=True, capture_output=True, text=True)
    bin_dir = Path(cache.stdout.strip().splitlines()[-1]) / "bin"
    with tempfile.TemporaryDirectory() as tmp, ApiServer(bin_dir, Path(tmp)) as server:
        logs = Path(tmp) / "logs"
        logs.mkdir()
        try:
            asyncio.run(install_crds(server.kubeconfig_path))
            if args.profile:
                args.profile.mkdir(parents=True, exist_ok=True)
            bench = Bench(server, bin_dir, logs, args.profile)
            singles, gang_runs = asyncio.run(scenario(bench, node_counts, pods))
        finally:
            if args.keep_logs:
                subprocess.run(["cp", "-r", f"{logs}/.", args.keep_logs], check=False)
    wall = time.monotonic() - began
    report(singles, gang_runs, wall)
    write_json(
        args.json,
        "side_by_side",
        {
            "singles": [{**asdict(run), "pods_per_s": run.rate} for run in singles],
            "gangs": [asdict(run) for run in gang_runs],
            "wall_s": wall,
        },
    )


if __name__ == "__main__":
    main()

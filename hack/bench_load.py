#!/usr/bin/env python3
"""Load on a real kube-apiserver (built by hack/k8s-test-server.sh) with `phalanx run`: 1,000 PodGroups (gangs of
3-7 pods, 5,000 pods, one GPU each) created at once on 500 nodes of 8 GPUs, so about four in five fit.

Figures: seconds from the first object created until every gang is bound whole or explained (PodGroupScheduled
False, reason Unschedulable, with a message), against two baselines measured first in the same run
(bench_load_baselines.py: the server's floor, and kube-scheduler on the same pods); partial gangs, CPU seconds
per process, the operator's peak RSS (VmHWM), and its longest decision against the configured solver time limit
(from /metrics). --quick: 200 gangs on 100 nodes.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from kubernetes_asyncio import client
from prometheus_client.parser import text_string_to_metric_families
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "hack"))
from bench import write_json  # noqa: E402
from bench_load_baselines import PER_RACK, Floor, Peer, kube_scheduler_peer, server_floor  # noqa: E402
from bench_profile import spying  # noqa: E402

from tests.integration.apiserver import ApiServer  # noqa: E402
from tests.integration.conftest import install_crds  # noqa: E402
from tests.integration.loadgen import (  # noqa: E402
    DecisionTimes,
    LoadResult,
    cpu_seconds,
    decision_times,
    gang_load,
    mixed_gangs,
    peak_rss_mib,
    warm_up,
)
from tests.integration.operator_harness import OperatorProcess, api_client_for, http_text, make_nodes  # noqa: E402


async def prepare(server: ApiServer, nodes: int) -> None:
    async with api_client_for(server.kubeconfig_path) as api:
        core: Any = client.CoreV1Api(api)
        await make_nodes(api, "load", racks=nodes // PER_RACK, per_rack=PER_RACK)
        for namespace in ("warm-up", "load"):
            await core.create_namespace({"metadata": {"name": namespace}})


async def scenario(server: ApiServer, gangs: int) -> LoadResult:
    async with api_client_for(server.kubeconfig_path) as api:
        await warm_up(api, "warm-up", "load", "phalanx")
        return await gang_load(api, "load", mixed_gangs("load", gangs), within=1200)


def api_calls(metrics_url: str) -> dict[str, int]:
    """The operator's API requests by verb (bind, status, condition, event, ...), from /metrics."""
    calls: dict[str, int] = {}
    for family in text_string_to_metric_families(http_text(f"{metrics_url}/metrics")):
        for sample in family.samples:
            if sample.name == "phalanx_api_request_duration_seconds_count":
                verb = sample.labels["verb"]
                calls[verb] = calls.get(verb, 0) + int(sample.value)
    return dict(sorted(calls.items()))


def report(
    result: LoadResult,
    floor: Floor,
    peer: Peer,
    cpu: dict[str, float],
    nodes: int,
    rss: float,
    times: DecisionTimes,
    calls: dict[str, int],
    wall: float,
) -> None:
    table = Table(
        title=f"Load: {result.gangs:,} gangs created at once, phalanx run on a real kube-apiserver 1.20 "
        "(2 cores, one run)",
        title_justify="left",
    )
    for column in ("Figure", "Value"):
        table.add_column(column)
    outcome = result.outcome
    rows = [
        ("nodes / gangs / pods", f"{nodes:,} / {result.gangs:,} / {result.pods:,}"),
        (
            "creating them (first to last create)",
            f"{result.created_s:.1f} s ({(result.pods + result.gangs) / result.created_s:,.0f} objects/s)",
        ),
        (
            "until every gang is bound whole or explained (target <= 10 s)",
            f"{result.settled_s:.1f} s from the first create: {result.settled_s / floor.settled_s:.2f}x the "
            f"server's floor, {result.settled_s / peer.settled_s:.2f}x kube-scheduler",
        ),
        (
            "the server's floor: the same creates, then a binding and an event per fitting pod, no scheduler",
            f"created in {floor.created_s:.1f} s, {floor.writes:,} writes after, {floor.settled_s:.1f} s in all; "
            f"CPU s: {cpu_text(floor.cpu_seconds)}",
        ),
        (
            "kube-scheduler 1.20 on the same pods, one by one (no gangs)",
            f"every pod bound or told it does not fit {peer.settled_s:.1f} s from the first create (created in "
            f"{peer.created_s:.1f} s); gangs whole / partial / none {peer.outcome.whole:,} / "
            f"{peer.outcome.partial:,} / {peer.outcome.none:,}, {peer.outcome.stranded_pods:,} pods stranded; "
            f"CPU s: {cpu_text(peer.cpu_seconds)}",
        ),
        ("gangs bound whole / explained / partial", f"{outcome.whole:,} / {result.explained:,} / {outcome.partial}"),
        (
            "pods bound, pods/s (first create to settled)",
            f"{outcome.bound_pods:,}, {outcome.bound_pods / result.settled_s:,.0f} pods/s",
        ),
        (
            f"CPU seconds while settling ({os.cpu_count()} cores x {result.settled_s:.1f} s)",
            cpu_text(cpu),
        ),
        ("operator peak RSS (VmHWM)", f"{rss:,.0f} MiB"),
        (
            "decisions (per gang; target <= 2), longest vs solver time limit",
            f"{times.decisions:,} ({times.decisions / result.gangs:.1f} per gang), "
            f"{times.max_s:.3f} s vs {times.limit_s:g} s ({times.max_s / times.limit_s:.0%})",
        ),
        ("decisions over 1.1 x the limit", f"{times.over_limit}"),
        ("API requests by verb", ", ".join(f"{verb} {n:,}" for verb, n in calls.items()) or "-"),
        ("longest solver run (histogram bucket bound)", f"<= {times.solver_max_s:g} s"),
        ("an explanation", result.sample_message[:160]),
        ("bench wall time", f"{wall:.0f} s"),
    ]
    for row in rows:
        table.add_row(*row)
    Console(width=160).print(table)


def cpu_text(cpu: dict[str, float]) -> str:
    return ", ".join(f"{name} {seconds:.1f}" for name, seconds in cpu.items())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="200 gangs on 100 nodes")
    parser.add_argument("--operator-log", help="keep the operator's log here")
    parser.add_argument("--json", help="merge the figures into this JSON file (key: load)")
    parser.add_argument("--profile", type=Path, help="py-spy the operator during the load into this raw file")
    args = parser.parse_args()
    began = time.monotonic()
    gangs, nodes = (200, 100) if args.quick else (1000, 500)
    cache = subprocess.run([str(ROOT / "hack" / "k8s-test-server.sh")], check=True, capture_output=True, text=True)
    bin_dir = Path(cache.stdout.strip().splitlines()[-1]) / "bin"
    with tempfile.TemporaryDirectory() as tmp:
        with ApiServer(bin_dir, Path(tmp) / "floor") as server:
            asyncio.run(install_crds(server.kubeconfig_path))
            floor = asyncio.run(server_floor(server, gangs, nodes))
        with ApiServer(bin_dir, Path(tmp) / "peer") as server:
            asyncio.run(install_crds(server.kubeconfig_path))
            (Path(tmp) / "kube-scheduler").mkdir()
            peer = asyncio.run(kube_scheduler_peer(server, bin_dir, Path(tmp) / "kube-scheduler", gangs, nodes))
        with ApiServer(bin_dir, Path(tmp) / "run") as server:
            log_path = Path(args.operator_log) if args.operator_log else Path(tmp) / "operator.log"
            asyncio.run(install_crds(server.kubeconfig_path))
            asyncio.run(prepare(server, nodes))
            operator = OperatorProcess(server.kubeconfig_path, log_path, "--no-leader-election")
            try:
                processes = {**server.pids(), "phalanx": operator.proc.pid, "load generator": os.getpid()}
                before = {name: cpu_seconds(pid) for name, pid in processes.items()}
                with spying(operator.proc.pid, args.profile):
                    result = asyncio.run(scenario(server, gangs))
                cpu = {name: cpu_seconds(pid) - before[name] for name, pid in processes.items()}
                rss = peak_rss_mib(operator.proc.pid)
                times = decision_times(operator.metrics_url)
                calls = api_calls(operator.metrics_url)
            finally:
                operator.stop()
    wall = time.monotonic() - began
    report(result, floor, peer, cpu, nodes, rss, times, calls, wall)
    write_json(
        args.json,
        "load",
        {
            "nodes": nodes,
            **asdict(result),
            "server_floor": asdict(floor),
            "kube_scheduler": asdict(peer),
            "cpu_seconds": cpu,
            "operator_peak_rss_mib": rss,
            "decisions": asdict(times),
            "api_calls": calls,
            "wall_s": wall,
        },
    )


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""End-to-end benchmarks on a real kube-apiserver (built by hack/k8s-test-server.sh): `phalanx run` against it.

1. A 512-pod gang on 128 nodes: time from the last pod created (quorum present) to all 512 bound.
2. Single pods: 1,000 pods on 5,000 nodes, pods/s from the first created to the last bound.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
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
from tests.integration.operator_harness import (  # noqa: E402
    OperatorProcess,
    api_client_for,
    make_nodes,
    pod_body,
    pod_group_body,
)


async def create_pods(api: client.ApiClient, namespace: str, bodies: list[dict[str, Any]]) -> tuple[float, float]:
    core: Any = client.CoreV1Api(api)
    semaphore = asyncio.Semaphore(64)
    first = time.perf_counter()

    async def one(body: dict[str, Any]) -> None:
        async with semaphore:
            await core.create_namespaced_pod(namespace, body)

    await asyncio.gather(*(one(b) for b in bodies))
    return first, time.perf_counter()


async def wait_bound(api: client.ApiClient, namespace: str, count: int, within: float = 600) -> float:
    """When `count` pods of the namespace are bound, by watching (polling a list would load the server that
    is being measured)."""
    core: Any = client.CoreV1Api(api)
    listing = await core.list_namespaced_pod(namespace, _preload_content=False)
    data = json.loads(await listing.read())
    bound = {p["metadata"]["name"] for p in data["items"] if p["spec"].get("nodeName")}
    if len(bound) >= count:
        return time.perf_counter()
    response = await core.list_namespaced_pod(
        namespace,
        watch=True,
        resource_version=data["metadata"]["resourceVersion"],
        timeout_seconds=int(within),
        _preload_content=False,
    )
    buffer = b""
    async for chunk in response.content.iter_any():
        buffer += chunk
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            event = json.loads(line)
            body = event.get("object", {})
            if body.get("spec", {}).get("nodeName"):
                bound.add(body["metadata"]["name"])
                if len(bound) >= count:
                    response.release()
                    return time.perf_counter()
    raise TimeoutError(f"only {len(bound)}/{count} pods bound")


async def scenario(server: ApiServer, quick: bool, figures: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    rows = []
    async with api_client_for(server.kubeconfig_path) as api:
        core: Any = client.CoreV1Api(api)
        objects: Any = client.CustomObjectsApi(api)
        # 1. A 512-pod gang.
        await make_nodes(api, "gang", racks=4, per_rack=32)
        await core.create_namespace({"metadata": {"name": "gang"}})
        await objects.create_namespaced_custom_object(
            "scheduling.phalanx.dev", "v1alpha1", "gang", "podgroups", pod_group_body("big", 512)
        )
        bodies = [pod_body(f"big-{i}", "gang", "big", gpus=2) for i in range(512)]
        first, last = await create_pods(api, "gang", bodies)
        print(f"last gang pod created at {time.strftime('%H:%M:%S')}", file=sys.stderr)
        done = await wait_bound(api, "gang", 512)
        figures["gang_512"] = {"nodes": 128, "after_last_created_s": done - last, "after_first_created_s": done - first}
        rows.append(
            (
                "512-pod gang pending -> all bound (128 nodes)",
                f"{done - last:.2f} s after the last pod was created ({done - first:.2f} s from the first)",
                "<= 2 s",
                "met" if done - last <= 2 else "MISSED",
            )
        )
        # 2. Single pods.
        nodes, pods = (1024, 300) if quick else (4992, 1000)  # whole racks of 32
        await make_nodes(api, "single", racks=nodes // 32, per_rack=32)
        await core.create_namespace({"metadata": {"name": "single"}})
        bodies = [pod_body(f"p-{i}", "single", None, gpus=1) for i in range(pods)]
        first, _ = await create_pods(api, "single", bodies)
        done = await wait_bound(api, "single", pods)
        rate = pods / (done - first)
        figures["single_pods"] = {"nodes": nodes, "pods": pods, "pods_per_s": rate, "seconds": done - first}
        rows.append(
            (
                f"single pods: {pods:,} on {nodes:,} nodes",
                f"{rate:,.0f} pods/s from first created to last bound",
                ">= 230 pods/s (kube-scheduler 1.20 here)",
                "met" if rate >= 230 else "MISSED",
            )
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--operator-log", help="keep the operator's log here")
    parser.add_argument("--json", help="merge the figures into this JSON file (key: e2e)")
    args = parser.parse_args()
    figures: dict[str, Any] = {"quick": args.quick}
    cache = subprocess.run([str(ROOT / "hack" / "k8s-test-server.sh")], check=True, capture_output=True, text=True)
    bin_dir = Path(cache.stdout.strip().splitlines()[-1]) / "bin"
    with tempfile.TemporaryDirectory() as tmp, ApiServer(bin_dir, Path(tmp)) as server:
        log_path = Path(args.operator_log) if args.operator_log else Path(tmp) / "operator.log"
        asyncio.run(install_crds(server.kubeconfig_path))
        operator = OperatorProcess(server.kubeconfig_path, log_path, "--log-format", "console")
        try:
            operator.wait_ready()
            rows = asyncio.run(scenario(server, args.quick, figures))
        finally:
            operator.stop()
    table = Table(title="End to end on a real kube-apiserver 1.20 (2 cores, one run)", title_justify="left")
    for column in ("Benchmark", "Figure", "Target", "Verdict"):
        table.add_column(column)
    for row in rows:
        table.add_row(*row)
    Console().print(table)
    figures["rows"] = [dict(zip(("benchmark", "figure", "target", "verdict"), row, strict=True)) for row in rows]
    write_json(args.json, "e2e", figures)


if __name__ == "__main__":
    main()

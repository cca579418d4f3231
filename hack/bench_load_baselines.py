"""What bench_load.py's figure is measured against, each on a fresh API server of its own (so the measured run's
etcd holds nothing of it), with the same objects, nodes and watches of the bench's own:

- the server's floor: no scheduler; once created, each fitting gang's pods are bound and an event is posted per
  pod straight from the bench, as fast as the server takes them. No scheduler that makes those writes (any
  scheduler must) settles the load faster.
- kube-scheduler 1.20 (built beside the server) on the same pods, one by one: it knows no gangs, so it binds
  until the nodes are full and strands part of the gangs, but it makes the same kind of writes (a binding and
  an event per pod bound, PodScheduled=False on each pod left), from Go.
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubernetes_asyncio import client

from tests.integration.apiserver import ApiServer
from tests.integration.kube_scheduler import DEFAULT_SCHEDULER, KubeScheduler
from tests.integration.loadgen import (
    GangOutcome,
    answer,
    bodies_of,
    cpu_seconds,
    create_concurrently,
    gang_outcome,
    mixed_gangs,
    pod_groups_of,
    pods_of,
    tried_pods_of,
    until,
    warm_up,
    watching,
)
from tests.integration.operator_harness import NODE_GPUS, api_client_for, make_nodes

PER_RACK = 25


@dataclass(frozen=True)
class Floor:
    created_s: float  # first create to last create
    writes: int
    settled_s: float  # first create to the last of those writes
    cpu_seconds: dict[str, float]


@dataclass(frozen=True)
class Peer:
    created_s: float
    settled_s: float  # first create until every pod is bound or told it does not fit
    outcome: GangOutcome
    cpu_seconds: dict[str, float]


async def server_floor(server: ApiServer, gangs: int, nodes: int) -> Floor:
    async with api_client_for(server.kubeconfig_path) as api:
        core: Any = client.CoreV1Api(api)
        names = await make_nodes(api, "floor", racks=nodes // PER_RACK, per_rack=PER_RACK)
        await core.create_namespace({"metadata": {"name": "floor"}})
        load = mixed_gangs("floor", gangs, scheduler="nobody")
        bodies = bodies_of(load)
        bindings: list[tuple[str, str]] = []
        free = NODE_GPUS * len(names)
        for _, pods in load:  # whole gangs while they fit, one GPU a pod, nodes filled in turn
            if len(pods) > free:
                break
            bindings += [
                (pod["metadata"]["name"], names[(len(bindings) + i) // NODE_GPUS]) for i, pod in enumerate(pods)
            ]
            free -= len(pods)
        slots = asyncio.Semaphore(64)

        async def write(name: str, node: str) -> None:
            async with slots:
                body = {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": name}}
                body["target"] = {"kind": "Node", "name": node}
                await answer(await core.create_namespaced_pod_binding(name, "floor", body, _preload_content=False))
            async with slots:
                event = {
                    "metadata": {"generateName": f"{name}.", "namespace": "floor"},
                    "involvedObject": {"kind": "Pod", "namespace": "floor", "name": name},
                    "type": "Normal",
                    "reason": "Scheduled",
                    "message": f"Successfully assigned floor/{name} to {node}",
                    "source": {"component": "floor"},
                }
                await answer(await core.create_namespaced_event("floor", event, _preload_content=False))

        processes = {**server.pids(), "load generator": os.getpid()}
        before = {name: cpu_seconds(pid) for name, pid in processes.items()}
        async with watching(pods_of(api, "floor")), watching(pod_groups_of(api, "floor")):
            first, created = await create_concurrently(api, "floor", bodies)
            await asyncio.gather(*(write(name, node) for name, node in bindings))
            done = time.perf_counter()
        cpu = {name: cpu_seconds(pid) - before[name] for name, pid in processes.items()}
        return Floor(created - first, 2 * len(bindings), done - first, cpu)


async def kube_scheduler_peer(server: ApiServer, bin_dir: Path, folder: Path, gangs: int, nodes: int) -> Peer:
    async with api_client_for(server.kubeconfig_path) as api:
        core: Any = client.CoreV1Api(api)
        await make_nodes(api, "load", racks=nodes // PER_RACK, per_rack=PER_RACK)
        for namespace in ("warm-up", "load"):
            await core.create_namespace({"metadata": {"name": namespace}})
        load = mixed_gangs("load", gangs, scheduler=DEFAULT_SCHEDULER)
        bodies = bodies_of(load)
        count = len(bodies) - len(load)
        scheduler = KubeScheduler(bin_dir, server.kubeconfig_path, folder)
        try:
            await warm_up(api, "warm-up", "load", DEFAULT_SCHEDULER)
            processes = {**server.pids(), "kube-scheduler": scheduler.proc.pid, "load generator": os.getpid()}
            before = {name: cpu_seconds(pid) for name, pid in processes.items()}
            async with watching(tried_pods_of(api, "load")) as watched, watching(pod_groups_of(api, "load")):
                first, created = await create_concurrently(api, "load", bodies)

                def settled() -> bool:
                    views = watched.items.values()
                    return len(watched.items) == count and all(p.node or p.tried for p in views)

                done = await until([watched], settled, 1200, "every pod bound or told it does not fit")
                outcome = gang_outcome(watched.items.values(), {g["metadata"]["name"]: len(p) for g, p in load})
            cpu = {name: cpu_seconds(pid) - before[name] for name, pid in processes.items()}
        finally:
            scheduler.stop()
        return Peer(created - first, done - first, outcome, cpu)

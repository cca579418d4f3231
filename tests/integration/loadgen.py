"""Load on the real API server, shared by tests/integration/test_load.py and the benchmarks in hack/: objects
created concurrently, collections followed by list-and-watch (polling thousands of objects would load the
server being measured), gang outcomes, the operator's peak RSS and its decision-time metrics."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Generic, TypeVar

import aiohttp
from kubernetes_asyncio import client
from prometheus_client.parser import text_string_to_metric_families

from scheduler.api.podgroup import POD_GROUP_LABEL
from tests.integration.operator_harness import (
    GROUP,
    VERSION,
    http_text,
    pod_body,
    pod_group_body,
)

T = TypeVar("T")
Gang = tuple[dict[str, Any], list[dict[str, Any]]]  # a PodGroup body and its pods' bodies


def mixed_gangs(
    pool: str, count: int, sizes: tuple[int, ...] = (3, 4, 5, 6, 7), gpus: int = 1, scheduler: str = "phalanx"
) -> list[Gang]:
    """`count` gangs (PodGroup with minCount = size, and its pods for `scheduler`) of the given sizes in turn,
    on `pool`."""
    gangs = []
    for i in range(count):
        name, size = f"g{i:04d}", sizes[i % len(sizes)]
        pods = [pod_body(f"{name}-{j}", pool, name, gpus=gpus) for j in range(size)]
        for pod in pods:
            pod["spec"]["schedulerName"] = scheduler
        gangs.append((pod_group_body(name, size), pods))
    return gangs


def bodies_of(gangs: list[Gang]) -> list[dict[str, Any]]:
    """Every object of the gangs in the order they are created: the PodGroups first, then each gang's pods."""
    return [group for group, _ in gangs] + [pod for _, pods in gangs for pod in pods]


async def warm_up(api: client.ApiClient, namespace: str, pool: str, scheduler: str, within: float = 120.0) -> float:
    """Seconds until `scheduler` binds a throwaway pod on `pool` (then its caches are synced and it schedules;
    the same test for any scheduler); the pod is deleted again. The namespace must exist."""
    core: Any = client.CoreV1Api(api)
    body = pod_body(f"warm-up-{scheduler}", pool, None, gpus=1)
    body["spec"]["schedulerName"] = scheduler
    started = time.monotonic()
    await answer(await core.create_namespaced_pod(namespace, body, _preload_content=False))
    while time.monotonic() - started < within:
        response = await core.read_namespaced_pod(body["metadata"]["name"], namespace, _preload_content=False)
        if json.loads(await answer(response))["spec"].get("nodeName"):
            elapsed = time.monotonic() - started
            await delete_pods(api, namespace)
            return elapsed
        await asyncio.sleep(0.2)
    raise TimeoutError(f"{scheduler} bound no pod within {within:.0f} s")


async def create_concurrently(
    api: client.ApiClient, namespace: str, bodies: Iterable[dict[str, Any]], concurrency: int = 64
) -> tuple[float, float]:
    """Create pods and PodGroups (by their `kind`, in order, `concurrency` at a time); the perf_counter times of
    the first request and of the last answer. Answers are not parsed into models, so the client costs little."""
    core: Any = client.CoreV1Api(api)
    objects: Any = client.CustomObjectsApi(api)
    slots = asyncio.Semaphore(concurrency)

    async def one(body: dict[str, Any]) -> None:
        async with slots:
            if body.get("kind") == "PodGroup":
                call = objects.create_namespaced_custom_object(
                    GROUP, VERSION, namespace, "podgroups", body, _preload_content=False
                )
            else:
                call = core.create_namespaced_pod(namespace, body, _preload_content=False)
            await answer(await call)

    first = time.perf_counter()
    await asyncio.gather(*(one(b) for b in bodies))
    return first, time.perf_counter()


async def answer(response: Any) -> str:
    """The body of a raw (`_preload_content=False`) answer, which the client does not check: raise on errors."""
    text: str = await response.text()
    if not 200 <= response.status < 300:
        raise client.ApiException(status=response.status, reason=text[:500])
    return text


async def delete_pods(api: client.ApiClient, namespace: str, within: float = 120.0) -> None:
    """Delete every pod of the namespace at once (no kubelet: grace 0) and wait until none is left."""
    core: Any = client.CoreV1Api(api)
    await answer(await core.delete_collection_namespaced_pod(namespace, grace_period_seconds=0, _preload_content=False))
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        listing = await core.list_namespaced_pod(namespace, limit=1, _preload_content=False)
        if not json.loads(await answer(listing))["items"]:
            return
        await asyncio.sleep(0.5)
    raise TimeoutError(f"pods of {namespace} not deleted after {within:.0f} s")


class Collection(Generic[T]):
    """List-and-watch of one collection, keeping `project(object)` per name; `changed` is set on every event."""

    def __init__(self, lister: Callable[..., Any], project: Callable[[dict[str, Any]], T]) -> None:
        self.lister, self.project = lister, project
        self.items: dict[str, T] = {}
        self.changed = asyncio.Event()
        self.synced = asyncio.Event()

    async def run(self) -> None:
        while True:
            listing = await self.lister(_preload_content=False)
            data = json.loads(await answer(listing))
            self.items = {o["metadata"]["name"]: self.project(o) for o in data["items"]}
            version = data["metadata"]["resourceVersion"]
            self.synced.set()
            self.changed.set()
            with contextlib.suppress(TimeoutError, aiohttp.ClientError):  # a broken watch: list again
                while version is not None:
                    version = await self._watch(version)

    async def _watch(self, version: str) -> str | None:
        """One watch request from `version`; the version to resume from, None when it is too old (relist)."""
        response = await self.lister(watch=True, resource_version=version, timeout_seconds=240, _preload_content=False)
        buffer = b""
        try:
            async for chunk in response.content.iter_any():
                buffer += chunk
                while b"\n" in buffer:
                    line, buffer = buffer.split(b"\n", 1)
                    event = json.loads(line)
                    body = event["object"]
                    if event["type"] == "ERROR":
                        return None
                    name = body["metadata"]["name"]
                    version = body["metadata"]["resourceVersion"]
                    if event["type"] == "DELETED":
                        self.items.pop(name, None)
                    else:
                        self.items[name] = self.project(body)
                    self.changed.set()
        finally:
            response.release()
        return version


@contextlib.asynccontextmanager
async def watching(collection: Collection[T]) -> AsyncIterator[Collection[T]]:
    task = asyncio.create_task(collection.run())
    try:
        waiter = asyncio.ensure_future(collection.synced.wait())
        await asyncio.wait([waiter, task], return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        if task.done():
            task.result()  # the listing failed: say why
        yield collection
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def until(collections: list[Collection[Any]], done: Callable[[], bool], within: float, what: str) -> float:
    """The perf_counter time at which `done()` was first seen true, checked after changes (at most every 50 ms,
    so thousands of events cost a few hundred checks) and at least every second (`done` may depend on time)."""
    deadline = time.monotonic() + within
    while True:
        for collection in collections:
            collection.changed.clear()
        if done():
            return time.perf_counter()
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"timed out after {within:.0f} s waiting for {what}")
        waiters = [asyncio.ensure_future(c.changed.wait()) for c in collections]
        _, pending = await asyncio.wait(waiters, timeout=min(left, 1.0), return_when=asyncio.FIRST_COMPLETED)
        for waiter in pending:
            waiter.cancel()
        await asyncio.sleep(0.05)


@dataclass(frozen=True)
class PodView:
    node: str | None
    group: str | None


def pod_view(body: dict[str, Any]) -> PodView:
    return PodView(body["spec"].get("nodeName"), (body["metadata"].get("labels") or {}).get(POD_GROUP_LABEL))


def pods_of(api: client.ApiClient, namespace: str) -> Collection[PodView]:
    core: Any = client.CoreV1Api(api)
    return Collection(partial(core.list_namespaced_pod, namespace), pod_view)


@dataclass(frozen=True)
class TriedView(PodView):
    tried: bool = False  # PodScheduled=False: a scheduler tried the pod and found no room


def tried_view(body: dict[str, Any]) -> TriedView:
    conditions = (body.get("status") or {}).get("conditions") or []
    tried = any(c.get("type") == "PodScheduled" and c.get("status") == "False" for c in conditions)
    return TriedView(**vars(pod_view(body)), tried=tried)


def tried_pods_of(api: client.ApiClient, namespace: str) -> Collection[TriedView]:
    core: Any = client.CoreV1Api(api)
    return Collection(partial(core.list_namespaced_pod, namespace), tried_view)


@dataclass(frozen=True)
class GroupView:
    min_count: int
    phase: str | None
    reason: str | None  # of the PodGroupScheduled=False condition
    message: str

    @property
    def explained(self) -> bool:
        """Says it cannot be placed now, and why."""
        return self.phase == "Unschedulable" and self.reason == "Unschedulable" and bool(self.message)


def group_view(body: dict[str, Any]) -> GroupView:
    policy = body["spec"].get("schedulingPolicy", {})
    min_count = int(policy.get("gang", {}).get("minCount", 1))
    status = body.get("status") or {}
    scheduled = [c for c in status.get("conditions", []) if c.get("type") == "PodGroupScheduled"]
    reason, message = None, ""
    if scheduled and scheduled[0].get("status") == "False":
        reason, message = scheduled[0].get("reason"), scheduled[0].get("message", "")
    return GroupView(min_count, status.get("phase"), reason, message)


def pod_groups_of(api: client.ApiClient, namespace: str) -> Collection[GroupView]:
    objects: Any = client.CustomObjectsApi(api)
    return Collection(
        partial(objects.list_namespaced_custom_object, GROUP, VERSION, namespace, "podgroups"), group_view
    )


@dataclass(frozen=True)
class GangOutcome:
    """Gangs by how many of their pods are bound: whole (>= minCount), none, or partly (the pods bound are
    stranded: they hold capacity but the job cannot start)."""

    whole: int
    none: int
    partial: int
    stranded_pods: int
    bound_pods: int


def gang_outcome(pods: Iterable[PodView], min_counts: dict[str, int]) -> GangOutcome:
    bound: dict[str, int] = dict.fromkeys(min_counts, 0)
    for pod in pods:
        if pod.node and pod.group in bound:
            bound[pod.group] += 1
    partial = [g for g, n in bound.items() if 0 < n < min_counts[g]]
    return GangOutcome(
        whole=sum(1 for g, n in bound.items() if n >= min_counts[g]),
        none=sum(1 for n in bound.values() if n == 0),
        partial=len(partial),
        stranded_pods=sum(bound[g] for g in partial),
        bound_pods=sum(bound.values()),
    )


def settled(pods: Collection[PodView], groups: Collection[GroupView]) -> bool:
    """Every PodGroup whole or explained (and then with none of its pods bound)."""
    counts = {name: 0 for name in groups.items}
    for pod in pods.items.values():
        if pod.node and pod.group in counts:
            counts[pod.group] += 1
    return bool(counts) and all(
        counts[name] >= view.min_count or (counts[name] == 0 and view.explained) for name, view in groups.items.items()
    )


@dataclass(frozen=True)
class LoadResult:
    gangs: int
    pods: int
    created_s: float  # first create to last create
    settled_s: float  # first create to every gang whole or explained
    outcome: GangOutcome
    explained: int
    sample_message: str  # one explanation, to show


async def gang_load(
    api: client.ApiClient,
    namespace: str,
    gangs: list[Gang],
    within: float = 600.0,
    concurrency: int = 64,
) -> LoadResult:
    """Create every PodGroup and pod at once (groups first, each gang's pods together), then wait until every
    gang is whole or explained. `gangs`: (PodGroup body, its pods)."""
    bodies = bodies_of(gangs)
    async with watching(pods_of(api, namespace)) as pods, watching(pod_groups_of(api, namespace)) as groups:
        first, last = await create_concurrently(api, namespace, bodies, concurrency)
        done = await until([pods, groups], lambda: settled(pods, groups), within, "every gang whole or explained")
        min_counts = {name: view.min_count for name, view in groups.items.items()}
        explained = [v for v in groups.items.values() if v.explained]
        return LoadResult(
            gangs=len(gangs),
            pods=len(bodies) - len(gangs),
            created_s=last - first,
            settled_s=done - first,
            outcome=gang_outcome(pods.items.values(), min_counts),
            explained=len(explained),
            sample_message=explained[0].message if explained else "",
        )


def cpu_seconds(pid: int) -> float:
    """User and system CPU time a live process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mib(pid: int) -> float:
    """VmHWM of a live process: its peak resident set size so far."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmHWM for process {pid}")


@dataclass(frozen=True)
class DecisionTimes:
    limit_s: float  # the configured solver time limit
    max_s: float  # the longest decision (filter, place, preempt, validate)
    over_limit: int  # decisions longer than 1.1 x the limit
    decisions: int
    solver_max_s: float  # the longest solver run is at most this (the histogram's bucket bound)


def decision_times(metrics_url: str) -> DecisionTimes:
    """The operator's configured solver time limit, its longest decision and its longest solver run, from
    /metrics."""
    plain: dict[str, float] = {}
    decisions = 0.0
    solver_counts: dict[str, float] = {}
    solver_buckets: list[tuple[str, float, float]] = []  # (status, le, cumulative count)
    for family in text_string_to_metric_families(http_text(f"{metrics_url}/metrics")):
        for sample in family.samples:
            if sample.name == "phalanx_scheduling_attempt_duration_seconds_count":
                decisions += sample.value
            elif sample.name == "phalanx_solver_duration_seconds_count":
                solver_counts[sample.labels["status"]] = sample.value
            elif sample.name == "phalanx_solver_duration_seconds_bucket":
                solver_buckets.append((sample.labels["status"], float(sample.labels["le"]), sample.value))
            elif not sample.labels:
                plain[sample.name] = sample.value
    solver_max = max(
        (
            min(le for s, le, n in solver_buckets if s == status and n >= count)
            for status, count in solver_counts.items()
        ),
        default=0.0,
    )
    return DecisionTimes(
        limit_s=plain["phalanx_solver_time_limit_seconds"],
        max_s=plain["phalanx_solver_max_decision_seconds"],
        over_limit=int(plain["phalanx_solver_over_limit_total"]),
        decisions=int(decisions),
        solver_max_s=solver_max,
    )

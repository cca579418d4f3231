"""The operator behind a fault-injecting proxy (tests/integration/faultproxy.py): throttling, server errors,
conflicts, dropped connections, slow answers and watches that end or break every few seconds. Whatever the
API does, no gang is ever left partly bound, no node is overcommitted and no user pod is lost.

Everything the tests check is read straight from the API server, never through the proxy.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from kubernetes_asyncio import client

from scheduler.kube.leader import LeaderElector
from tests.integration.apiserver import ApiServer
from tests.integration.faultproxy import FaultProxy, FaultRates
from tests.integration.operator_harness import (
    GROUP,
    NODE_GPUS,
    VERSION,
    OperatorProcess,
    api_client_for,
    eventually,
    http_status,
    kubelet,
    make_nodes,
    pod_body,
    pod_group_body,
    unique,
)

pytestmark = pytest.mark.usefixtures("phalanx_crds")

# Every kind of fault at once, each at a rate a bad day on a real cluster could show.
API_FAULTS = FaultRates(
    throttle=0.05,
    server_error=0.05,
    conflict=0.08,  # writes
    drop=0.03,
    drop_after=0.05,  # writes
    slow=0.10,
    latency_s=(0.05, 0.5),
    watch_lifetime_s=(2.0, 6.0),
    watch_cut=0.5,
)
# Only watches break, and often: each one ends within 1.5 seconds, most of them by a cut connection.
WATCH_FAULTS = FaultRates(watch_lifetime_s=(0.5, 1.5), watch_cut=0.8)


@dataclass
class Gang:
    name: str
    size: int  # minCount too: all or nothing
    gpus: int  # per pod
    pool: str = ""  # its pods' nodeSelector (make_nodes names the pool's nodes "<pool>-r<i>-n<j>")
    pods: list[str] = field(default_factory=list)
    victim: bool = False  # may be preempted: all its pods may go, never only some
    spec: dict[str, Any] = field(default_factory=dict)  # more of the PodGroup's spec
    priority_class: str | None = None


@contextlib.contextmanager
def operator_behind(
    apiserver: ApiServer, folder: Path, rates: FaultRates, scheduler: str, lease_namespace: str, seed: int
) -> Iterator[tuple[FaultProxy, OperatorProcess]]:
    """The operator talking to the API server only through a fault proxy; its own scheduler name and lease, so
    the other modules' operators never interfere. Faults start before the operator does."""
    with FaultProxy(apiserver.url, apiserver.ca_path, rates, seed=seed) as proxy:
        kubeconfig = proxy.write_kubeconfig(apiserver.kubeconfig_path, folder / "kubeconfig-proxy")
        extra = ("--scheduler-name", scheduler, "--lease-namespace", lease_namespace)
        operator = OperatorProcess(kubeconfig, folder / "operator.log", *extra)
        try:
            yield proxy, operator
        finally:
            operator.stop()
            print(operator.log_tail(200))  # shown on failure
            print("faults injected:", proxy.counts())


@pytest.fixture
async def namespace(api_client: client.ApiClient) -> AsyncIterator[str]:
    core: Any = client.CoreV1Api(api_client)
    name = unique("faults")
    await core.create_namespace({"metadata": {"name": name}})
    async with kubelet(api_client, name):
        yield name


async def create_gangs(api: client.ApiClient, namespace: str, pool: str, scheduler: str, gangs: list[Gang]) -> None:
    """PodGroups and their pods, straight to the API server (pods of one gang interleaved with the next's)."""
    core: Any = client.CoreV1Api(api)
    objects: Any = client.CustomObjectsApi(api)
    for gang in gangs:
        body = pod_group_body(gang.name, gang.size, **gang.spec)
        await objects.create_namespaced_custom_object(GROUP, VERSION, namespace, "podgroups", body)
        gang.pods = [f"{gang.name}-{i}" for i in range(gang.size)]
        gang.pool = pool

    async def create(gang: Gang, pod: str) -> None:
        body = pod_body(pod, pool, gang.name, gpus=gang.gpus, priority_class=gang.priority_class)
        body["spec"]["schedulerName"] = scheduler
        await core.create_namespaced_pod(namespace, body)

    await asyncio.gather(*(create(gang, pod) for gang in gangs for pod in gang.pods))


async def delete_gangs(api: client.ApiClient, namespace: str, gangs: list[Gang]) -> None:
    """Jobs that finished: their pods and PodGroups go away, freeing room for the waiting gangs."""
    core: Any = client.CoreV1Api(api)
    objects: Any = client.CustomObjectsApi(api)
    for gang in gangs:
        for pod in gang.pods:
            await core.delete_namespaced_pod(pod, namespace, grace_period_seconds=0)
        await objects.delete_namespaced_custom_object(GROUP, VERSION, namespace, "podgroups", gang.name)


@dataclass
class View:
    """The cluster as the API server has it: pod -> node (None: pending), for our namespace and pool, and the
    reason of each pod's PodScheduled=False condition, if it has one."""

    pods: dict[str, str | None]
    nodes: list[str]
    unscheduled: dict[str, str] = field(default_factory=dict)

    def bound(self, gang: Gang) -> int:
        return sum(1 for p in gang.pods if self.pods.get(p))

    def used(self, gangs: list[Gang]) -> dict[str, int]:
        gpus = {p: g.gpus for g in gangs for p in g.pods}
        used: dict[str, int] = defaultdict(int)
        for pod, node in self.pods.items():
            if node:
                used[node] += gpus[pod]
        return used

    def problems(self, gangs: list[Gang]) -> list[str]:
        """What is wrong now: lost pods, partial gangs, overcommitted nodes, gangs that fit but wait."""
        found = []
        evicted = {g.name for g in gangs if g.victim and not self.pods.keys() & set(g.pods)}
        expected = {p for g in gangs if g.name not in evicted for p in g.pods}
        if lost := sorted(expected - self.pods.keys()):
            found.append(f"pods lost: {lost}")
        if strangers := sorted(self.pods.keys() - expected):
            found.append(f"unexpected pods: {strangers}")
        for gang in gangs:
            bound = self.bound(gang)
            if 0 < bound < gang.size:
                found.append(f"gang {gang.name} partly bound: {bound}/{gang.size}")
        if marked := sorted(p for p, node in self.pods.items() if node and p in self.unscheduled):
            found.append(f"bound pods marked PodScheduled=False: {marked}")
        used = self.used(gangs)
        for node, gpus in used.items():
            if gpus > NODE_GPUS or node not in self.nodes:
                found.append(f"node {node} overcommitted or unknown: {gpus} GPUs bound")
        for gang in gangs:
            if self.bound(gang) == 0 and gang.name not in evicted:
                nodes = [n for n in self.nodes if n.startswith(f"{gang.pool}-")]
                room = sum(max(0, NODE_GPUS - used.get(n, 0)) // gang.gpus for n in nodes)
                if room >= gang.size:
                    found.append(f"gang {gang.name} ({gang.size} x {gang.gpus} GPUs) fits ({room} slots) but waits")
        return found


async def view(api: client.ApiClient, namespace: str, nodes: list[str]) -> View:
    core: Any = client.CoreV1Api(api)
    pods = await core.list_namespaced_pod(namespace)
    unscheduled = {
        p.metadata.name: c.reason
        for p in pods.items
        for c in p.status.conditions or []
        if c.type == "PodScheduled" and c.status == "False"
    }
    return View({p.metadata.name: p.spec.node_name for p in pods.items}, nodes, unscheduled)


async def settle(
    api: client.ApiClient, namespace: str, nodes: list[str], gangs: list[Gang], within: float, quiet: float = 3.0
) -> tuple[View, float]:
    """Wait until nothing is wrong and has not been for `quiet` seconds; return the view and the longest any
    gang was seen partly bound (binding a gang is not one atomic write, so a moment of it is expected)."""
    deadline = time.monotonic() + within
    good_since: float | None = None
    partial_since: dict[str, float] = {}
    longest_partial = 0.0
    while True:
        now = time.monotonic()
        current = await view(api, namespace, nodes)
        problems = current.problems(gangs)
        for gang in gangs:
            if 0 < current.bound(gang) < gang.size:
                started = partial_since.setdefault(gang.name, now)
                longest_partial = max(longest_partial, now - started)
            else:
                partial_since.pop(gang.name, None)
        if problems:
            good_since = None
        elif good_since is None:
            good_since = now
        elif now - good_since >= quiet:
            return current, longest_partial
        if now > deadline:
            raise AssertionError("the cluster did not settle: " + "; ".join(problems or ["(changing)"]))
        await asyncio.sleep(0.3)


async def phases_become(api: client.ApiClient, namespace: str, expected: dict[str, str], within: float) -> None:
    """Every PodGroup's status.phase reaches what is expected of it (status writes fail and are retried)."""
    objects: Any = client.CustomObjectsApi(api)
    deadline = time.monotonic() + within
    while True:
        groups = await objects.list_namespaced_custom_object(GROUP, VERSION, namespace, "podgroups")
        phases = {g["metadata"]["name"]: g.get("status", {}).get("phase") for g in groups["items"]}
        wrong = {name: (phases.get(name), phase) for name, phase in expected.items() if phases.get(name) != phase}
        if not wrong:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"PodGroup phases (now, expected) still wrong: {wrong}")
        await asyncio.sleep(0.5)


def waiting_for_class(
    api: client.ApiClient, namespace: str, groups: list[str], priority_class: str
) -> Callable[[], Awaitable[bool]]:
    """Every named PodGroup says it waits for its priority class (status writes fail and are retried)."""
    objects: Any = client.CustomObjectsApi(api)

    async def check() -> bool:
        listed = await objects.list_namespaced_custom_object(GROUP, VERSION, namespace, "podgroups")
        messages = {
            g["metadata"]["name"]: " ".join(c.get("message", "") for c in g.get("status", {}).get("conditions", []))
            for g in listed["items"]
        }
        return all(f"priority class {priority_class!r} not found" in messages.get(name, "") for name in groups)

    return check


def random_gangs(rng: random.Random, prefix: str, count: int) -> list[Gang]:
    return [Gang(f"{prefix}{i}", size=rng.randint(2, 8), gpus=rng.choice((1, 2, 4))) for i in range(count)]


async def test_under_api_faults_every_gang_ends_fully_bound_or_fully_pending_and_no_pod_is_lost(
    api_client: client.ApiClient, namespace: str, apiserver: ApiServer, tmp_path: Path
) -> None:
    rng = random.Random(10)
    scheduler = unique("phalanx-faults")
    pool = unique("pool")
    nodes = await make_nodes(api_client, pool, racks=4, per_rack=4)  # 16 nodes, 128 GPUs
    # 24 gangs asking for about twice the room there is: some bind, the others must wait with nothing bound.
    gangs = random_gangs(rng, "g", 24)
    with operator_behind(apiserver, tmp_path, API_FAULTS, scheduler, namespace, seed=10) as (proxy, operator):
        await asyncio.to_thread(operator.wait_ready)
        started = time.monotonic()
        await create_gangs(api_client, namespace, pool, scheduler, gangs)
        first, partial_1 = await settle(api_client, namespace, nodes, gangs, within=30)
        times = [time.monotonic() - started]
        bound_first = [g for g in gangs if first.bound(g)]
        assert bound_first, "nothing was scheduled at all"
        assert len(bound_first) < len(gangs), "every gang fit: the test no longer shows waiting gangs"

        # Half the running jobs finish; waiting gangs take their place, still under faults.
        finished = bound_first[::2]
        await delete_gangs(api_client, namespace, finished)
        remaining = [g for g in gangs if g not in finished]
        last, partial_2 = await settle(api_client, namespace, nodes, remaining, within=30)
        times.append(time.monotonic() - started)
        newly_bound = [g for g in remaining if last.bound(g) and not first.bound(g)]
        assert newly_bound, "no waiting gang took the room the finished ones left"
        expected = {g.name: "Running" if last.bound(g) else "Unschedulable" for g in remaining}
        await phases_become(api_client, namespace, expected, within=15)
        times.append(time.monotonic() - started)

        assert operator.proc.poll() is None, "the operator died"
        assert http_status(f"{operator.metrics_url}/healthz") == 200
        counts = proxy.counts()
        for kind in ("throttle", "server_error", "conflict", "drop", "drop_after", "slow", "watch_end", "watch_cut"):
            assert counts.get(kind, 0) > 0, f"no {kind} fault was injected: {counts}"
        print(
            f"settled at {times[0]:.1f}s and {times[1]:.1f}s, statuses right at {times[2]:.1f}s; {len(bound_first)} "
            f"then {len(newly_bound)} more gangs bound; longest partial gang {max(partial_1, partial_2):.1f}s; {counts}"
        )


async def test_after_watches_break_the_operator_relists_and_schedules_gangs_created_later(
    api_client: client.ApiClient, namespace: str, apiserver: ApiServer, tmp_path: Path
) -> None:
    scheduler = unique("phalanx-watch")
    pool = unique("pool")
    nodes = await make_nodes(api_client, pool, racks=1, per_rack=2)
    before = [Gang("before", size=2, gpus=4)]
    with operator_behind(apiserver, tmp_path, WATCH_FAULTS, scheduler, namespace, seed=11) as (proxy, operator):
        await asyncio.to_thread(operator.wait_ready)
        await create_gangs(api_client, namespace, pool, scheduler, before)
        await settle(api_client, namespace, nodes, before, within=15, quiet=0.5)

        # Let every watch the operator holds (pods, nodes, PodGroups, ...) break several times over; the pod
        # watch's connection is cut six times, which an operator that backs off more after every break (rather
        # than after every failed attempt to list) would take a minute to come back from.
        def broken(kind: str) -> int:
            counts = proxy.counts()
            return sum(counts.get(f"{end}/{kind}", 0) for end in ("watch_end", "watch_cut"))

        deadline = time.monotonic() + 20
        while min(broken("nodes"), broken("podgroups")) < 3 or proxy.counts().get("watch_cut/pods", 0) < 6:
            assert time.monotonic() < deadline, f"watches did not come back often enough: {proxy.counts()}"
            await asyncio.sleep(0.5)

        # New nodes (another pool) and new gangs: only a watch that came back can show them to the operator.
        later_pool = unique("pool")
        nodes += await make_nodes(api_client, later_pool, racks=1, per_rack=2)
        after = [Gang("after-a", size=2, gpus=4), Gang("after-b", size=3, gpus=2)]
        seen = time.monotonic()
        await create_gangs(api_client, namespace, later_pool, scheduler, after)
        current, _ = await settle(api_client, namespace, nodes, before + after, within=10, quiet=0.5)
        assert all(current.bound(g) == g.size for g in after)
        print(f"gangs created after {proxy.counts()['watch_cut']} cut watches bound in {time.monotonic() - seen:.1f}s")
        assert operator.proc.poll() is None, "the operator died"
        assert http_status(f"{operator.metrics_url}/healthz") == 200


async def test_a_binding_refused_for_good_keeps_the_bound_pods_and_places_the_refused_one_again(
    api_client: client.ApiClient, namespace: str, apiserver: ApiServer, tmp_path: Path
) -> None:
    scheduler = unique("phalanx-refused")
    pool = unique("pool")
    nodes = await make_nodes(api_client, pool, racks=1, per_rack=4)
    gang = Gang("w", size=4, gpus=8)  # one pod a node
    refused = f"/api/v1/namespaces/{namespace}/pods/w-3/binding"
    with operator_behind(apiserver, tmp_path, FaultRates(), scheduler, namespace, seed=12) as (proxy, operator):
        # An admission webhook that denies this one binding, as long as the test says so.
        proxy.refuse = lambda method, path: 403 if (method, path) == ("POST", refused) else None
        await asyncio.to_thread(operator.wait_ready)
        await create_gangs(api_client, namespace, pool, scheduler, [gang])

        first: View | None = None
        deadline = time.monotonic() + 20
        while first is None or proxy.counts().get("refused", 0) < 3:  # refused, placed again, refused again...
            assert time.monotonic() < deadline, f"the refused pod was not placed again: {proxy.counts()}"
            await asyncio.sleep(0.3)
            current = await view(api_client, namespace, nodes)
            if first is None and current.bound(gang) == 3:
                first = current
            if first is not None:  # the pods that did bind stay where they are: nothing deletes or moves them
                assert current.pods == first.pods, f"a bound pod was deleted or moved: {first.pods} -> {current.pods}"
        assert first.pods["w-3"] is None
        assert first.unscheduled.keys() <= {"w-3"}, f"bound pods marked unschedulable: {first.unscheduled}"
        attempts = proxy.counts()["refused"]

        proxy.refuse = None  # the webhook relents
        current, _ = await settle(api_client, namespace, nodes, [gang], within=15, quiet=0.5)
        assert {p: n for p, n in current.pods.items() if p != "w-3"} == {
            p: n for p, n in first.pods.items() if p != "w-3"
        }
        assert len(set(current.pods.values())) == 4  # w-3 on the one node left
        print(f"binding refused {attempts} times, then bound whole without losing a pod")
        assert operator.proc.poll() is None, "the operator died"


async def test_under_api_faults_preemption_evicts_whole_gangs_and_binds_whole_gangs(
    api_client: client.ApiClient, namespace: str, apiserver: ApiServer, tmp_path: Path
) -> None:
    scheduling: Any = client.SchedulingV1Api(api_client)
    low, high = unique("low"), unique("high")
    await scheduling.create_priority_class({"metadata": {"name": low}, "value": 10})
    scheduler = unique("phalanx-preempt")
    pool = unique("pool")
    nodes = await make_nodes(api_client, pool, racks=2, per_rack=2)  # 32 GPUs
    victims = {"disruptionMode": "PodGroup", "priorityClassName": low}
    lows = [Gang(f"low{i}", size=2, gpus=4, victim=True, spec=victims, priority_class=low) for i in range(4)]
    preemptors = {"priorityClassName": high}
    highs = [Gang(f"high{i}", size=2, gpus=8, spec=preemptors) for i in range(2)]  # the class on the group only
    with operator_behind(apiserver, tmp_path, API_FAULTS, scheduler, namespace, seed=13) as (proxy, operator):
        await asyncio.to_thread(operator.wait_ready)
        await create_gangs(api_client, namespace, pool, scheduler, lows)
        full, _ = await settle(api_client, namespace, nodes, lows, within=20, quiet=1.0)
        assert all(full.bound(g) == g.size for g in lows)

        # Two gangs that each need two whole nodes: only evicting low-priority gangs, whole, makes room. Their
        # groups' priority class comes last, so both become ready in the same scheduling pass (and must not both
        # be given the room of the same victims).
        await create_gangs(api_client, namespace, pool, scheduler, highs)
        await eventually(
            waiting_for_class(api_client, namespace, [g.name for g in highs], high),
            what="both high gangs waiting for their priority class",
        )
        await scheduling.create_priority_class({"metadata": {"name": high}, "value": 1000})
        after, longest = await settle(api_client, namespace, nodes, lows + highs, within=30)
        assert all(after.bound(g) == g.size for g in highs)
        assert operator.proc.poll() is None, "the operator died"
        print(f"preempted under faults; longest partial gang {longest:.1f}s; {proxy.counts()}")


async def test_a_leader_keeps_its_lease_when_connections_to_the_server_drop(
    namespace: str, apiserver: ApiServer, tmp_path: Path
) -> None:
    # Lease requests too, this time: three in ten connections close without an answer (reads and renewals).
    rates = FaultRates(drop=0.3)
    with FaultProxy(apiserver.url, apiserver.ca_path, rates, seed=14, exempt=lambda method, path: False) as proxy:
        kubeconfig = proxy.write_kubeconfig(apiserver.kubeconfig_path, tmp_path / "kubeconfig-proxy")
        async with api_client_for(kubeconfig) as api:
            elector = LeaderElector(api, namespace, "phalanx-drops", renew_deadline_seconds=5.0, retry_seconds=0.2)
            events: list[str] = []
            task = asyncio.create_task(elector.run(lambda: events.append("led"), lambda: events.append("lost")))
            try:
                # Long enough to matter: at least five dropped connections, and still leading all along.
                async def dropped_five() -> bool:
                    assert not task.done(), f"the election stopped: {task.exception() if task.done() else ''}"
                    return proxy.counts().get("drop", 0) >= 5

                await eventually(dropped_five, within=60, what="five dropped connections")
                assert not task.done(), f"the election stopped: {task.exception() if task.done() else ''}"
            finally:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        assert events == ["led"]
        assert elector.leading
        assert proxy.counts().get("drop", 0) >= 5, proxy.counts()

"""kube-scheduler fidelity for gangs on a real API server (1.20): inter-pod (anti-)affinity, an existing pod's
anti-affinity, zone topology spread, host ports and init-container requests, each decided for the whole gang.

Every scenario is one kube-scheduler 1.20 honours on the same server (DESIGN.md, "Fidelity with
kube-scheduler"). Nodes are sized and the pods already running are chosen so that best-fit packing alone would
break the rule: a placement that honours it is the operator honouring it, never luck.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest
from kubernetes_asyncio import client

from tests.integration.apiserver import ApiServer
from tests.integration.operator_harness import (
    GROUP,
    VERSION,
    OperatorProcess,
    all_bound,
    bound,
    create_pods,
    eventually,
    kubelet_namespace,
    pod_group,
    pod_group_body,
    serving_operator,
    unique,
)

pytestmark = pytest.mark.usefixtures("phalanx_crds")
HOST = "kubernetes.io/hostname"
ZONE = "topology.kubernetes.io/zone"
GROUP_LABEL = "scheduling.phalanx.dev/pod-group"
# What an explanation must say (kube-scheduler's reason strings, or Phalanx's line for the gang's own pods).
ANTI_AFFINITY_BLAMED = (
    r"(?<!\d)[1-9]\d* node\(s\) didn't match pod anti-affinity rules|anti-affinity on kubernetes\.io/hostname"
)
PORTS_BLAMED = r"(?<!\d)[1-9]\d* node\(s\) didn't have free ports for the requested pod ports"
ZERO_COUNT = r"(?<!\d)0 node\(s\)"

NodeMaker = Callable[..., Awaitable[list[str]]]


@pytest.fixture(scope="module")
def operator(apiserver: ApiServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[OperatorProcess]:
    yield from serving_operator(apiserver.kubeconfig_path, tmp_path_factory.mktemp("operator"))


@pytest.fixture
async def namespace(api_client: client.ApiClient, operator: OperatorProcess) -> AsyncIterator[str]:
    """A fresh namespace with a simulated kubelet; its pods, PodGroups and itself are deleted afterwards (no
    namespace controller runs here, so its contents go first)."""
    core: Any = client.CoreV1Api(api_client)
    objects: Any = client.CustomObjectsApi(api_client)
    async with kubelet_namespace(api_client, "fid") as name:
        yield name
        await core.delete_collection_namespaced_pod(name, grace_period_seconds=0)
        await objects.delete_collection_namespaced_custom_object(GROUP, VERSION, name, "podgroups")
    with contextlib.suppress(client.ApiException):
        await core.delete_namespace(name)


@pytest.fixture
async def new_nodes(api_client: client.ApiClient) -> AsyncIterator[NodeMaker]:
    """`await new_nodes(pool, count, cpu="8", zones=("z1", ...))`: Ready nodes `<pool>-n<i>` labelled with
    hostname, pool and (round robin, prefixed with the pool) a zone; deleted after the test."""
    core: Any = client.CoreV1Api(api_client)
    made: list[str] = []

    async def make(pool: str, count: int, cpu: str = "8", zones: tuple[str, ...] = ()) -> list[str]:
        resources = {"cpu": cpu, "memory": "64Gi", "pods": "110"}
        names = [f"{pool}-n{i}" for i in range(count)]
        for i, name in enumerate(names):
            labels = {HOST: name, "pool": pool}
            if zones:
                labels[ZONE] = f"{pool}-{zones[i % len(zones)]}"
            body = {
                "metadata": {"name": name, "labels": labels},
                "status": {
                    "capacity": resources,
                    "allocatable": resources,
                    "conditions": [{"type": "Ready", "status": "True"}],
                },
            }
            await core.create_node(body)
            made.append(name)
        return names

    yield make
    for name in made:
        with contextlib.suppress(client.ApiException):
            await core.delete_node(name)


def pod(
    name: str,
    pool: str,
    *,
    group: str | None = None,
    labels: dict[str, str] | None = None,
    cpu: str = "1",
    node: str | None = None,
    **spec: Any,
) -> dict[str, Any]:
    """A pod of ours for `pool` (or, with `node`, one already placed there, as another scheduler would)."""
    all_labels = {**(labels or {}), **({GROUP_LABEL: group} if group else {})}
    body: dict[str, Any] = {
        "metadata": {"name": name, "labels": all_labels},
        "spec": {
            "schedulerName": "phalanx",
            "nodeSelector": {"pool": pool},
            "containers": [{"name": "main", "image": "example.invalid/app:1", "resources": {"requests": {"cpu": cpu}}}],
            **spec,
        },
    }
    if node:
        body["spec"]["schedulerName"] = "default-scheduler"
        body["spec"]["nodeName"] = node
    return body


def one_per_node(app: str) -> dict[str, Any]:
    """Required podAntiAffinity against `app=<app>` on the hostname key."""
    term = {"labelSelector": {"matchLabels": {"app": app}}, "topologyKey": HOST}
    return {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term]}}


async def create_group(api: client.ApiClient, namespace: str, name: str, min_count: int) -> None:
    objects: Any = client.CustomObjectsApi(api)
    await objects.create_namespaced_custom_object(
        GROUP, VERSION, namespace, "podgroups", pod_group_body(name, min_count)
    )


async def placed(api: client.ApiClient, namespace: str, prefix: str) -> list[str]:
    """The nodes of the pods named `prefix`*, in pod-name order (unbound pods are left out)."""
    pods = await bound(api, namespace, prefix)
    return [node for _, node in sorted(pods.items()) if node]


async def running(api: client.ApiClient, namespace: str, names: list[str]) -> None:
    """Wait until the pods (placed by name) are Running, so every later decision sees them."""
    core: Any = client.CoreV1Api(api)

    async def check() -> bool:
        pods = await core.list_namespaced_pod(namespace)
        phases = {p.metadata.name: p.status.phase for p in pods.items}
        return all(phases.get(n) == "Running" for n in names)

    await eventually(check, what=f"{names} Running")


async def scheduled_group(api: client.ApiClient, namespace: str, name: str, pods: int) -> dict[str, Any]:
    """Wait for the PodGroup to say Running with `pods` scheduled and PodGroupScheduled=True; its status."""
    seen: dict[str, Any] = {}

    async def check() -> bool:
        seen.update((await pod_group(api, namespace, name)).get("status", {}))
        conditions = {c["type"]: c for c in seen.get("conditions", [])}
        scheduled = conditions.get("PodGroupScheduled", {})
        return bool(
            seen.get("phase") == "Running"
            and seen.get("scheduled") == pods
            and (scheduled.get("status"), scheduled.get("reason")) == ("True", "Scheduled")
        )

    try:
        await eventually(check, what=f"PodGroup {name} Running with {pods} scheduled")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; last status seen: {seen}") from exc
    return seen


async def unschedulable_group(api: client.ApiClient, namespace: str, name: str) -> str:
    """Wait for the PodGroup's PodGroupScheduled condition to say Unschedulable; its message."""
    seen: dict[str, Any] = {}

    async def check() -> bool:
        seen.update((await pod_group(api, namespace, name)).get("status", {}))
        conditions = {c["type"]: c for c in seen.get("conditions", [])}
        return bool(conditions.get("PodGroupScheduled", {}).get("reason") == "Unschedulable")

    try:
        await eventually(check, what=f"PodGroup {name} Unschedulable")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; last status seen: {seen}") from exc
    return str(next(c["message"] for c in seen["conditions"] if c["type"] == "PodGroupScheduled"))


async def pod_unschedulable(api: client.ApiClient, namespace: str, name: str) -> str:
    """Wait for the pod's PodScheduled=False condition with reason Unschedulable; its message."""
    core: Any = client.CoreV1Api(api)
    seen: list[str] = []

    async def check() -> bool:
        found = await core.read_namespaced_pod(name, namespace)
        scheduled = next((c for c in found.status.conditions or [] if c.type == "PodScheduled"), None)
        if scheduled is None:
            return False
        seen[:] = [scheduled.message or ""]
        return bool(scheduled.status == "False" and scheduled.reason == "Unschedulable")

    try:
        await eventually(check, what=f"pod {name} Unschedulable")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; last message seen: {seen}") from exc
    return seen[0]


async def test_a_gang_with_one_per_node_anti_affinity_lands_on_distinct_nodes(
    api_client: client.ApiClient, namespace: str, new_nodes: NodeMaker
) -> None:
    pool = unique("pool")
    await new_nodes(pool, 6)
    await create_group(api_client, namespace, "w", 4)
    bodies = [pod(f"w-{i}", pool, group="w", labels={"app": "w"}, affinity=one_per_node("w")) for i in range(4)]
    await create_pods(api_client, namespace, bodies)

    await eventually(all_bound(api_client, namespace, "w-", 4), what="the gang bound")
    nodes = await placed(api_client, namespace, "w-")
    assert len(set(nodes)) == 4, nodes  # best-fit alone would pack all four (1 cpu each) on one node
    await scheduled_group(api_client, namespace, "w", 4)


async def test_a_gang_with_one_per_node_anti_affinity_on_too_few_nodes_stays_whole_pending_and_says_why(
    api_client: client.ApiClient, namespace: str, new_nodes: NodeMaker
) -> None:
    pool = unique("pool")
    await new_nodes(pool, 3)
    await create_group(api_client, namespace, "w", 4)
    bodies = [pod(f"w-{i}", pool, group="w", labels={"app": "w"}, affinity=one_per_node("w")) for i in range(4)]
    await create_pods(api_client, namespace, bodies)

    message = await unschedulable_group(api_client, namespace, "w")
    assert await placed(api_client, namespace, "w-") == []
    status = (await pod_group(api_client, namespace, "w"))["status"]
    assert (status["phase"], status.get("scheduled", 0)) == ("Unschedulable", 0)
    # The anti-affinity must be what the message blames (rejected nodes counted, or the rule on the key named),
    # not merely a reason listed with a zero count.
    assert re.search(ANTI_AFFINITY_BLAMED, message), message


async def test_a_gang_with_pod_affinity_to_a_running_pod_lands_entirely_in_its_zone(
    api_client: client.ApiClient, namespace: str, new_nodes: NodeMaker
) -> None:
    pool = unique("pool")
    # n0, n2 in z2; n1, n3 in z1: the first node by name (the tie-break) is outside the db's zone.
    nodes = await new_nodes(pool, 4, zones=("z2", "z1"))
    zone_of = {n: f"{pool}-{'z2' if i % 2 == 0 else 'z1'}" for i, n in enumerate(nodes)}
    # The db on n3; a filler in z2 makes n0 the most allocated node, where best-fit would go.
    existing = [
        pod("db", pool, labels={"app": "db"}, node=nodes[3]),
        pod("filler", pool, labels={"app": "filler"}, cpu="4", node=nodes[0]),
    ]
    await create_pods(api_client, namespace, existing)
    await running(api_client, namespace, ["db", "filler"])
    term = {"labelSelector": {"matchLabels": {"app": "db"}}, "topologyKey": ZONE}
    affinity = {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term]}}
    await create_group(api_client, namespace, "web", 3)
    bodies = [pod(f"web-{i}", pool, group="web", labels={"app": "web"}, affinity=affinity) for i in range(3)]
    await create_pods(api_client, namespace, bodies)

    await eventually(all_bound(api_client, namespace, "web-", 3), what="the gang bound")
    zones = {zone_of[n] for n in await placed(api_client, namespace, "web-")}
    assert zones == {f"{pool}-z1"}
    await scheduled_group(api_client, namespace, "web", 3)


async def test_a_gang_never_lands_where_a_running_pod_s_anti_affinity_repels_it(
    api_client: client.ApiClient, namespace: str, new_nodes: NodeMaker
) -> None:
    pool = unique("pool")
    nodes = await new_nodes(pool, 3)
    # The guard holds half of n1, which makes n1 the node best-fit packing would fill first.
    await create_pods(
        api_client,
        namespace,
        [pod("guard", pool, labels={"app": "guard"}, cpu="4", node=nodes[1], affinity=one_per_node("w"))],
    )
    await running(api_client, namespace, ["guard"])
    await create_group(api_client, namespace, "w", 3)
    await create_pods(api_client, namespace, [pod(f"w-{i}", pool, group="w", labels={"app": "w"}) for i in range(3)])

    await eventually(all_bound(api_client, namespace, "w-", 3), what="the gang bound")
    used = await placed(api_client, namespace, "w-")
    assert nodes[1] not in used, used
    await scheduled_group(api_client, namespace, "w", 3)


async def test_a_gang_with_zone_spread_ends_evenly_across_zones_where_packing_would_fill_one(
    api_client: client.ApiClient, namespace: str, new_nodes: NodeMaker
) -> None:
    pool = unique("pool")
    nodes = await new_nodes(pool, 6, zones=("za", "zb", "zc"))
    zone_of = {n: f"{pool}-{('za', 'zb', 'zc')[i % 3]}" for i, n in enumerate(nodes)}
    spread = [
        {
            "maxSkew": 1,
            "topologyKey": ZONE,
            "whenUnsatisfiable": "DoNotSchedule",
            "labelSelector": {"matchLabels": {"app": "s"}},
        }
    ]
    await create_group(api_client, namespace, "s", 6)
    bodies = [pod(f"s-{i}", pool, group="s", labels={"app": "s"}, topologySpreadConstraints=spread) for i in range(6)]
    await create_pods(api_client, namespace, bodies)

    await eventually(all_bound(api_client, namespace, "s-", 6), what="the gang bound")
    per_zone: dict[str, int] = {}
    for node in await placed(api_client, namespace, "s-"):
        per_zone[zone_of[node]] = per_zone.get(zone_of[node], 0) + 1
    assert sorted(per_zone.values()) == [2, 2, 2], per_zone  # six 1-cpu pods would all fit one 8-cpu node
    await scheduled_group(api_client, namespace, "s", 6)


def with_host_port(body: dict[str, Any], port: int = 8080) -> dict[str, Any]:
    body["spec"]["containers"][0]["ports"] = [{"containerPort": port, "hostPort": port, "protocol": "TCP"}]
    return body


async def test_a_gang_asking_one_host_port_spreads_one_pod_per_node(
    api_client: client.ApiClient, namespace: str, new_nodes: NodeMaker
) -> None:
    pool = unique("pool")
    await new_nodes(pool, 3)
    await create_group(api_client, namespace, "hp", 3)
    await create_pods(api_client, namespace, [with_host_port(pod(f"hp-{i}", pool, group="hp")) for i in range(3)])

    await eventually(all_bound(api_client, namespace, "hp-", 3), what="the gang bound")
    assert len(set(await placed(api_client, namespace, "hp-"))) == 3
    await scheduled_group(api_client, namespace, "hp", 3)


async def test_a_pod_asking_a_host_port_every_node_already_uses_stays_pending_naming_ports(
    api_client: client.ApiClient, namespace: str, new_nodes: NodeMaker
) -> None:
    pool = unique("pool")
    nodes = await new_nodes(pool, 3)
    holders = [with_host_port(pod(f"holder-{i}", pool, node=n)) for i, n in enumerate(nodes)]
    await create_pods(api_client, namespace, holders)
    await running(api_client, namespace, [h["metadata"]["name"] for h in holders])
    await create_group(api_client, namespace, "late", 2)
    await create_pods(api_client, namespace, [with_host_port(pod(f"late-{i}", pool, group="late")) for i in range(2)])

    message = await unschedulable_group(api_client, namespace, "late")
    assert await placed(api_client, namespace, "late-") == []
    assert re.search(PORTS_BLAMED, message), message
    assert re.search(PORTS_BLAMED, await pod_unschedulable(api_client, namespace, "late-0"))
    # kube-scheduler lists only reasons that rejected a node; these pods have no inter-pod terms at all.
    assert not re.search(ZERO_COUNT, message), message


async def test_a_gang_is_placed_by_its_init_container_request_when_it_is_the_larger(
    api_client: client.ApiClient, namespace: str, new_nodes: NodeMaker
) -> None:
    # Sidecars (init containers with restartPolicy Always, 1.28+) are pruned by this 1.20 server, so they
    # cannot be sent here; their share of the request is covered by unit tests of Pod.requests().
    pool = unique("pool")
    nodes = await new_nodes(pool, 4, cpu="4")
    init = [{"name": "warm", "image": "example.invalid/init:1", "resources": {"requests": {"cpu": "3"}}}]
    await create_group(api_client, namespace, "i", 4)
    # 2 cpu each: two per 4-cpu node by the app container; the 3-cpu init container allows one.
    bodies = [pod(f"i-{i}", pool, group="i", cpu="2", initContainers=init) for i in range(4)]
    await create_pods(api_client, namespace, bodies)

    await eventually(all_bound(api_client, namespace, "i-", 4), what="the gang bound")
    assert sorted(await placed(api_client, namespace, "i-")) == sorted(nodes)
    await scheduled_group(api_client, namespace, "i", 4)


async def test_single_pods_with_one_per_node_anti_affinity_bind_on_distinct_nodes_and_the_extra_one_waits(
    api_client: client.ApiClient, namespace: str, new_nodes: NodeMaker
) -> None:
    core: Any = client.CoreV1Api(api_client)
    pool = unique("pool")
    await new_nodes(pool, 2)
    bodies = [pod(f"solo-{i}", pool, labels={"app": "solo"}, affinity=one_per_node("solo")) for i in range(3)]
    await create_pods(api_client, namespace, bodies)
    outcome: dict[str, Any] = {}

    async def two_bound_one_told() -> bool:
        pods = await bound(api_client, namespace, "solo-")
        waiting = [name for name, node in pods.items() if not node]
        events = await core.list_namespaced_event(namespace)
        told = {e.involved_object.name for e in events.items if e.reason == "FailedScheduling"}
        outcome.update(pods=pods, told=told)
        return len(waiting) == 1 and waiting[0] in told

    try:
        await eventually(two_bound_one_told, what="two pods bound and a FailedScheduling event on the third")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; last seen: {outcome}") from exc
    nodes = [n for n in outcome["pods"].values() if n]
    assert len(set(nodes)) == 2, outcome
    waiting = next(name for name, node in outcome["pods"].items() if not node)
    message = await pod_unschedulable(api_client, namespace, waiting)
    assert re.search(ANTI_AFFINITY_BLAMED, message), message

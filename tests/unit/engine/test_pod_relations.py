"""Gangs whose pods relate to each other and to running pods: anti-affinity, affinity, spread, host ports,
preemption that removes what blocks them, and the pod fields that hold or refuse a pod.

Each test runs the engine's whole decision (units, filters, joint constraints, solver, validator) on an
in-memory cache; placements are then checked from their definition here, not by the validator alone.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from scheduler.api.core import Node, Pod
from scheduler.api.podgroup import POD_GROUP_LABEL, PodGroup, ScheduledReason
from scheduler.engine.cycle import Scheduler
from scheduler.engine.effects import Evict
from scheduler.engine.state import ClusterState, pod_info
from scheduler.topology.nodes import strip_node
from tests.builders import LEVELS, RACK, ZONE
from tests.unit.engine.port import engine_for, run

HOST = "kubernetes.io/hostname"
ANTI_HOST = {
    "podAntiAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": [
            {"labelSelector": {"matchLabels": {"app": "w"}}, "topologyKey": HOST}
        ]
    }
}


def node(name: str, zone: str, rack: str, cpu: int = 16) -> Node:
    return Node.model_validate(
        {
            "metadata": {"name": name, "labels": {ZONE: zone, RACK: rack, HOST: name}},
            "status": {
                "allocatable": {"cpu": str(cpu), "memory": "64Gi", "pods": 110},
                "conditions": [{"type": "Ready", "status": "True"}],
            },
        }
    )


def pod(
    name: str, labels: dict[str, str] | None = None, cpu: str = "1", node_name: str | None = None, **spec: Any
) -> Pod:
    body: dict[str, Any] = {
        "metadata": {"name": name, "namespace": "ml", "labels": labels or {}},
        "spec": {
            "schedulerName": "phalanx",
            "containers": [{"name": "c", "resources": {"requests": {"cpu": cpu}}}],
            **spec,
        },
    }
    if node_name:
        body["spec"]["nodeName"] = node_name
        body["status"] = {"phase": "Running"}
    return Pod.model_validate(body)


def gang_pods(count: int, group: str = "g", **spec: Any) -> list[Pod]:
    return [pod(f"{group}-{i}", {"app": "w", POD_GROUP_LABEL: group}, **spec) for i in range(count)]


def cluster(nodes: list[Node], pods: list[Pod], groups: dict[str, int] | None = None) -> ClusterState:
    state = ClusterState(LEVELS)
    for n in nodes:
        state.upsert_node(strip_node(n))
    for p in pods:
        state.upsert_pod(pod_info(p))
    for name, min_count in (groups or {"g": 1}).items():
        policy = {"gang": {"minCount": min_count}}
        state.upsert_group(
            PodGroup.model_validate(
                {"metadata": {"name": name, "namespace": "ml"}, "spec": {"schedulingPolicy": policy}}
            )
        )
    return state


def grid(zones: int = 2, nodes_per_zone: int = 3, cpu: int = 16) -> list[Node]:
    return [node(f"z{z}-n{i}", f"z{z}", f"z{z}-r0", cpu) for z in range(zones) for i in range(nodes_per_zone)]


def placed(state: ClusterState, prefix: str = "g-") -> dict[str, str]:
    return {i.name: i.node for i in state.pods.values() if i.name.startswith(prefix) and i.node is not None}


def test_a_gang_with_one_per_node_anti_affinity_lands_on_distinct_nodes() -> None:
    state = cluster(grid(), gang_pods(4, affinity=ANTI_HOST), {"g": 4})
    [decision] = Scheduler(state).schedule_pending()
    assert decision.scheduled, decision.message
    assert len(set(placed(state).values())) == 4


def test_a_gang_larger_than_the_nodes_its_anti_affinity_allows_waits_whole_and_says_why() -> None:
    state = cluster(grid(zones=1), gang_pods(4, affinity=ANTI_HOST), {"g": 4})
    [decision] = Scheduler(state).schedule_pending()
    assert decision.reason is ScheduledReason.UNSCHEDULABLE
    assert "room for 3 of the 4 pods" in decision.message
    assert placed(state) == {}


def test_anti_affinity_on_zones_puts_each_pod_in_its_own_zone() -> None:
    anti = {
        "podAntiAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [
                {"labelSelector": {"matchLabels": {"app": "w"}}, "topologyKey": ZONE}
            ]
        }
    }
    state = cluster(grid(zones=3), gang_pods(3, affinity=anti), {"g": 3})
    [decision] = Scheduler(state).schedule_pending()
    assert decision.scheduled, decision.message
    assert sorted(n.split("-")[0] for n in placed(state).values()) == ["z0", "z1", "z2"]
    too_many = cluster(grid(zones=2), gang_pods(3, affinity=anti), {"g": 3})
    [decision] = Scheduler(too_many).schedule_pending()
    assert decision.reason is ScheduledReason.UNSCHEDULABLE
    assert "anti-affinity on topology.kubernetes.io/zone: 3 pods need 3 zone(s), 2 can take one" in decision.message


def test_a_running_pods_anti_affinity_keeps_the_gang_off_its_node() -> None:
    repeller = pod("guard", {"role": "guard"}, node_name="z0-n0", affinity=ANTI_HOST)
    state = cluster(grid(zones=1), [repeller, *gang_pods(2)], {"g": 2})
    [decision] = Scheduler(state).schedule_pending()
    assert decision.scheduled, decision.message
    assert "z0-n0" not in placed(state).values()


def test_affinity_to_a_running_pod_keeps_the_gang_in_its_zone() -> None:
    affinity = {
        "podAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [
                {"labelSelector": {"matchLabels": {"app": "db"}}, "topologyKey": ZONE}
            ]
        }
    }
    db = pod("db", {"app": "db"}, node_name="z1-n0")
    state = cluster(grid(zones=3), [db, *gang_pods(3, affinity=affinity)], {"g": 3})
    [decision] = Scheduler(state).schedule_pending()
    assert decision.scheduled, decision.message
    assert {n.split("-")[0] for n in placed(state).values()} == {"z1"}


def test_a_gang_with_affinity_to_itself_shares_one_zone_when_nothing_matches_yet() -> None:
    affinity = {
        "podAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": [
                {"labelSelector": {"matchLabels": {"app": "w"}}, "topologyKey": ZONE}
            ]
        }
    }
    # 1 cpu each on 2-cpu nodes: no single node holds them, and best fit alone would not keep the zone.
    state = cluster(grid(zones=3, cpu=2), gang_pods(5, affinity=affinity), {"g": 5})
    [decision] = Scheduler(state).schedule_pending()
    assert decision.scheduled, decision.message
    assert len({n.split("-")[0] for n in placed(state).values()}) == 1


def test_zone_spread_with_max_skew_one_balances_the_gang_across_zones() -> None:
    spread = [
        {
            "maxSkew": 1,
            "topologyKey": ZONE,
            "whenUnsatisfiable": "DoNotSchedule",
            "labelSelector": {"matchLabels": {"app": "w"}},
        }
    ]
    state = cluster(grid(zones=3, nodes_per_zone=2), gang_pods(6, topologySpreadConstraints=spread), {"g": 6})
    [decision] = Scheduler(state).schedule_pending()
    assert decision.scheduled, decision.message
    assert sorted(Counter(n.split("-")[0] for n in placed(state).values()).values()) == [2, 2, 2]


def test_zone_spread_counts_the_matching_pods_already_running() -> None:
    spread = [
        {
            "maxSkew": 1,
            "topologyKey": ZONE,
            "whenUnsatisfiable": "DoNotSchedule",
            "labelSelector": {"matchLabels": {"app": "w"}},
        }
    ]
    running = [pod(f"old-{i}", {"app": "w"}, node_name="z0-n0") for i in range(2)]
    state = cluster(grid(zones=2), [*running, *gang_pods(2, topologySpreadConstraints=spread)], {"g": 2})
    [decision] = Scheduler(state).schedule_pending()
    assert decision.scheduled, decision.message
    assert all(n.startswith("z1") for n in placed(state).values())


def test_gang_pods_asking_the_same_host_port_take_one_node_each() -> None:
    ports: dict[str, Any] = {
        "containers": [
            {"name": "c", "resources": {"requests": {"cpu": "1"}}, "ports": [{"containerPort": 80, "hostPort": 8080}]}
        ]
    }
    state = cluster(grid(zones=1), gang_pods(3, **ports), {"g": 3})
    [decision] = Scheduler(state).schedule_pending()
    assert decision.scheduled, decision.message
    assert len(set(placed(state).values())) == 3
    busy = [pod(f"web-{i}", {}, node_name=f"z0-n{i}", **ports) for i in range(3)]
    state = cluster(grid(zones=1), [*busy, *gang_pods(1, **ports)], {"g": 1})
    [decision] = Scheduler(state).schedule_pending()
    assert decision.reason is ScheduledReason.UNSCHEDULABLE
    assert "3 node(s) didn't have free ports for the requested pod ports" in decision.message


def test_preemption_evicts_the_lower_priority_pod_whose_anti_affinity_repels_the_gang() -> None:
    # Plenty of cpu everywhere: only the guards' anti-affinity stands in the way, so they are the victims; the
    # gang's own anti-affinity needs two nodes, so two guards go, not three.
    guards = [
        pod(f"guard-{i}", {"role": "guard"}, node_name=f"z0-n{i}", affinity=ANTI_HOST, priority=1) for i in range(3)
    ]
    gang = gang_pods(2, priority=100, affinity=ANTI_HOST)
    state = cluster(grid(zones=1), [*guards, *gang], {"g": 2})
    engine, _, port = engine_for(state)
    run(engine, port, passes=3)
    evicted = [e.pod for e in port.of(Evict)]
    assert engine.last["ml/g"].scheduled, engine.last["ml/g"].message
    assert len(evicted) == 2  # two nodes freed of their guard, not three
    assert set(placed(state).values()) == {f"z0-n{k.split('-')[-1]}" for k in evicted}


def test_a_pod_with_a_field_phalanx_does_not_model_is_refused_naming_the_field() -> None:
    claims = pod("dra", {POD_GROUP_LABEL: "g"}, resourceClaims=[{"name": "gpu"}])
    state = cluster(grid(zones=1), [claims], {"g": 1})
    [decision] = Scheduler(state).schedule_pending()
    assert decision.reason is ScheduledReason.UNSCHEDULABLE
    assert "spec.resourceClaims (Dynamic Resource Allocation claims) is not supported" in decision.message
    assert placed(state, "dra") == {}


def test_a_gang_waits_for_its_gated_pods_and_says_so() -> None:
    gated = [pod(f"gated-{i}", {POD_GROUP_LABEL: "g"}, schedulingGates=[{"name": "quota"}]) for i in range(2)]
    state = cluster(grid(zones=1), [*gang_pods(2), *gated], {"g": 4})
    [decision] = Scheduler(state).schedule_pending()
    assert decision.reason is ScheduledReason.WAITING_FOR_PODS
    assert decision.message == "waiting for pods: 2/4 present, 2 more waiting for scheduling gates (quota)"


def test_a_pod_being_deleted_is_never_scheduled() -> None:
    doomed = Pod.model_validate(
        {
            **pod("gone").model_dump(by_alias=True),
            "metadata": {"name": "gone", "namespace": "ml", "deletionTimestamp": "2026-01-01T00:00:00Z"},
        }
    )
    state = cluster(grid(zones=1), [doomed])
    assert Scheduler(state).schedule_pending() == []


@pytest.mark.parametrize(
    ("init", "expected_cpu"),
    [
        pytest.param([{"restartPolicy": "Always", "cpu": "2"}, {"cpu": "4"}], 6000, id="init-beside-sidecar"),
        pytest.param([{"cpu": "4"}, {"restartPolicy": "Always", "cpu": "2"}], 4000, id="sidecar-after-init"),
        pytest.param([{"restartPolicy": "Always", "cpu": "1"}], 2000, id="sidecar-adds-to-app"),
    ],
)
def test_sidecars_run_beside_the_app_and_the_init_containers_started_after_them(
    init: list[dict[str, str]], expected_cpu: int
) -> None:
    containers = [
        {
            "name": f"i{k}",
            "resources": {"requests": {"cpu": c["cpu"]}},
            **({"restartPolicy": "Always"} if "restartPolicy" in c else {}),
        }
        for k, c in enumerate(init)
    ]
    assert pod("p", initContainers=containers).requests()["cpu"] == expected_cpu


def test_pod_level_requests_replace_the_containers_for_their_resources() -> None:
    sized = pod("p", cpu="1", resources={"requests": {"cpu": "3"}})
    assert sized.requests()["cpu"] == 3000


def test_preferred_node_affinity_picks_the_preferred_zone_when_both_have_room() -> None:
    prefer = {
        "nodeAffinity": {
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {"weight": 50, "preference": {"matchExpressions": [{"key": ZONE, "operator": "In", "values": ["z1"]}]}}
            ]
        }
    }
    state = cluster(grid(zones=2), gang_pods(3, affinity=prefer), {"g": 3})
    [decision] = Scheduler(state).schedule_pending()
    assert decision.scheduled, decision.message
    assert {n.split("-")[0] for n in placed(state).values()} == {"z1"}


def test_prefer_no_schedule_taints_are_avoided_but_never_block() -> None:
    nodes = grid(zones=1)
    tainted = [
        Node.model_validate(
            {
                **n.model_dump(by_alias=True),
                "spec": {"taints": [{"key": "spare", "value": "yes", "effect": "PreferNoSchedule"}]},
            }
        )
        if n.metadata.name != "z0-n2"
        else n
        for n in nodes
    ]
    state = cluster(tainted, gang_pods(1))
    [decision] = Scheduler(state).schedule_pending()
    assert placed(state) == {"g-0": "z0-n2"}
    crowded = cluster(tainted, [pod("big", {}, cpu="16", node_name="z0-n2"), *gang_pods(1)])
    [decision] = Scheduler(crowded).schedule_pending()
    assert decision.scheduled
    assert placed(crowded)["g-0"] != "z0-n2"


def test_preferred_anti_affinity_steers_away_from_a_running_pod_without_forbidding_its_zone() -> None:
    avoid = {
        "podAntiAffinity": {
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {
                    "weight": 100,
                    "podAffinityTerm": {"labelSelector": {"matchLabels": {"app": "noisy"}}, "topologyKey": ZONE},
                }
            ]
        }
    }
    noisy = pod("noisy", {"app": "noisy"}, node_name="z0-n0")
    state = cluster(grid(zones=2), [noisy, *gang_pods(2, affinity=avoid)], {"g": 2})
    [decision] = Scheduler(state).schedule_pending()
    assert decision.scheduled, decision.message
    assert {n.split("-")[0] for n in placed(state).values()} == {"z1"}


def test_schedule_anyway_spread_prefers_the_emptier_zone() -> None:
    spread = [
        {
            "maxSkew": 1,
            "topologyKey": ZONE,
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": {"matchLabels": {"app": "w"}},
        }
    ]
    running = [pod(f"old-{i}", {"app": "w"}, node_name=f"z0-n{i}") for i in range(3)]
    state = cluster(grid(zones=2), [*running, *gang_pods(1, topologySpreadConstraints=spread)])
    [decision] = Scheduler(state).schedule_pending()
    assert decision.scheduled, decision.message
    assert placed(state)["g-0"].startswith("z1")

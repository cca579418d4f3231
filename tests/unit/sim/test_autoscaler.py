"""The simulated autoscaler: whole gangs get their capacity at once, after the delay, in one new domain."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from scheduler.api.quantity import Quantity
from scheduler.sim.autoscaler import AutoscalerSpec, SimAutoscaler
from scheduler.sim.generate import NodeShape
from scheduler.sim.report import summarize
from scheduler.sim.scenario import Policy, Scenario, load_scenario
from scheduler.sim.simulator import Simulation
from scheduler.solver.problem import Gang
from tests.builders import BLOCK, GPU, LEVELS, gang, shape

BUNDLED = Path(__file__).resolve().parents[3] / "scheduler" / "sim" / "scenarios"
H100: dict[str, Quantity] = {"cpu": "96", "memory": "1Ti", GPU: 8, "pods": 110}


def _autoscaler(max_nodes: int = 64, allocatable: dict[str, Quantity] | None = None) -> SimAutoscaler:
    node = NodeShape(name="h100", allocatable=allocatable or H100)
    spec = AutoscalerSpec(delay_seconds=600, max_nodes=max_nodes, shape=node)
    return SimAutoscaler(spec, LEVELS)


def _gpus(name: str, pods: int, gpus: int, required: tuple[str, ...] = ()) -> Gang:
    return gang(name, (pods, shape(gpu=gpus).obj()), required=required)


def test_the_fewest_nodes_that_hold_the_whole_gang_are_added_in_one_new_block() -> None:
    big = _gpus("big", 12, 8, required=(BLOCK,))
    nodes = _autoscaler().plan(big, [{GPU: 8}] * 12)
    assert nodes is not None
    assert len(nodes) == 12
    assert len({n.metadata.labels[BLOCK] for n in nodes}) == 1


def test_small_pods_share_new_nodes() -> None:
    nodes = _autoscaler().plan(_gpus("ft", 4, 4), [{GPU: 4}] * 4)
    assert nodes is not None
    assert len(nodes) == 2


def test_a_pod_no_node_shape_can_hold_gets_nothing() -> None:
    autoscaler = _autoscaler(allocatable={"cpu": "96", "memory": "1Ti", "pods": 110})
    assert autoscaler.plan(_gpus("gpu", 2, 1), [{GPU: 1}] * 2) is None
    assert autoscaler.added == 0


def test_the_node_budget_is_never_exceeded() -> None:
    autoscaler = _autoscaler(max_nodes=10)
    assert autoscaler.plan(_gpus("big", 12, 8), [{GPU: 8}] * 12) is None
    assert autoscaler.plan(_gpus("fits", 8, 8), [{GPU: 8}] * 8) is not None
    assert autoscaler.plan(_gpus("more", 4, 8), [{GPU: 8}] * 4) is None
    assert autoscaler.added == 8


def _bundled() -> Scenario:
    return load_scenario(BUNDLED / "autoscale.yaml")


def test_gangs_bigger_than_the_cluster_start_once_their_capacity_arrives() -> None:
    scenario = _bundled()
    delay = scenario.autoscaler.delay_seconds if scenario.autoscaler else 0.0
    result = Simulation(scenario, Policy.PHALANX, audit=True).run()
    summary = summarize(result)
    assert summary.never_started == 0
    assert summary.provision_requests > 0
    asked = {e["unit"]: e["t"] for e in result.log if e["event"] == "provision"}
    # 12 x 8 GPUs is more than the 64 GPUs the cluster starts with: the first such gang waits for its nodes.
    big = sorted((j for j in result.jobs if len(j.pods) == 12), key=lambda j: j.arrival)[0]
    assert big.key in asked
    assert big.started is not None
    assert big.started >= asked[big.key] + delay


def test_without_the_autoscaler_the_big_gangs_never_start() -> None:
    scenario = replace(_bundled(), autoscaler=None)
    summary = summarize(Simulation(scenario, Policy.PHALANX).run())
    assert summary.never_started > 0
    assert summary.nodes_added == 0

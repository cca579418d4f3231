"""What each node held during a run: the heat map's data, checked against the samples the report averages."""

from __future__ import annotations

from pathlib import Path

import pytest

from scheduler.sim.occupancy import Occupancy
from scheduler.sim.scenario import Policy, load_scenario
from scheduler.sim.simulator import Simulation
from scheduler.topology.capacity import Capacity
from scheduler.topology.tree import TopologyTree
from tests.builders import GPU, LEVELS, grid

BUNDLED = Path(__file__).resolve().parents[3] / "scheduler" / "sim" / "scenarios"


@pytest.mark.parametrize("policy", list(Policy))
def test_what_the_nodes_held_adds_up_to_every_sample_of_the_run(policy: Policy) -> None:
    scenario = load_scenario(BUNDLED / "demo.yaml")
    result = Simulation(scenario, policy).run()
    assert result.occupancy is not None
    # Samples at one instant: the last one stands, as the report's integral holds each sample to the next.
    last = {s.t: s for s in result.samples}
    for t, sample in last.items():
        snapshot = result.occupancy.at(t)
        assert sum(snapshot.held.values()) == sample.allocated, t
        assert sum(n.allocatable.get(result.resource, 0) for n in snapshot.nodes) == sample.capacity


def test_only_the_nodes_that_changed_are_kept_between_samples() -> None:
    tree = TopologyTree(LEVELS, grid(zones=1, blocks=1, racks=2, nodes=2))
    occupancy = Occupancy(GPU)
    occupancy.record(0.0, Capacity(tree, {}))
    occupancy.record(10.0, Capacity(tree, {"z0-b0-r0-n0": {GPU: 8}}))
    occupancy.record(20.0, Capacity(tree, {"z0-b0-r0-n0": {GPU: 8}, "z0-b0-r1-n1": {GPU: 2}}))
    occupancy.record(30.0, Capacity(tree, {"z0-b0-r1-n1": {GPU: 2}}))
    assert occupancy.changes == [(10.0, {"z0-b0-r0-n0": 8}), (20.0, {"z0-b0-r1-n1": 2}), (30.0, {"z0-b0-r0-n0": 0})]
    assert occupancy.at(25.0).held == {"z0-b0-r0-n0": 8, "z0-b0-r1-n1": 2}
    assert occupancy.at(35.0).held == {"z0-b0-r1-n1": 2}
    assert occupancy.at(-1.0).nodes == ()


def test_a_node_that_joins_is_on_the_map_from_then_on_and_one_that_leaves_is_gone() -> None:
    nodes = grid(zones=1, blocks=1, racks=1, nodes=2)
    small, big = TopologyTree(LEVELS, nodes[:1]), TopologyTree(LEVELS, nodes)
    occupancy = Occupancy(GPU)
    occupancy.record(0.0, Capacity(small, {"z0-b0-r0-n0": {GPU: 4}}))
    occupancy.record(5.0, Capacity(big, {"z0-b0-r0-n0": {GPU: 4}, "z0-b0-r0-n1": {GPU: 8}}))
    occupancy.record(9.0, Capacity(small, {"z0-b0-r0-n0": {GPU: 4}}))
    assert [n.name for n in occupancy.at(4.0).nodes] == ["z0-b0-r0-n0"]
    assert occupancy.at(6.0).held == {"z0-b0-r0-n0": 4, "z0-b0-r0-n1": 8}
    gone = occupancy.at(9.0)
    assert [n.name for n in gone.nodes] == ["z0-b0-r0-n0"]
    assert gone.held == {"z0-b0-r0-n0": 4}


def test_a_resource_no_node_offers_is_held_nowhere() -> None:
    tree = TopologyTree(LEVELS, grid(zones=1, blocks=1, racks=1, nodes=2, gpu=0))
    occupancy = Occupancy(GPU)
    occupancy.record(0.0, Capacity(tree, {}))
    assert occupancy.at(0.0).held == {}
    assert len(occupancy.at(0.0).nodes) == 2

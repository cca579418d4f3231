from dataclasses import replace

import numpy as np

from scheduler.api.core import Node
from scheduler.topology.cache import TopologyCache
from scheduler.topology.capacity import Capacity
from scheduler.topology.nodes import strip_node
from scheduler.topology.tree import ROOT, TopologyTree
from tests.builders import BLOCK, GPU, LEVELS, RACK, ZONE, grid, make_node


def test_every_domain_is_a_contiguous_range_of_nodes_in_tree_order() -> None:
    tree = TopologyTree(LEVELS, reversed(grid(zones=2, blocks=2, racks=2, nodes=2)))
    assert [d.value for d in tree.domains[0]] == ["z0", "z1"]
    for depth, domains in enumerate(tree.domains):
        for domain in domains:
            values = {tree.nodes[i].labels[tree.levels[depth]] for i in range(domain.start, domain.end)}
            assert values == {domain.value}
    assert tree.levels == (ZONE, BLOCK, RACK)  # hostname is the nodes themselves


def test_the_graph_mirrors_the_tree_from_cluster_to_nodes() -> None:
    tree = TopologyTree(LEVELS, grid(zones=1, blocks=2, racks=2, nodes=3))
    assert len(list(tree.graph.successors(ROOT))) == 1
    rack = tree.domains[2][0]
    assert sorted(tree.graph.successors(rack.graph_id)) == [tree.nodes[i].name for i in range(rack.start, rack.end)]
    assert tree.graph.number_of_nodes() == 1 + 1 + 2 + 4 + 12


def test_per_domain_free_capacity_is_aggregated_with_numpy() -> None:
    tree = TopologyTree(LEVELS, grid(zones=1, blocks=2, racks=2, nodes=2))
    capacity = Capacity(tree, {"z0-b0-r0-n0": {GPU: 8}, "z0-b1-r1-n1": {GPU: 3}})
    gpus = capacity.domain_free(2)[:, capacity.column[GPU]]
    assert list(gpus) == [8, 16, 16, 13]
    assert capacity.domain_free(0)[0, capacity.column[GPU]] == 53


def test_nodes_without_a_level_label_sit_in_its_unlabelled_domain() -> None:
    nodes = [make_node("a").label(ZONE, "z").obj(), make_node("b").label(ZONE, "z").label(RACK, "r").obj()]
    tree = TopologyTree(LEVELS, nodes)
    racks = tree.domains[2]
    assert [(d.value, d.labelled) for d in racks] == [("", False), ("r", True)]
    assert tree.domains[1][0].value == ""  # neither node has a block label


def test_a_heartbeat_does_not_rebuild_the_tree_but_a_label_change_does() -> None:
    node = Node.model_validate(
        {
            "metadata": {"name": "n1", "labels": {ZONE: "z"}},
            "status": {"allocatable": {"cpu": "8"}, "conditions": [{"type": "Ready", "status": "True"}]},
        }
    )
    cache = TopologyCache(LEVELS, [strip_node(node)])
    first = cache.tree()
    heartbeat = node.model_copy(
        update={"status": node.status.model_copy(update={"conditions": [*node.status.conditions]})}
    )
    assert not cache.upsert(strip_node(heartbeat))
    assert cache.tree() is first
    relabelled = replace(strip_node(node), labels={ZONE: "z", RACK: "r1"})
    assert cache.upsert(relabelled)
    assert cache.tree() is not first
    assert cache.tree().generation == cache.generation == 1


def test_readiness_cordon_taints_and_allocatable_changes_bump_the_generation() -> None:
    base = make_node("n").obj()
    cache = TopologyCache(LEVELS, [base])
    for changed in (
        replace(base, ready=False),
        replace(base, unschedulable=True),
        make_node("n").taint("x").obj(),
        replace(base, allocatable={**base.allocatable, "cpu": 1}),
    ):
        assert cache.upsert(changed)
    assert cache.generation == 4
    assert cache.remove("n")
    assert not cache.remove("n")
    assert len(cache.tree()) == 0


def test_an_empty_cluster_aggregates_to_nothing() -> None:
    tree = TopologyTree(LEVELS, [])
    assert tree.aggregate(np.zeros((0, 2), dtype=np.int64), 0).shape == (0, 2)

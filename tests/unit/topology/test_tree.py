from dataclasses import replace

import numpy as np
import pytest

from scheduler.api.core import Node
from scheduler.topology.cache import TopologyCache
from scheduler.topology.capacity import Capacity
from scheduler.topology.nodes import strip_node
from scheduler.topology.tree import ROOT, TopologyTree
from tests.builders import BLOCK, GPU, HOST, LEVELS, RACK, ZONE, grid, make_node


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


def test_the_arrays_are_the_graphs_depth_first_order() -> None:
    tree = TopologyTree(LEVELS, reversed(grid(zones=2, blocks=2, racks=3, nodes=2)))
    for depth, domains in enumerate(tree.domains):
        for domain in domains:
            assert tree.members(domain) == tree.nodes[domain.start : domain.end]
            assert tree.domain(domain.graph_id) is domain
            assert list(tree.domain_of[depth][domain.start : domain.end]) == [domains.index(domain)] * domain.size
    zones = [tree.domain(v) for v in tree.children()]
    assert [z.value for z in zones if z is not None] == ["z0", "z1"]
    blocks = tree.children(tree.domains[0][1].graph_id)
    assert [tree.domain(b) for b in blocks] == tree.domains[1][2:4]


def test_a_nodes_path_is_read_up_the_graph_unlabelled_levels_included() -> None:
    tree = TopologyTree(
        LEVELS, [*grid(zones=1, blocks=1, racks=1, nodes=1), make_node("loose").label(ZONE, "z0").obj()]
    )
    assert [d.value for d in tree.path_of("z0-b0-r0-n0")] == ["z0", "z0-b0", "z0-b0-r0"]
    path = tree.path_of("loose")
    assert [(d.key, d.value, d.labelled) for d in path] == [(ZONE, "z0", True), (BLOCK, "", False), (RACK, "", False)]
    with pytest.raises(KeyError, match="no node 'ghost'"):
        tree.path_of("ghost")


def test_the_common_path_of_nodes_ends_at_the_narrowest_domain_holding_them_all() -> None:
    tree = TopologyTree(LEVELS, grid(zones=2, blocks=2, racks=2, nodes=2))
    assert [d.value for d in tree.common_path(["z0-b0-r0-n0", "z0-b0-r0-n1"])] == ["z0", "z0-b0", "z0-b0-r0"]
    assert [d.value for d in tree.common_path(["z0-b0-r0-n0", "z0-b1-r1-n1"])] == ["z0"]
    assert tree.common_path(["z0-b0-r0-n0", "z1-b0-r0-n0"]) == ()
    assert tree.common_path([]) == ()


def test_a_cluster_without_levels_hangs_every_node_from_the_root() -> None:
    tree = TopologyTree([HOST], [make_node("b").obj(), make_node("a").obj()])
    assert tree.levels == ()
    assert tree.children() == ["a", "b"]
    assert [n.name for n in tree.nodes] == ["a", "b"]
    assert tree.path_of("a") == ()


def test_two_nodes_of_one_name_are_refused_even_in_one_rack() -> None:
    twins = [make_node("n").label(RACK, "r").obj(), make_node("n").label(RACK, "r").obj()]
    with pytest.raises(ValueError, match="unique"):
        TopologyTree(LEVELS, twins)


def test_the_graph_is_built_once_per_node_generation() -> None:
    nodes = grid(zones=1, blocks=1, racks=2, nodes=2)
    cache = TopologyCache(LEVELS, nodes)
    graph = cache.tree().graph
    assert cache.tree().graph is graph
    assert not cache.upsert(nodes[0])  # the same node again: the same generation
    assert cache.tree().graph is graph
    assert cache.upsert(make_node("extra").label(ZONE, "z0").label(BLOCK, "z0-b0").label(RACK, "z0-b0-r1").obj())
    tree = cache.tree()
    assert tree.graph is not graph
    assert [n.name for n in tree.members(tree.domains[2][1])] == ["extra", "z0-b0-r1-n0", "z0-b0-r1-n1"]

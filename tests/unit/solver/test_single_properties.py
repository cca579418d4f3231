"""The single-pod fast path (solver/single.py) against the full path: Hypothesis draws clusters, running pods
and one pod with node and inter-pod rules; the fast path's plan passes the independent validator (score
included), finds a node exactly when the full path does, and below 100 nodes, where it scores every feasible
node, finds the full path's optimum. Sampling on larger clusters follows kube-scheduler's numbers."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scheduler.api.core import Pod
from scheduler.api.podgroup import SolverStatus
from scheduler.solver.filters import FilterCache
from scheduler.solver.neighbours import Neighbours
from scheduler.solver.placement import place_gang
from scheduler.solver.problem import Gang, SolverParams, Toleration, gang_from_pods
from scheduler.solver.single import is_single, nodes_to_score, place_single
from scheduler.solver.validate import validate_plan
from scheduler.topology.capacity import Capacity
from tests.builders import GPU, RACK, ZONE, gang, grid, make_node, occupied, shape, snapshot
from tests.unit.solver import test_placement_properties as placement
from tests.unit.solver import test_relation_properties as relations

PARAMS = SolverParams(time_limit_s=10, num_workers=1)


@st.composite
def single_pods(draw: st.DrawFn) -> Gang:
    """One pod with any of the inter-pod rules the relation properties draw (affinity, anti-affinity, spread,
    host ports, preferences), labelled as a gang member would be."""
    spec = draw(relations.gang_pod_specs())
    meta = {"name": "p", "namespace": "ml", "labels": {"app": draw(st.sampled_from(relations.APPS))}}
    pod = Pod.model_validate({"metadata": meta, "spec": spec})
    return gang_from_pods("ml/p", [("ml/p", pod)], 1, selected=True, label_keys=frozenset({"app"}))


@st.composite
def resource_pods(draw: st.DrawFn) -> Gang:
    """One pod of a random shape, now and then tolerating the taint some drawn nodes carry."""
    builder = shape(cpu=draw(st.sampled_from([0.5, 1, 2])), gpu=draw(st.sampled_from([0, 1, 2, 4])))
    if draw(st.booleans()):
        builder.tolerations = [Toleration("dedicated", "Exists")]
    return gang("p", (1, builder.obj()), min_count=1)


def both_paths(capacity: Capacity, pod: Gang, neighbours: Neighbours | None) -> None:
    fast = place_gang(capacity, pod, PARAMS, neighbours=neighbours)
    full = place_gang(capacity, pod, PARAMS, neighbours=neighbours, single=False)
    assert validate_plan(capacity, pod, fast, neighbours=neighbours) == [], fast
    assert fast.placed == full.placed, (fast, full)
    if fast.placed:
        assert fast.method == "single"
        assert fast.status is SolverStatus.OPTIMAL  # below 100 nodes every feasible node is scored
        assert fast.score == full.score
        assert fast.objective == full.objective
    else:
        assert fast.explanation == full.explanation  # a pod that fits nowhere is explained by the full path


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_a_single_pod_with_inter_pod_rules_lands_where_the_full_path_would_and_validates(
    data: st.DataObject,
) -> None:
    nodes = data.draw(relations.clusters())
    neighbours, units = data.draw(relations.neighbourhoods(nodes))
    both_paths(occupied(nodes, units), data.draw(single_pods()), neighbours)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_a_single_pod_on_a_random_busy_cluster_lands_where_the_full_path_would_and_validates(
    data: st.DataObject,
) -> None:
    nodes = data.draw(placement.clusters(max_nodes=12))
    capacity = snapshot(nodes, data.draw(placement.used_maps(nodes)))
    both_paths(capacity, data.draw(resource_pods()), None)


@pytest.mark.parametrize(
    ("nodes", "scored"),
    [(1, 1), (99, 99), (100, 100), (200, 100), (500, 230), (1000, 420), (5000, 500), (65536, 3276)],
)
def test_the_nodes_scored_follow_kube_schedulers_adaptive_percentage(nodes: int, scored: int) -> None:
    # numFeasibleNodesToFind: below 100 nodes all of them; else max(100, n * max(5, 50 - n/125) / 100).
    assert nodes_to_score(nodes) == scored


def test_on_a_large_cluster_the_best_of_the_sample_is_taken_and_the_gap_to_the_cluster_best_reported() -> None:
    nodes = grid(zones=2, blocks=2, racks=4, nodes=20)  # 320 nodes: 144 are scored
    used = {n.name: {GPU: i % 8 or 8, "cpu": 1000 * (i % 8)} for i, n in enumerate(nodes)}
    capacity = snapshot(nodes, used)
    pod = gang("p", (1, shape(cpu=1, gpu=1).obj()), min_count=1)
    choice = place_single(capacity, pod, FilterCache(capacity.tree), None)
    assert choice is not None
    assert (choice.scored, choice.feasible) == (nodes_to_score(320), 280)  # 40 nodes have every GPU in use
    plan = place_gang(capacity, pod, PARAMS)
    assert validate_plan(capacity, pod, plan) == []
    assert plan.objective is not None
    assert plan.bound is not None
    assert plan.bound <= plan.objective
    if plan.status is SolverStatus.FEASIBLE:
        assert (plan.gap or 0) > 0


def test_only_one_pod_without_topology_rules_takes_the_fast_path() -> None:
    one = shape(cpu=1).obj()
    assert is_single(gang("p", (1, one), min_count=1))
    assert not is_single(gang("g", (2, one), min_count=1))
    assert not is_single(gang("p", (1, one), min_count=1, preferred=[ZONE]))
    capacity = snapshot([make_node("n0").label(ZONE, "z0").obj()])
    with pytest.raises(ValueError, match="one pod without topology rules"):
        place_single(capacity, gang("g", (2, one), min_count=2), FilterCache(capacity.tree), None)


def test_a_pod_that_fits_nowhere_is_explained_as_the_full_path_explains_it() -> None:
    capacity = snapshot([make_node(f"n{i}", gpu=2).obj() for i in range(3)])
    plan = place_gang(capacity, gang("p", (1, shape(cpu=1, gpu=4).obj()), min_count=1), PARAMS)
    assert not plan.placed
    assert "0/3 nodes fit: 3 Insufficient nvidia.com/gpu" in plan.explanation


def test_the_first_pod_of_a_self_affine_group_goes_only_where_its_topology_key_is_labelled() -> None:
    # No pod matches its required affinity yet, so it may be the first (upstream's rule), on a node that has
    # the term's key: the emptiest nodes, which packing alone would pick, have no rack label.
    nodes = [make_node(f"bare-{i}").obj() for i in range(3)]
    nodes += [make_node(f"rack-{i}").label(RACK, "r0").obj() for i in range(2)]
    capacity = snapshot(nodes, {n.name: {"cpu": 32_000} for n in nodes if n.name.startswith("rack")})
    term = {"labelSelector": {"matchLabels": {"app": "a"}}, "topologyKey": RACK}
    spec = {
        "schedulerName": "phalanx",
        "containers": [{"name": "c", "resources": {"requests": {"cpu": "1"}}}],
        "affinity": {"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term]}},
    }
    pod = Pod.model_validate({"metadata": {"name": "p", "namespace": "ml", "labels": {"app": "a"}}, "spec": spec})
    single = gang_from_pods("ml/p", [("ml/p", pod)], 1, selected=True, label_keys=frozenset({"app"}))
    fast = place_gang(capacity, single, PARAMS, neighbours=Neighbours())
    assert fast.method == "single"
    assert fast.assignments["ml/p"].startswith("rack-")
    assert validate_plan(capacity, single, fast, neighbours=Neighbours()) == []
    assert fast.score == place_gang(capacity, single, PARAMS, neighbours=Neighbours(), single=False).score

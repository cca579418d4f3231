"""Property tests: Hypothesis draws clusters and gangs; every plan validates, and on tiny instances exhaustive
search confirms infeasibility and the optimal score."""

from __future__ import annotations

import itertools

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scheduler.api.podgroup import SolverStatus
from scheduler.solver.placement import place_gang
from scheduler.solver.plan import Score
from scheduler.solver.problem import Gang, SolverParams, Toleration
from scheduler.solver.validate import evaluate, validate_plan
from scheduler.topology.capacity import Capacity
from scheduler.topology.nodes import NodeInfo
from tests.builders import BLOCK, GPU, HOST, RACK, ZONE, gang, make_node, shape, snapshot

# relative_gap 0 asks for proven optima (the default stops within 1e-4 of the bound, reported as Feasible).
PARAMS = SolverParams(time_limit_s=10, num_workers=1, relative_gap=0)
LEVEL_KEYS = [ZONE, BLOCK, RACK, HOST]


@st.composite
def clusters(draw: st.DrawFn, max_nodes: int = 6) -> list[NodeInfo]:
    count = draw(st.integers(1, max_nodes))
    nodes = []
    for i in range(count):
        builder = make_node(f"n{i}", cpu=draw(st.integers(1, 8)), gpu=draw(st.sampled_from([0, 2, 4, 8])))
        zone = draw(st.sampled_from(["z0", "z1"]))
        block = draw(st.sampled_from(["b0", "b1"]))
        builder.label(ZONE, zone).label(BLOCK, f"{zone}-{block}")
        if draw(st.booleans()) or i % 3:  # now and then a node without its rack label
            builder.label(RACK, f"{zone}-{block}-r{draw(st.integers(0, 1))}")
        if draw(st.integers(0, 9)) == 0:
            builder.taint("dedicated", "infra")
        if draw(st.integers(0, 9)) == 0:
            builder.cordoned()
        nodes.append(builder.obj())
    return nodes


@st.composite
def used_maps(draw: st.DrawFn, nodes: list[NodeInfo]) -> dict[str, dict[str, int]]:
    return {
        n.name: {
            "cpu": draw(st.integers(0, n.allocatable["cpu"])),
            GPU: draw(st.integers(0, n.allocatable.get(GPU, 0))),
        }
        for n in nodes
    }


@st.composite
def gangs(draw: st.DrawFn, max_pods: int = 4) -> Gang:
    sets = []
    for _ in range(draw(st.integers(1, 2))):
        builder = shape(cpu=draw(st.sampled_from([0.5, 1, 2])), gpu=draw(st.sampled_from([0, 1, 2, 4])))
        if draw(st.integers(0, 4)) == 0:
            builder.tolerations = [Toleration("dedicated", "Exists")]
        sets.append((draw(st.integers(1, max_pods)), builder.obj()))
    size = sum(c for c, _ in sets)
    required: list[str] = []
    preferred: list[str] = []
    for key in LEVEL_KEYS:
        choice = draw(st.sampled_from(["none", "none", "required", "preferred"]))
        (required if choice == "required" else preferred if choice == "preferred" else []).append(key)
    basic = draw(st.integers(0, 5)) == 0
    min_count = 1 if basic else draw(st.integers(1, size))
    return gang("g", *sets, min_count=min_count, required=required, preferred=preferred, basic=basic)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_every_plan_on_a_random_cluster_validates(data: st.DataObject) -> None:
    nodes = data.draw(clusters(max_nodes=12))
    capacity = snapshot(nodes, data.draw(used_maps(nodes)))
    g = data.draw(gangs(max_pods=6))
    for greedy_only in (False, True):
        plan = place_gang(capacity, g, PARAMS, greedy_only=greedy_only)
        assert validate_plan(capacity, g, plan) == []


def exhaustive_best(capacity: Capacity, g: Gang) -> Score | None:
    """Best score over every assignment of pods to nodes (or to nowhere) that the validator accepts."""
    from scheduler.solver.plan import Plan

    pods = [p for s in g.pod_sets for p in s.pods]
    names: list[str | None] = [None, *(n.name for n in capacity.tree.nodes)]
    best: Score | None = None
    for choice in itertools.product(names, repeat=len(pods)):
        assignments = {pod: node for pod, node in zip(pods, choice, strict=True) if node is not None}
        if not assignments:
            continue
        plan = Plan(g.name, SolverStatus.FEASIBLE, assignments)
        if validate_plan(capacity, g, plan):
            continue
        score = evaluate(capacity, g, assignments)
        best = score if best is None or score < best else best
    return best


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_on_tiny_instances_the_solver_matches_exhaustive_search(data: st.DataObject) -> None:
    nodes = data.draw(clusters(max_nodes=4))
    capacity = snapshot(nodes, data.draw(used_maps(nodes)))
    g = data.draw(gangs(max_pods=2))
    plan = place_gang(capacity, g, PARAMS)
    assert validate_plan(capacity, g, plan) == []
    best = exhaustive_best(capacity, g)
    if best is None:
        assert plan.status is SolverStatus.INFEASIBLE
    else:
        assert plan.status is SolverStatus.OPTIMAL, plan
        assert plan.score == best


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_cp_sat_is_never_worse_than_greedy(data: st.DataObject) -> None:
    nodes = data.draw(clusters(max_nodes=12))
    capacity = snapshot(nodes, data.draw(used_maps(nodes)))
    g = data.draw(gangs(max_pods=6))
    exact = place_gang(capacity, g, PARAMS)
    greedy = place_gang(capacity, g, PARAMS, greedy_only=True)
    if greedy.score is not None:
        assert exact.score is not None
        assert exact.score <= greedy.score

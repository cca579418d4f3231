"""The nodes-used bound under a preferred level (context.py `_nodes_bound`) and the plan it points at (greedy.py
`fewest_nodes_counts`): never above the fewest nodes any choice of domains needs, met on a busy cluster, and the
plans built on it validate."""

from __future__ import annotations

import itertools

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scheduler.api.podgroup import SolverStatus
from scheduler.solver.context import _units_needed
from scheduler.solver.filters import FilterCache
from scheduler.solver.greedy import fewest_nodes_counts, greedy_counts
from scheduler.solver.placement import gang_context, place_gang
from scheduler.solver.problem import SolverParams
from scheduler.solver.validate import validate_plan
from tests.builders import GPU, RACK, ZONE, gang, grid, make_node, shape, snapshot

PARAMS = SolverParams(time_limit_s=10, num_workers=1)


def fewest_nodes(caps: list[list[int]], racks: int, pods: int) -> int | None:
    """The fewest nodes holding `pods` within any `racks` racks, by trying every choice of racks."""
    best = None
    for chosen in itertools.combinations(range(len(caps)), racks):
        union = np.array([c for r in chosen for c in caps[r]], dtype=np.int64)
        if union.sum() >= pods:
            count = _units_needed(union, pods)
            best = count if best is None or count < best else best
    return best


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_the_nodes_used_bound_is_never_above_what_the_best_choice_of_racks_needs(data: st.DataObject) -> None:
    racks = data.draw(st.integers(2, 5))
    free = [[data.draw(st.integers(0, 8)) for _ in range(data.draw(st.integers(1, 5)))] for _ in range(racks)]
    nodes = [
        make_node(f"r{r}-n{i}").label(ZONE, "z0").label(RACK, f"r{r}").obj()
        for r, rack in enumerate(free)
        for i in range(len(rack))
    ]
    capacity = snapshot(nodes, {f"r{r}-n{i}": {GPU: 8 - f} for r, rack in enumerate(free) for i, f in enumerate(rack)})
    pods = data.draw(st.integers(1, max(1, sum(map(sum, free)))))
    g = gang("g", (pods, shape(cpu=1, gpu=1).obj()), preferred=[RACK])
    ctx = gang_context(capacity, g, FilterCache(capacity.tree), None)
    bound = ctx.lower_bound(0, len(capacity.tree))
    placeable, spans, nodes_used = pods - bound[0], bound[1], bound[2]
    caps = [
        [int(ctx.node_ub[capacity.tree.index[f"r{r}-n{i}"]]) for i in range(len(rack))] for r, rack in enumerate(free)
    ]
    exact = fewest_nodes(caps, spans, placeable) if placeable else 0
    if exact is not None:
        assert nodes_used <= exact
    plan = place_gang(capacity, g, PARAMS)
    assert validate_plan(capacity, g, plan) == []
    if plan.placed and plan.score is not None and plan.score[1] == spans and exact is not None:
        assert plan.score[2] >= exact  # no plan beats the best choice of racks either


def test_on_a_busy_cluster_the_fewest_nodes_plan_meets_the_bound_that_best_fit_misses() -> None:
    # Four racks of 16 nodes, most of them half busy: best fit by rack capacity picks the racks that hold the
    # most, while the fewest nodes are in the racks with the emptiest nodes.
    nodes = grid(zones=1, blocks=1, racks=4, nodes=16)
    rng = np.random.default_rng(3)
    used = {n.name: {GPU: int(rng.binomial(8, 0.35))} for n in nodes}
    capacity = snapshot(nodes, used)
    g = gang("g", (100, shape(cpu=1, gpu=1).obj()), preferred=[RACK])  # two racks' worth
    ctx = gang_context(capacity, g, FilterCache(capacity.tree), None)
    bound = ctx.lower_bound(0, len(capacity.tree))
    best_fit = greedy_counts(ctx, 0, len(capacity.tree), ctx.free)
    counts = fewest_nodes_counts(ctx, 0, len(capacity.tree), ctx.free)
    assert best_fit is not None
    assert counts is not None
    assert len({n for (_, n), k in best_fit.items() if k}) > bound[2]
    assert len({n for (_, n), k in counts.items() if k}) == bound[2]
    plan = place_gang(capacity, g, PARAMS)
    assert validate_plan(capacity, g, plan) == []
    assert plan.score is not None
    assert plan.score[1:3] == bound[1:3]  # racks and nodes proven: only the packing term may be off
    assert plan.status is SolverStatus.OPTIMAL or (plan.gap or 0) < 0.001


def test_without_a_preferred_level_there_is_no_domain_limit_to_aim_at() -> None:
    capacity = snapshot([make_node(f"n{i}").obj() for i in range(3)])
    g = gang("g", (4, shape(cpu=1).obj()))
    ctx = gang_context(capacity, g, FilterCache(capacity.tree), None)
    assert ctx.fewest_nodes_domains(0, 3) is None
    assert fewest_nodes_counts(ctx, 0, 3, ctx.free) is None


def test_a_gang_one_node_holds_is_proven_there_though_a_nearly_full_node_has_cheaper_slots() -> None:
    # The first node has one GPU left: its slot is the cheapest (tight packing), so a bound that ignored how
    # many nodes a placement crossing nodes must use (two) would sit below every single-node plan, and only a
    # model could prove one.
    nodes = [make_node(f"n{i}").label(RACK, "r0").obj() for i in range(6)]
    capacity = snapshot(nodes, {"n0": {GPU: 7}})
    g = gang("g", (5, shape(gpu=1).obj()))
    plan = place_gang(capacity, g, PARAMS)
    assert validate_plan(capacity, g, plan) == []
    assert plan.status is SolverStatus.OPTIMAL
    assert plan.method == "bound"
    assert len(set(plan.assignments.values())) == 1

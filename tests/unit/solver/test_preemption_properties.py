"""Property tests for preemption: every plan validates; CP-SAT is never worse than reverse reprieve; on tiny
instances the victim cost and topology equal exhaustive search."""

from __future__ import annotations

import itertools

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scheduler.api.podgroup import SolverStatus
from scheduler.solver.plan import Plan
from scheduler.solver.preemption import preempt_gang
from scheduler.solver.problem import Gang, SolverParams
from scheduler.solver.validate import evaluate, validate_plan, validate_preemption
from scheduler.solver.victims import Budget, Candidates, VictimUnit, eligible
from scheduler.topology.capacity import Capacity
from scheduler.topology.nodes import NodeInfo
from tests.builders import BLOCK, GPU, RACK, ZONE, gang, make_node, occupied, running, shape

PARAMS = SolverParams(time_limit_s=10, num_workers=1, large_model_workers=1)
PREEMPTOR = 100


@st.composite
def worlds(draw: st.DrawFn, max_nodes: int, max_units: int) -> tuple[list[NodeInfo], list[VictimUnit], list[Budget]]:
    nodes = []
    for i in range(draw(st.integers(1, max_nodes))):
        builder = make_node(f"n{i}", cpu=8, gpu=draw(st.sampled_from([2, 4, 8])))
        builder.label(ZONE, "z0").label(BLOCK, f"b{draw(st.integers(0, 1))}").label(RACK, f"r{draw(st.integers(0, 1))}")
        nodes.append(builder.obj())
    units = []
    room = {n.name: n.allocatable[GPU] for n in nodes}
    for u in range(draw(st.integers(0, max_units))):
        size = draw(st.integers(1, 2))
        placements = []
        for _ in range(size):
            node = draw(st.sampled_from(nodes)).name
            gpus = draw(st.integers(1, 4))
            if room[node] >= gpus:
                room[node] -= gpus
                placements.append((node, {GPU: gpus, "pods": 1}))
        if placements:
            priority = draw(st.sampled_from([1, 5, 50, 100, 200]))
            units.append(running(f"v{u}", priority, *placements, whole=len(placements) > 1))
    budgets: list[Budget] = []
    pods = [p.key for unit in units for p in unit.pods]
    with_budget: bool = draw(st.booleans())
    if pods and with_budget:
        covered = frozenset(draw(st.lists(st.sampled_from(pods), min_size=1, max_size=3)))
        budgets.append(Budget("pdb", draw(st.integers(0, 1)), covered))
    return nodes, units, budgets


@st.composite
def gangs(draw: st.DrawFn, max_pods: int) -> Gang:
    count = draw(st.integers(1, max_pods))
    required, preferred = draw(st.sampled_from([([], []), ([RACK], []), ([], [RACK]), ([BLOCK], [])]))
    min_count = draw(st.integers(1, count))
    signature = shape(cpu=0.5, gpu=draw(st.sampled_from([1, 2, 4]))).obj()
    return gang("g", (count, signature), min_count=min_count, required=required, preferred=preferred)


def key_of(plan: Plan) -> tuple[int, ...]:
    assert plan.victim_cost is not None
    assert plan.score is not None
    return (*plan.victim_cost, *plan.score[1:-1])


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(world=worlds(max_nodes=6, max_units=6), g=gangs(max_pods=4), allow=st.booleans())
def test_every_preemption_plan_validates_and_cp_sat_is_never_worse_than_greedy(
    world: tuple[list[NodeInfo], list[VictimUnit], list[Budget]], g: Gang, allow: bool
) -> None:
    nodes, units, budgets = world
    capacity = occupied(nodes, units)
    candidates = eligible(units, budgets, PREEMPTOR)
    exact = preempt_gang(capacity, g, candidates, PARAMS, allow_violations=allow)
    greedy = preempt_gang(capacity, g, candidates, PARAMS, allow_violations=allow, greedy_only=True)
    for plan in (exact, greedy):
        assert validate_preemption(capacity, g, plan, units, budgets, PREEMPTOR, allow_violations=allow) == []
    if greedy.placed:
        assert exact.placed
        assert key_of(exact) <= key_of(greedy)


def exhaustive(capacity: Capacity, g: Gang, candidates: Candidates, allow: bool) -> tuple[int, ...] | None:
    pods = [p for s in g.pod_sets for p in s.pods]
    names = [n.name for n in capacity.tree.nodes]
    best: tuple[int, ...] | None = None
    for size in range(len(candidates.units) + 1):
        for subset in itertools.combinations(candidates.units, size):
            cost = candidates.cost(u.key for u in subset)
            if not allow and cost[0]:
                continue
            after = capacity.without((p.node, p.requests) for u in subset for p in u.pods)
            for chosen in itertools.combinations(pods, g.min_count):
                for nodes in itertools.product(names, repeat=len(chosen)):
                    assignments = dict(zip(chosen, nodes, strict=True))
                    if validate_plan(after, g, Plan(g.name, SolverStatus.FEASIBLE, assignments)):
                        continue
                    key = (*cost, *evaluate(after, g, assignments)[1:-1])
                    best = key if best is None or key < best else best
    return best


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(world=worlds(max_nodes=3, max_units=4), g=gangs(max_pods=2), allow=st.booleans())
def test_on_tiny_instances_preemption_matches_exhaustive_search(
    world: tuple[list[NodeInfo], list[VictimUnit], list[Budget]], g: Gang, allow: bool
) -> None:
    nodes, units, budgets = world
    capacity = occupied(nodes, units)
    candidates = eligible(units, budgets, PREEMPTOR)
    plan = preempt_gang(capacity, g, candidates, PARAMS, allow_violations=allow)
    best = exhaustive(capacity, g, candidates, allow)
    if best is None:
        assert not plan.placed
    else:
        assert plan.placed, plan
        assert plan.status is SolverStatus.OPTIMAL
        assert key_of(plan) == best

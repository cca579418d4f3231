"""Scenario tests for workload-aware preemption; every plan also goes through the independent validator."""

from __future__ import annotations

from collections.abc import Sequence

from scheduler.api.podgroup import SolverStatus
from scheduler.solver.placement import place_gang
from scheduler.solver.plan import Plan
from scheduler.solver.preemption import preempt_gang
from scheduler.solver.problem import Gang, SolverParams
from scheduler.solver.validate import validate_preemption
from scheduler.solver.victims import Budget, VictimUnit, eligible
from scheduler.topology.nodes import NodeInfo
from tests.builders import GPU, RACK, gang, grid, make_node, occupied, running, shape

PARAMS = SolverParams(time_limit_s=5, num_workers=1, large_model_workers=1)
FULL = {GPU: 8, "pods": 1}
HALF = {GPU: 4, "pods": 1}


def decide(
    nodes: list[NodeInfo],
    units: Sequence[VictimUnit],
    g: Gang,
    priority: int = 100,
    budgets: Sequence[Budget] = (),
    *,
    allow: bool = True,
    greedy_only: bool = False,
) -> Plan:
    capacity = occupied(nodes, units)
    assert not place_gang(capacity, g, PARAMS).placed, "the scenario must need preemption"
    candidates = eligible(units, budgets, priority)
    plan = preempt_gang(capacity, g, candidates, PARAMS, allow_violations=allow, greedy_only=greedy_only)
    assert validate_preemption(capacity, g, plan, units, budgets, priority, allow_violations=allow) == []
    return plan


def test_a_whole_lower_priority_gang_is_evicted_for_a_higher_priority_gang() -> None:
    nodes = grid(blocks=1, racks=1, nodes=2)
    low = running("ml/low", 10, ("z0-b0-r0-n0", FULL), ("z0-b0-r0-n1", FULL), whole=True)
    plan = decide(nodes, [low], gang("high", (2, shape(gpu=8).obj())))
    assert plan.victims == ("ml/low",)
    assert len(plan.victim_pods) == 2
    assert plan.status is SolverStatus.OPTIMAL


def test_a_pod_group_victim_is_never_split_even_if_only_part_of_it_is_in_the_way() -> None:
    nodes = grid(blocks=1, racks=1, nodes=3)
    # The gang needs one full node; the whole group goes (all 3 pods), or a single pod of Pod-mode would do.
    grouped = running("ml/grouped", 10, *((f"z0-b0-r0-n{i}", FULL) for i in range(3)), whole=True)
    plan = decide(nodes, [grouped], gang("high", (1, shape(gpu=8).obj())))
    assert plan.victims == ("ml/grouped",)
    assert sorted(plan.victim_pods) == ["ml/grouped/0", "ml/grouped/1", "ml/grouped/2"]


def test_single_pod_victims_when_disruption_mode_is_pod() -> None:
    nodes = grid(blocks=1, racks=1, nodes=3)
    pods = [running(f"ml/p{i}", 10, (f"z0-b0-r0-n{i}", FULL)) for i in range(3)]
    plan = decide(nodes, pods, gang("high", (1, shape(gpu=8).obj())))
    assert len(plan.victims) == 1
    assert len(plan.victim_pods) == 1


def test_the_lowest_priority_victims_are_chosen() -> None:
    nodes = grid(blocks=1, racks=1, nodes=3)
    pods = [running(f"ml/p{i}", prio, (f"z0-b0-r0-n{i}", FULL)) for i, prio in enumerate([50, 5, 20])]
    plan = decide(nodes, pods, gang("high", (1, shape(gpu=8).obj())))
    assert plan.victims == ("ml/p1",)


def test_fewer_victim_pods_win_at_equal_priority() -> None:
    nodes = grid(blocks=1, racks=1, nodes=2)
    halves = [running(f"ml/h{i}", 10, ("z0-b0-r0-n0", HALF)) for i in range(2)]
    full = running("ml/f", 10, ("z0-b0-r0-n1", FULL))
    plan = decide(nodes, [*halves, full], gang("high", (1, shape(gpu=8).obj())))
    assert plan.victims == ("ml/f",)


def test_pdb_protected_pods_are_spared_when_others_suffice() -> None:
    nodes = grid(blocks=1, racks=1, nodes=2)
    guarded = running("ml/guarded", 5, ("z0-b0-r0-n0", FULL))
    other = running("ml/other", 20, ("z0-b0-r0-n1", FULL))
    budget = Budget("ml/pdb", allowed=0, pods=frozenset({"ml/guarded"}))
    plan = decide(nodes, [guarded, other], gang("high", (1, shape(gpu=8).obj())), budgets=[budget])
    assert plan.victims == ("ml/other",)
    assert plan.victim_cost is not None
    assert plan.victim_cost[0] == 0


def test_pdb_violations_are_counted_when_unavoidable_and_can_be_forbidden() -> None:
    nodes = grid(blocks=1, racks=1, nodes=1)
    guarded = running("ml/guarded", 5, ("z0-b0-r0-n0", FULL))
    budget = Budget("ml/pdb", allowed=0, pods=frozenset({"ml/guarded"}))
    g = gang("high", (1, shape(gpu=8).obj()))
    plan = decide(nodes, [guarded], g, budgets=[budget])
    assert plan.victim_cost is not None
    assert plan.victim_cost[0] == 1
    forbidden = decide(nodes, [guarded], g, budgets=[budget], allow=False)
    assert forbidden.status is SolverStatus.INFEASIBLE
    assert not forbidden.victims
    assert "PodDisruptionBudget" in forbidden.explanation


def test_victims_on_several_nodes_make_room_for_a_gang_in_one_rack() -> None:
    nodes = grid(blocks=1, racks=2, nodes=2)
    units = [running(f"ml/r0-{i}", 10, (f"z0-b0-r0-n{i}", HALF)) for i in range(2)]
    units += [running(f"ml/r1-{i}", 10, (f"z0-b0-r1-n{i}", FULL)) for i in range(2)]
    plan = decide(nodes, units, gang("high", (3, shape(gpu=4).obj()), required=[RACK]))
    # Rack 0 needs one half-node victim for 3 half-size pods; rack 1 would need two full nodes.
    assert len(plan.victims) == 1
    assert plan.victims[0].startswith("ml/r0-")
    assert plan.placement[-1] == (RACK, "z0-b0-r0")


def test_a_gang_that_cannot_fit_even_after_removing_every_lower_priority_pod_touches_nothing() -> None:
    nodes = grid(blocks=1, racks=1, nodes=2)
    units = [running(f"ml/p{i}", 10, (f"z0-b0-r0-n{i}", FULL)) for i in range(2)]
    plan = decide(nodes, units, gang("high", (3, shape(gpu=8).obj())))
    assert plan.status is SolverStatus.INFEASIBLE
    assert not plan.victims
    assert "even with all 2 lower-priority pods evicted" in plan.explanation


def test_equal_priority_is_never_preempted() -> None:
    nodes = grid(blocks=1, racks=1, nodes=1)
    same = running("ml/same", 100, ("z0-b0-r0-n0", FULL))
    plan = decide(nodes, [same], gang("high", (1, shape(gpu=8).obj())), priority=100)
    assert plan.status is SolverStatus.INFEASIBLE
    assert not plan.victims


def test_cp_sat_beats_reverse_reprieve_when_the_greedy_picks_the_wrong_nodes() -> None:
    # Without a Required level the baseline makes room where the emptied cluster places the gang (the first
    # nodes in tree order) and evicts priority-50 pods there; the joint model evicts priority-1 pods instead.
    nodes = grid(blocks=1, racks=1, nodes=4)
    units = [running(f"ml/n{i}", 50 if i < 2 else 1, (f"z0-b0-r0-n{i}", FULL)) for i in range(4)]
    g = gang("high", (2, shape(gpu=8).obj()))
    exact = decide(nodes, units, g)
    greedy = decide(nodes, units, g, greedy_only=True)
    assert exact.victim_cost is not None
    assert greedy.victim_cost is not None
    assert exact.victim_cost < greedy.victim_cost
    assert set(exact.victims) == {"ml/n2", "ml/n3"}


def test_a_cordoned_node_is_not_made_room_on() -> None:
    nodes = [make_node("a").cordoned().obj(), make_node("b").obj()]
    units = [running("ml/a", 1, ("a", FULL)), running("ml/b", 9, ("b", FULL))]
    plan = decide(nodes, units, gang("high", (1, shape(gpu=8).obj())))
    assert plan.victims == ("ml/b",)

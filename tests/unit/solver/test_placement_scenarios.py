"""Scenario tests for gang placement; every plan also goes through the independent validator."""

from __future__ import annotations

from collections import Counter

import pytest

from scheduler.api.podgroup import SolverStatus
from scheduler.solver.placement import place_gang
from scheduler.solver.plan import Plan
from scheduler.solver.problem import Gang, Requirement, SolverParams, Toleration
from scheduler.solver.validate import validate_plan
from scheduler.topology.capacity import Capacity
from tests.builders import BLOCK, GI, GPU, HOST, RACK, ZONE, gang, grid, make_node, shape, snapshot

PARAMS = SolverParams(time_limit_s=5, num_workers=1)


def decide(capacity: Capacity, g: Gang, *, greedy_only: bool = False) -> Plan:
    plan = place_gang(capacity, g, PARAMS, greedy_only=greedy_only)
    assert validate_plan(capacity, g, plan) == []
    return plan


def racks_of(plan: Plan) -> set[str]:
    return {node.rsplit("-n", 1)[0] for node in plan.assignments.values()}


def used_by(plan: Plan, request: dict[str, int]) -> dict[str, dict[str, int]]:
    per_node = Counter(plan.assignments.values())
    return {node: {r: a * k for r, a in request.items()} for node, k in per_node.items()}


def test_when_only_one_rack_fits_it_is_chosen() -> None:
    nodes = grid(blocks=2, racks=2, nodes=2)
    full = {n.name: {GPU: 8} for n in nodes if not n.name.startswith("z0-b1-r1")}
    plan = decide(snapshot(nodes, full), gang("g", (4, shape(gpu=4).obj()), required=[RACK]))
    assert plan.status is SolverStatus.OPTIMAL
    assert racks_of(plan) == {"z0-b1-r1"}
    assert plan.placement[-1] == (RACK, "z0-b1-r1")


def test_when_no_rack_fits_the_gang_stays_pending_with_an_explanation() -> None:
    nodes = grid(blocks=1, racks=2, nodes=2)
    plan = decide(snapshot(nodes), gang("g", (5, shape(gpu=8).obj()), required=[RACK]))
    assert plan.status is SolverStatus.INFEASIBLE
    assert not plan.assignments
    assert "no rack has room for 5 pods (largest free: 2)" in plan.explanation
    assert "5 pod(s) {cpu: 1, memory: 1Gi, nvidia.com/gpu: 8}: 4/4 nodes fit" in plan.explanation


def test_the_tightest_fitting_rack_is_chosen_when_several_fit() -> None:
    nodes = grid(blocks=1, racks=3, nodes=2)
    # r0 empty, r1 has 12 GPUs used (4 free), r2 has 8 used (8 free): 4 GPUs fit in r1 and r2 and r0.
    used = {"z0-b0-r1-n0": {GPU: 8}, "z0-b0-r1-n1": {GPU: 4}, "z0-b0-r2-n0": {GPU: 8}}
    plan = decide(snapshot(nodes, used), gang("g", (1, shape(gpu=4).obj()), required=[RACK]))
    assert plan.status is SolverStatus.OPTIMAL
    assert plan.assignments == {"g-0-0": "z0-b0-r1-n1"}


def test_two_gangs_in_a_row_share_a_rack_when_it_holds_both() -> None:
    nodes = grid(blocks=1, racks=2, nodes=2)
    request = {GPU: 4, "cpu": 1000, "memory": GI, "pods": 1}
    first = decide(snapshot(nodes), gang("a", (2, shape(gpu=4).obj()), required=[RACK]))
    second = decide(snapshot(nodes, used_by(first, request)), gang("b", (2, shape(gpu=4).obj()), required=[RACK]))
    assert racks_of(first) == racks_of(second)


def test_two_gangs_in_a_row_go_to_separate_racks_when_one_cannot_hold_both() -> None:
    nodes = grid(blocks=1, racks=2, nodes=2)
    request = {GPU: 4, "cpu": 1000, "memory": GI, "pods": 1}
    first = decide(snapshot(nodes), gang("a", (3, shape(gpu=4).obj()), required=[RACK]))
    second = decide(snapshot(nodes, used_by(first, request)), gang("b", (3, shape(gpu=4).obj()), required=[RACK]))
    assert second.status is SolverStatus.OPTIMAL
    assert len(racks_of(first)) == len(racks_of(second)) == 1
    assert racks_of(first) != racks_of(second)


def test_a_gang_above_min_count_places_as_many_pods_as_fit() -> None:
    nodes = grid(blocks=1, racks=1, nodes=2)  # 16 GPUs
    plan = decide(snapshot(nodes), gang("g", (6, shape(gpu=4).obj()), min_count=3))
    assert plan.status is SolverStatus.OPTIMAL
    assert len(plan.assignments) == 4
    assert plan.score is not None
    assert plan.score[0] == 2


def test_a_gang_below_min_count_places_nothing() -> None:
    nodes = grid(blocks=1, racks=1, nodes=2)
    plan = decide(snapshot(nodes), gang("g", (6, shape(gpu=4).obj()), min_count=5))
    assert plan.status is SolverStatus.INFEASIBLE
    assert not plan.assignments
    assert "the cluster has room for 4 of the 5 pods needed" in plan.explanation


def test_a_heterogeneous_gang_places_its_launcher_and_all_gpu_workers_in_one_block() -> None:
    nodes = grid(blocks=2, racks=2, nodes=4)  # 4 racks of 4 x 8 GPUs
    g = gang("job", (1, shape(cpu=2, memory_gi=4).obj()), (63, shape(cpu=4, gpu=1).obj()), required=[BLOCK])
    plan = decide(snapshot(nodes), g)
    assert plan.status in (SolverStatus.OPTIMAL, SolverStatus.FEASIBLE)
    assert len(plan.assignments) == 64
    assert plan.placement[1][0] == BLOCK


def test_preferred_rack_keeps_a_gang_in_one_rack_when_it_can() -> None:
    nodes = grid(blocks=1, racks=3, nodes=2)
    used = {"z0-b0-r0-n0": {GPU: 4}, "z0-b0-r1-n1": {GPU: 4}}  # greedy by free capacity would split
    plan = decide(snapshot(nodes, used), gang("g", (4, shape(gpu=4).obj()), preferred=[RACK]))
    assert len(racks_of(plan)) == 1
    assert plan.status is SolverStatus.OPTIMAL


def test_preferred_levels_are_minimised_widest_first() -> None:
    nodes = grid(zones=1, blocks=2, racks=2, nodes=2)
    g = gang("g", (6, shape(gpu=8).obj()), preferred=[BLOCK, RACK])
    plan = decide(snapshot(nodes), g)
    blocks = {n.rsplit("-r", 1)[0] for n in plan.assignments.values()}
    assert len(blocks) == 2  # 6 nodes need both blocks …
    assert len(racks_of(plan)) == 3  # … and three racks, not four
    assert plan.status is SolverStatus.OPTIMAL


def test_gpu_taint_selector_and_cordon_filters_are_respected_and_explained() -> None:
    nodes = [
        make_node("gpu-a", gpu=8).label("pool", "train").obj(),
        make_node("gpu-b", gpu=8).label("pool", "train").taint("dedicated", "infra").obj(),
        make_node("gpu-c", gpu=8).label("pool", "train").cordoned().obj(),
        make_node("gpu-d", gpu=8).label("pool", "serve").obj(),
        make_node("cpu-e", gpu=0).label("pool", "train").obj(),
        make_node("gpu-f", gpu=8).label("pool", "train").not_ready().obj(),
    ]
    sig = shape(gpu=8)
    sig.selector = {"pool": "train"}
    plan = decide(snapshot(nodes), gang("g", (2, sig.obj())))
    assert plan.status is SolverStatus.INFEASIBLE
    for part in (
        "1/6 nodes fit",
        "1 node(s) didn't match Pod's node affinity/selector",
        "1 node(s) had untolerated taint {dedicated: infra}",
        "1 node(s) were unschedulable",
        "1 node(s) had untolerated taint {node.kubernetes.io/not-ready: }",
        "1 Insufficient nvidia.com/gpu",
    ):
        assert part in plan.explanation
    sig.tolerations = [Toleration("dedicated", "Equal", "infra", "NoSchedule")]
    plan = decide(snapshot(nodes), gang("g", (2, sig.obj())))
    assert sorted(plan.assignments.values()) == ["gpu-a", "gpu-b"]


@pytest.mark.parametrize(
    ("requirement", "expected"),
    [
        (Requirement("pool", "In", ("train",)), {"n1"}),
        (Requirement("pool", "NotIn", ("train",)), {"n2", "n3"}),
        (Requirement("pool", "Exists"), {"n1", "n2"}),
        (Requirement("pool", "DoesNotExist"), {"n3"}),
        (Requirement("gen", "Gt", ("3",)), {"n2"}),
        (Requirement("gen", "Lt", ("3",)), {"n1"}),
        (Requirement("metadata.name", "In", ("n3",), field=True), {"n3"}),
    ],
    ids=["In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt", "matchFields"],
)
def test_required_node_affinity_operators(requirement: Requirement, expected: set[str]) -> None:
    nodes = [
        make_node("n1").label("pool", "train").label("gen", "2").obj(),
        make_node("n2").label("pool", "serve").label("gen", "5").obj(),
        make_node("n3").label("gen", "x").obj(),
    ]
    sig = shape(gpu=8)
    sig.affinity = [[requirement]]
    chosen: set[str] = set()
    for _ in range(3):
        capacity = snapshot(nodes, {n: {GPU: 8} for n in chosen})
        plan = decide(capacity, gang("g", (1, sig.obj())))
        if not plan.assignments:
            break
        chosen |= set(plan.assignments.values())
    assert chosen == expected


def test_an_empty_toleration_key_with_exists_tolerates_every_taint() -> None:
    nodes = [make_node("n1").taint("a", "1").taint("b", "2", "NoExecute").obj()]
    sig = shape()
    sig.tolerations = [Toleration("", "Exists")]
    assert decide(snapshot(nodes), gang("g", (1, sig.obj()))).assignments == {"g-0-0": "n1"}


def test_prefer_no_schedule_taints_do_not_block() -> None:
    nodes = [make_node("n1").taint("soft", "x", "PreferNoSchedule").obj()]
    assert decide(snapshot(nodes), gang("g", (1, shape().obj()))).placed


def test_nodes_missing_a_required_level_label_cannot_satisfy_it() -> None:
    nodes = [make_node("n1").label(ZONE, "z").obj(), make_node("n2").label(ZONE, "z").label(RACK, "r").obj()]
    plan = decide(snapshot(nodes), gang("g", (2, shape(gpu=8).obj()), required=[RACK]))
    assert plan.status is SolverStatus.INFEASIBLE
    plan = decide(snapshot(nodes), gang("g", (1, shape(gpu=8).obj()), required=[RACK]))
    assert plan.assignments == {"g-0-0": "n2"}


def test_an_unknown_required_topology_key_is_explained() -> None:
    plan = decide(snapshot(grid()), gang("g", (1, shape().obj()), required=["example.com/pod"]))
    assert plan.status is SolverStatus.INFEASIBLE
    assert "example.com/pod are not levels of the cluster topology" in plan.explanation


def test_required_hostname_puts_every_pod_on_one_node() -> None:
    plan = decide(snapshot(grid()), gang("g", (4, shape(gpu=2).obj()), required=[HOST]))
    assert len(set(plan.assignments.values())) == 1


def test_a_basic_group_places_what_fits_pod_by_pod() -> None:
    nodes = grid(blocks=1, racks=1, nodes=1)
    plan = decide(snapshot(nodes), gang("g", (3, shape(gpu=4).obj()), basic=True))
    assert len(plan.assignments) == 2
    assert plan.status is SolverStatus.OPTIMAL


def test_packing_prefers_the_most_allocated_node() -> None:
    nodes = [make_node("empty").obj(), make_node("busy").obj()]
    plan = decide(snapshot(nodes, {"busy": {GPU: 6, "cpu": 32000}}), gang("g", (1, shape(gpu=2).obj())))
    assert plan.assignments == {"g-0-0": "busy"}


def test_cp_sat_is_never_worse_than_greedy_and_both_validate() -> None:
    nodes = grid(blocks=2, racks=2, nodes=3)
    used = {n.name: {GPU: (i * 3) % 8} for i, n in enumerate(nodes)}
    g = gang("g", (5, shape(gpu=3).obj()), (3, shape(gpu=2).obj()), preferred=[BLOCK, RACK])
    capacity = snapshot(nodes, used)
    greedy = decide(capacity, g, greedy_only=True)
    exact = decide(capacity, g)
    assert greedy.score is not None
    assert exact.score is not None
    assert exact.score <= greedy.score


def test_the_same_input_gives_the_same_plan() -> None:
    nodes = grid(blocks=2, racks=2, nodes=3)
    g = gang("g", (7, shape(gpu=3).obj()), preferred=[RACK])
    assert decide(snapshot(nodes), g).assignments == decide(snapshot(nodes), g).assignments

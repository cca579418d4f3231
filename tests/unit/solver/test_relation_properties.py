"""Property tests for pods that relate to others: Hypothesis draws clusters, running pods with labels, ports and
anti-affinity, and gangs with anti-affinity, affinity, spread and host ports; every plan, greedy and CP-SAT,
placement and preemption, must pass the validator, whose inter-pod rules share no code with the solver."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scheduler.api.core import Pod
from scheduler.solver.neighbours import ExistingPod, Neighbours
from scheduler.solver.placement import place_gang
from scheduler.solver.preemption import preempt_gang
from scheduler.solver.problem import Gang, SolverParams, gang_from_pods
from scheduler.solver.relations import HostPort, PodTerm, Selector
from scheduler.solver.validate import validate_plan, validate_preemption
from scheduler.solver.victims import Candidates, VictimPod, VictimUnit, eligible
from scheduler.topology.nodes import NodeInfo
from tests.builders import HOST, RACK, ZONE, make_node, occupied

PARAMS = SolverParams(time_limit_s=10, num_workers=1)
KEYS = [HOST, ZONE, RACK]
APPS = ["a", "b"]


@st.composite
def clusters(draw: st.DrawFn) -> list[NodeInfo]:
    nodes = []
    for i in range(draw(st.integers(2, 7))):
        builder = make_node(f"n{i}", cpu=draw(st.integers(2, 6)), gpu=0)
        zone = draw(st.sampled_from(["z0", "z1", "z2"]))
        builder.label(ZONE, zone).label(RACK, f"{zone}-r{draw(st.integers(0, 1))}")
        if draw(st.integers(0, 4)) == 0:
            builder.taint("spare", "yes", "PreferNoSchedule")
        nodes.append(builder.obj())
    return nodes


def term(app: str, key: str) -> dict[str, Any]:
    return {"labelSelector": {"matchLabels": {"app": app}}, "topologyKey": key}


@st.composite
def gang_pod_specs(draw: st.DrawFn) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "schedulerName": "phalanx",
        "containers": [{"name": "c", "resources": {"requests": {"cpu": str(draw(st.integers(1, 2)))}}}],
    }
    affinity: dict[str, Any] = {}
    if draw(st.booleans()):
        affinity["podAntiAffinity"] = {
            "requiredDuringSchedulingIgnoredDuringExecution": [
                term(draw(st.sampled_from(APPS)), draw(st.sampled_from(KEYS)))
            ]
        }
    if draw(st.integers(0, 3)) == 0:
        affinity["podAffinity"] = {
            "requiredDuringSchedulingIgnoredDuringExecution": [
                term(draw(st.sampled_from(APPS)), draw(st.sampled_from([ZONE, RACK])))
            ]
        }
    if draw(st.integers(0, 2)) == 0:
        weighted = {"weight": draw(st.integers(1, 100)), "podAffinityTerm": term(draw(st.sampled_from(APPS)), ZONE)}
        section = "podAffinity" if draw(st.booleans()) else "podAntiAffinity"
        affinity.setdefault(section, {})["preferredDuringSchedulingIgnoredDuringExecution"] = [weighted]
    if draw(st.integers(0, 2)) == 0:
        zone = {"key": ZONE, "operator": "In", "values": [draw(st.sampled_from(["z0", "z1", "z2"]))]}
        preference = {"weight": draw(st.integers(1, 100)), "preference": {"matchExpressions": [zone]}}
        affinity["nodeAffinity"] = {"preferredDuringSchedulingIgnoredDuringExecution": [preference]}
    if affinity:
        spec["affinity"] = affinity
    if draw(st.booleans()):
        spec["topologySpreadConstraints"] = [
            {
                "maxSkew": draw(st.integers(1, 2)),
                "topologyKey": draw(st.sampled_from(KEYS)),
                "whenUnsatisfiable": draw(st.sampled_from(["DoNotSchedule", "DoNotSchedule", "ScheduleAnyway"])),
                "labelSelector": {"matchLabels": {"app": draw(st.sampled_from(APPS))}},
            }
        ]
    if draw(st.integers(0, 3)) == 0:
        spec["containers"][0]["ports"] = [{"containerPort": 80, "hostPort": 8080}]
    return spec


@st.composite
def gangs(draw: st.DrawFn) -> Gang:
    pods = []
    for shape_index in range(draw(st.integers(1, 2))):
        spec = draw(gang_pod_specs())
        app = draw(st.sampled_from(APPS))
        for i in range(draw(st.integers(1, 3))):
            meta = {"name": f"g-{shape_index}-{i}", "namespace": "ml", "labels": {"app": app}}
            pods.append((f"ml/g-{shape_index}-{i}", Pod.model_validate({"metadata": meta, "spec": spec})))
    min_count = draw(st.integers(1, len(pods)))
    return gang_from_pods("ml/g", pods, min_count, selected=True, label_keys=frozenset({"app"}))


@st.composite
def neighbourhoods(draw: st.DrawFn, nodes: list[NodeInfo]) -> tuple[Neighbours, list[VictimUnit]]:
    neighbours = Neighbours()
    units = []
    for i in range(draw(st.integers(0, 4))):
        node = draw(st.sampled_from(nodes)).name
        app = draw(st.sampled_from([*APPS, "other"]))
        anti: tuple[PodTerm, ...] = ()
        if draw(st.integers(0, 2)) == 0:
            selector = Selector((("app", draw(st.sampled_from(APPS))),))
            anti = (PodTerm(draw(st.sampled_from(KEYS)), selector, frozenset({"ml"})),)
        ports = (HostPort(8080, "TCP", "0.0.0.0"),) if draw(st.integers(0, 3)) == 0 else ()
        key = f"ml/run-{i}"
        neighbours.add(ExistingPod(key, node, "ml", {"app": app}, anti, ports))
        units.append(VictimUnit(key, draw(st.integers(0, 5)), (VictimPod(key, node, {"cpu": 1000, "pods": 1}),)))
    return neighbours, units


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_every_placement_honours_the_inter_pod_rules_the_validator_reads_on_its_own(data: st.DataObject) -> None:
    nodes = data.draw(clusters())
    neighbours, units = data.draw(neighbourhoods(nodes))
    gang = data.draw(gangs())
    capacity = occupied(nodes, units)
    for greedy_only in (True, False):
        plan = place_gang(capacity, gang, PARAMS, greedy_only=greedy_only, neighbours=neighbours)
        assert validate_plan(capacity, gang, plan, neighbours=neighbours) == [], plan


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_every_preemption_honours_the_inter_pod_rules_and_evicts_only_what_it_needs(data: st.DataObject) -> None:
    nodes = data.draw(clusters())
    neighbours, units = data.draw(neighbourhoods(nodes))
    gang = data.draw(gangs())
    capacity = occupied(nodes, units)
    candidates: Candidates = eligible(units, [], 10)
    plan = preempt_gang(capacity, gang, candidates, PARAMS, neighbours=neighbours)
    if plan.placed:
        problems = validate_preemption(capacity, gang, plan, units, [], 10, neighbours=neighbours)
        assert problems == [], plan

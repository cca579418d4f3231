"""The simulator: deterministic, loses and duplicates nothing, shows the pod-by-pod deadlock, reports truthfully."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from scheduler.api.core import Node
from scheduler.sim.generate import ARRIVAL, REMOVAL
from scheduler.sim.report import summarize, summarize_all, write_report
from scheduler.sim.scenario import Policy, Scenario, load_scenario
from scheduler.sim.simulator import SimResult, Simulation

BUNDLED = Path(__file__).resolve().parents[3] / "scheduler" / "sim" / "scenarios"

# Two gangs that each need three quarters of the cluster, their pods created interleaved: a scheduler that
# places pods one by one gives each gang half the nodes and neither can ever run.
DEADLOCK = (
    """\
apiVersion: sim.phalanx.dev/v1alpha1
kind: Scenario
metadata: {name: deadlock}
spec:
  simulation: {horizonSeconds: 7200}
"""
    + "".join(
        f"""---
apiVersion: v1
kind: Node
metadata: {{name: n{i}, labels: {{kubernetes.io/hostname: n{i}}}}}
status:
  allocatable: {{cpu: "8", nvidia.com/gpu: 8, pods: 110}}
  conditions: [{{type: Ready, status: "True"}}]
"""
        for i in range(4)
    )
    + "".join(
        f"""---
apiVersion: scheduling.phalanx.dev/v1alpha1
kind: PodGroup
metadata: {{name: {g}, namespace: ml}}
spec: {{schedulingPolicy: {{gang: {{minCount: 3}}}}}}
"""
        for g in ("a", "b")
    )
    + "".join(
        f"""---
apiVersion: v1
kind: Pod
metadata:
  name: {g}{i}
  namespace: ml
  labels: {{scheduling.phalanx.dev/pod-group: {g}}}
  creationTimestamp: "2026-01-01T00:00:{2 * i + (g == "b"):02d}Z"
  annotations: {{sim.phalanx.dev/run-seconds: "600"}}
spec:
  schedulerName: phalanx
  containers: [{{name: c, resources: {{limits: {{nvidia.com/gpu: 8}}}}}}]
"""
        for i in range(3)
        for g in ("a", "b")
    )
)


@pytest.fixture(scope="module")
def deadlock(tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    path = tmp_path_factory.mktemp("sim") / "deadlock.yaml"
    path.write_text(DEADLOCK)
    return load_scenario(path)


def run(scenario: Scenario, policy: Policy) -> SimResult:
    return Simulation(scenario, policy, audit=True).run()


def test_pod_by_pod_deadlocks_with_partial_gangs_while_phalanx_runs_both(deadlock: Scenario) -> None:
    pods = summarize(run(deadlock, Policy.POD_BY_POD))
    gangs = summarize(run(deadlock, Policy.PHALANX))
    assert pods.never_started == 2
    assert pods.partial_hours > 0
    assert gangs.completed == 2
    assert gangs.partial_hours == 0


@pytest.mark.parametrize("policy", list(Policy), ids=lambda p: p.value)
def test_the_same_seed_gives_the_same_run(policy: Policy) -> None:
    scenario = load_scenario(BUNDLED / "demo.yaml")
    first, second = run(scenario, policy), run(scenario, policy)
    assert first.log == second.log
    # Everything but wall-clock decision times.
    untimed = [replace(summarize(r), decision_p50_ms=0.0, decision_p99_ms=0.0) for r in (first, second)]
    assert untimed[0] == untimed[1]


@pytest.mark.parametrize("policy", list(Policy), ids=lambda p: p.value)
def test_no_pod_is_lost_or_duplicated_and_no_node_overcommitted(policy: Policy) -> None:
    # audit=True checks every step; here, also the end state of a contended run.
    scenario = load_scenario(BUNDLED / "demo.yaml")
    result = run(scenario, policy)
    starts = [e for e in result.log if e["event"] == "start"]
    for job in result.jobs:
        if job.finished is not None:
            assert job.started is not None
            assert job.finished >= job.started
    assert len({e["job"] for e in starts}) == sum(j.started is not None for j in result.jobs)


def test_the_report_files_exist_and_agree_with_the_event_log(tmp_path: Path) -> None:
    scenario = load_scenario(BUNDLED / "demo.yaml")
    results = [run(scenario, p) for p in Policy]
    summaries = [summarize(r) for r in results]
    files = write_report(scenario.name, results, summaries, tmp_path)
    charts = ["comparison.png", "heatmap.png", "timeline.png", "utilisation.png", "waits.png"]
    assert sorted(f.name for f in files) == sorted(["report.json", *charts])
    for f in files:
        assert f.stat().st_size > 0
    data = json.loads((tmp_path / "report.json").read_text())
    for summary in summaries:
        entry = data["policies"][summary.policy]
        events = entry["events"]
        assert entry["summary"]["completed"] == sum(e["event"] == "complete" for e in events)
        assert entry["summary"]["started"] == len({e["job"] for e in events if e["event"] == "start"})
        assert entry["summary"]["victim_pods"] == sum(len(e["victims"]) for e in events if e["event"] == "preempt")
        assert entry["summary"]["preemptions"] == sum(e["event"] == "preempt" for e in events)
        assert entry["summary"]["jobs"] == len(entry["jobs"])


def test_phalanx_keeps_gangs_whole_and_waits_less_than_pod_by_pod_on_the_demo() -> None:
    scenario = load_scenario(BUNDLED / "demo.yaml")
    phalanx, pods = summarize_all([run(scenario, p) for p in (Policy.PHALANX, Policy.POD_BY_POD)])
    assert phalanx.partial_hours < pods.partial_hours
    assert phalanx.mean_wait_s is not None
    assert pods.mean_wait_s is not None
    assert phalanx.mean_wait_s < pods.mean_wait_s
    assert phalanx.one_rack is not None
    assert pods.one_rack is not None
    assert phalanx.one_rack > pods.one_rack


def test_a_bad_simulation_annotation_is_reported_with_the_pod(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(DEADLOCK.replace('sim.phalanx.dev/run-seconds: "600"', "sim.phalanx.dev/run-seconds: soon", 1))
    with pytest.raises(Exception, match="run-seconds must be a non-negative number of seconds, got 'soon'"):
        Simulation(load_scenario(path), Policy.PHALANX)


def test_bundled_contended_and_scale_scenarios_load() -> None:
    contended = load_scenario(BUNDLED / "contended.yaml")
    assert len(contended.nodes) == 64
    assert len(contended.pod_groups) == 160
    scale = load_scenario(BUNDLED / "scale.yaml")
    assert len(scale.nodes) == 5000
    assert len(scale.pod_groups) == 2000


def annotated(node: Node, annotations: dict[str, str]) -> Node:
    return node.model_copy(update={"metadata": node.metadata.model_copy(update={"annotations": annotations})})


def test_a_node_that_leaves_stops_its_jobs_which_resume_elsewhere(deadlock: Scenario) -> None:
    # Three nodes at first, a fourth joins at t=100: the gang of three starts at 0 on n0-n2, loses n0 at 300,
    # and starts again from scratch on the three nodes left.
    timing = {"n0": {REMOVAL: "300"}, "n3": {ARRIVAL: "100"}}
    nodes = tuple(
        n.model_copy(
            update={"metadata": n.metadata.model_copy(update={"annotations": timing.get(n.metadata.name, {})})}
        )
        for n in deadlock.nodes
    )
    scenario = replace(deadlock, nodes=nodes, pods=tuple(p for p in deadlock.pods if p.metadata.name[0] == "a"))
    result = run(scenario, Policy.PHALANX)
    (job,) = result.jobs
    assert [e["event"] for e in result.log if e["event"].startswith("node")] == ["node-added", "node-removed"]
    assert job.started == 0
    assert job.interruptions == 1
    assert job.lost == 300 * 24  # 300 s of three 8-GPU pods thrown away
    assert job.finished == 300 + 600


def test_a_node_that_joins_later_unblocks_a_waiting_gang(deadlock: Scenario) -> None:
    late = [annotated(n, {ARRIVAL: "1000"}) if n.metadata.name in ("n2", "n3") else n for n in deadlock.nodes]
    scenario = replace(deadlock, nodes=tuple(late), pods=tuple(p for p in deadlock.pods if p.metadata.name[0] == "a"))
    result = run(scenario, Policy.PHALANX)
    (job,) = result.jobs
    assert job.started == 1000


def test_samples_hold_every_offered_resource_and_a_preemption_names_the_racks_of_its_victims() -> None:
    scenario = load_scenario(BUNDLED / "demo.yaml")
    result = run(scenario, Policy.PHALANX)
    first = result.samples[0]
    assert set(first.resources) == {"cpu", "memory", "nvidia.com/gpu"}  # every resource the nodes offer but pods
    assert first.resources["nvidia.com/gpu"] == (first.capacity, first.allocated, first.running)
    preempt = next(e for e in result.log if e["event"] == "preempt")
    # The pre-training gang evicts the evaluation gang, which runs on one rack of block 1.
    assert preempt["preemptor"] == "ml/llm-pretrain-workers"
    assert preempt["racks"] == ["zone-a/block-1/block-1-rack-1"]

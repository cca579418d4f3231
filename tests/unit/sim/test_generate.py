"""Seeded generators: several arrival streams, the pod constraints a template gives its gangs, and errors that
point at the template."""

from __future__ import annotations

from pathlib import Path

import pytest

from scheduler.api.podgroup import POD_GROUP_LABEL
from scheduler.sim.generate import ARRIVAL
from scheduler.sim.scenario import Policy, ScenarioError, load_scenario
from scheduler.sim.simulator import Simulation

HEAD = """\
apiVersion: sim.phalanx.dev/v1alpha1
kind: Scenario
metadata: {name: generated}
spec:
  cluster:
    racksPerBlock: 2
    nodesPerRack: 4
    shapes:
    - name: gpu
      allocatable: {cpu: "32", nvidia.com/gpu: 8, pods: 110}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "generated.yaml"
    path.write_text(text)
    return path


def template(name: str, extra: str = "") -> str:
    return f"""\
    - name: {name}
      sizes: [4]
      requests: {{cpu: "4", nvidia.com/gpu: 2}}
{extra}"""


def test_a_second_workload_arrives_from_its_own_start(tmp_path: Path) -> None:
    text = (
        HEAD
        + "  workload:\n  - {gangs: 3, meanInterarrivalSeconds: 10, templates: [{name: early, sizes: [1], "
        + 'requests: {cpu: "1"}}]}\n'
        + "  - {gangs: 2, startSeconds: 5000, meanInterarrivalSeconds: 10, templates: [{name: late, sizes: [1], "
        + 'requests: {cpu: "1"}}]}\n'
    )
    scenario = load_scenario(write(tmp_path, text))
    arrivals = {p.metadata.name: float(p.metadata.annotations[ARRIVAL]) for p in scenario.pods}
    assert len(arrivals) == 5
    assert max(t for name, t in arrivals.items() if name.startswith("early")) < 5000
    assert min(t for name, t in arrivals.items() if name.startswith("late")) > 5000


def test_a_single_workload_mapping_still_loads(tmp_path: Path) -> None:
    text = HEAD + "  workload:\n    gangs: 2\n    templates:\n" + template("solo")
    assert len(load_scenario(write(tmp_path, text)).pod_groups) == 2


def test_two_workloads_that_generate_the_same_podgroup_are_refused(tmp_path: Path) -> None:
    stream = "  - {gangs: 1, templates: [{name: same, sizes: [1], requests: {cpu: '1'}}]}\n"
    with pytest.raises(ScenarioError, match=r"spec.workload\[1\] generates PodGroup default/same-00000"):
        load_scenario(write(tmp_path, HEAD + "  workload:\n" + stream + stream))


def test_a_template_anti_affinity_keeps_one_pod_of_the_gang_per_node(tmp_path: Path) -> None:
    text = (
        HEAD
        + "  workload:\n    gangs: 1\n    templates:\n"
        + template("spread", "      antiAffinity: kubernetes.io/hostname\n")
    )
    scenario = load_scenario(write(tmp_path, text))
    pod = scenario.pods[0]
    assert pod.spec.affinity is not None
    assert pod.spec.affinity.pod_anti_affinity is not None
    (term,) = pod.spec.affinity.pod_anti_affinity.required_during_scheduling_ignored_during_execution
    assert term.topology_key == "kubernetes.io/hostname"
    assert term.label_selector is not None
    assert term.label_selector.match_labels == {POD_GROUP_LABEL: "spread-00000"}
    result = Simulation(scenario, Policy.PHALANX, audit=True).run()
    (job,) = result.jobs
    assert job.started is not None
    # Two pods of 2 GPUs would fit one 8-GPU node; the rule gives each pod a node of its own.
    binds = [e for e in result.log if e["event"] == "bind"]
    assert [e["pods"] for e in binds] == [4]


def test_a_template_spread_is_a_do_not_schedule_constraint_over_the_gang_alone(tmp_path: Path) -> None:
    extra = "      spread: {key: network.phalanx.dev/rack, maxSkew: 1}\n"
    scenario = load_scenario(
        write(tmp_path, HEAD + "  workload:\n    gangs: 1\n    templates:\n" + template("s", extra))
    )
    (constraint,) = scenario.pods[0].spec.topology_spread_constraints
    assert (constraint.topology_key, constraint.max_skew, constraint.when_unsatisfiable) == (
        "network.phalanx.dev/rack",
        1,
        "DoNotSchedule",
    )
    result = Simulation(scenario, Policy.PHALANX, audit=True).run()
    # Four pods, two racks, skew at most one: two in each rack.
    assert [j.racks for j in result.jobs] == [2]


def test_a_template_rule_with_a_bad_topology_key_is_an_error_at_its_line(tmp_path: Path) -> None:
    text = HEAD + "  workload:\n    gangs: 1\n    templates:\n" + template("bad", "      antiAffinity: 'not a key!'\n")
    path = write(tmp_path, text)
    with pytest.raises(ScenarioError) as exc:
        load_scenario(path)
    assert f"{path}:17: Scenario generated: spec.workload[0].templates[0].antiAffinity" in str(exc.value)
    assert "is not a valid label key" in str(exc.value)


def test_a_warning_about_generated_gangs_points_at_their_template(tmp_path: Path) -> None:
    text = (
        HEAD
        + "  workload:\n    gangs: 1\n    templates:\n"
        + template("ok")
        + template("huge", "      priorityClassName: nope\n").replace("sizes: [4]", "sizes: [40]")
    )
    path = write(tmp_path, text.replace("gangs: 1", "gangs: 6"))
    huge = [w for w in load_scenario(path).warnings if "huge" in w]
    assert len(huge) >= 2  # larger than the cluster, and an unknown priority class
    assert all(w.startswith(f"{path}:17: PodGroup default/huge-") for w in huge)

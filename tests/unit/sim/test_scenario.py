from pathlib import Path

import pytest

from scheduler.sim.scenario import ScenarioError, bundled_scenarios, load_scenario

BUNDLED = Path(__file__).resolve().parents[3] / "scheduler" / "sim" / "scenarios"

NODE = """\
apiVersion: v1
kind: Node
metadata:
  name: n1
  labels: {kubernetes.io/hostname: n1}
status:
  allocatable: {cpu: "8", memory: 32Gi, pods: 110}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "scenario.yaml"
    path.write_text(text)
    return path


def test_the_bundled_demo_loads_with_its_gangs_and_a_warning_for_the_orphan_pod() -> None:
    scenario = load_scenario(BUNDLED / "demo.yaml")
    assert scenario.name == "demo"
    assert len(scenario.nodes) == 18
    names = {g.metadata.name for g in scenario.pod_groups}
    assert {"llm-pretrain-workers", "finetune-job", "batch-eval"} <= names
    assert len(names) == 3 + 40  # and the generated arrivals
    finetune = next(g for g in scenario.pod_groups if g.metadata.name == "finetune-job")
    assert len(scenario.pods_of(finetune)) == 9
    assert sum(p.spec.node_name is not None for p in scenario.pods) == 4  # the evaluation gang already runs
    assert scenario.warnings == (
        f"{BUNDLED / 'demo.yaml'}:825: Pod research/orphan-worker names PodGroup 'sweep-7', which does not exist: "
        "it will wait",
    )


def test_a_bad_field_is_reported_with_file_line_and_field(tmp_path: Path) -> None:
    text = (
        NODE
        + """\
---
apiVersion: scheduling.phalanx.dev/v1alpha1
kind: Workload
metadata: {name: train}
spec:
  podGroupTemplates:
  - name: workers
    schedulingPolicy:
      gang:
        minCount: 0
"""
    )
    path = write(tmp_path, text)
    with pytest.raises(ScenarioError) as exc:
        load_scenario(path)
    message = str(exc.value)
    assert message.startswith(f"{path}:17: Workload default/train: spec.podGroupTemplates[0].schedulingPolicy")
    assert "gang.minCount: Input should be greater than or equal to 1" in message


def test_invalid_yaml_is_reported_with_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, NODE + "---\nkind: Pod\nmetadata: {name: [unclosed\n")
    with pytest.raises(ScenarioError, match=r"scenario.yaml:\d+: not valid YAML"):
        load_scenario(path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("kind: Deployment\nmetadata: {name: x}\n", "kind 'Deployment' is not supported"),
        ("kind: Pod\nmetadata: {}\n", "metadata.name is required"),
        ("- just\n- a list\n", "must be a mapping"),
        (NODE + "---\n" + NODE, "Node n1 is already defined at line 1"),
        ("", "holds no documents"),
    ],
    ids=["unknown-kind", "no-name", "not-a-mapping", "duplicate", "empty"],
)
def test_structural_mistakes_are_named(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ScenarioError, match=message):
        load_scenario(write(tmp_path, text))


def test_a_missing_file_is_an_error_not_a_crash(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="cannot read"):
        load_scenario(tmp_path / "nope.yaml")


def test_an_explicit_group_that_clashes_with_a_stamped_one_is_refused(tmp_path: Path) -> None:
    text = """\
kind: Workload
apiVersion: scheduling.phalanx.dev/v1alpha1
metadata: {name: a}
spec:
  podGroupTemplates: [{name: b, schedulingPolicy: {basic: {}}}]
---
kind: PodGroup
apiVersion: scheduling.phalanx.dev/v1alpha1
metadata: {name: a-b}
spec: {schedulingPolicy: {basic: {}}}
"""
    with pytest.raises(ScenarioError, match="defined explicitly and also stamped out"):
        load_scenario(write(tmp_path, text))


READY_NODE = """\
apiVersion: v1
kind: Node
metadata: {name: n1, labels: {kubernetes.io/hostname: n1, network.phalanx.dev/rack: r1}}
status:
  allocatable: {cpu: "8", nvidia.com/gpu: 8, pods: 110}
  conditions: [{type: Ready, status: "True"}]
"""


def gang(name: str = "g", spec: str = "schedulingPolicy: {gang: {minCount: 2}}", pods: int = 0, gpus: int = 1) -> str:
    text = f"""\
---
apiVersion: scheduling.phalanx.dev/v1alpha1
kind: PodGroup
metadata: {{name: {name}, namespace: ml}}
spec: {{{spec}}}
"""
    for i in range(pods):
        text += f"""\
---
apiVersion: v1
kind: Pod
metadata: {{name: {name}-{i}, namespace: ml, labels: {{scheduling.phalanx.dev/pod-group: {name}}}}}
spec:
  containers: [{{name: c, resources: {{limits: {{nvidia.com/gpu: {gpus}}}}}}}]
"""
    return text


def test_every_validation_error_is_listed_with_unknown_fields_first_and_the_nearest_known_name(
    tmp_path: Path,
) -> None:
    path = write(tmp_path, READY_NODE + gang(spec="schedulingPolicy: {gang: {mincount: 2}}, priority: high"))
    with pytest.raises(ScenarioError) as exc:
        load_scenario(path)
    problems = exc.value.problems
    assert len(problems) == 3
    assert problems[0] == (
        f"{path}:11: PodGroup ml/g: spec.schedulingPolicy.gang.mincount: unknown field; did you mean minCount?"
    )
    assert any("spec.schedulingPolicy.gang.minCount: Field required" in p for p in problems[1:])
    assert any("spec.priority: Input should be a valid integer" in p for p in problems[1:])
    assert str(exc.value).startswith(f"{path}: 3 problems:\n")


def test_errors_in_several_documents_are_all_reported_in_one_go(tmp_path: Path) -> None:
    text = (
        READY_NODE + gang("a", "schedulingPolicy: {gang: {minCount: 0}}") + gang("b", "schedulingPolicy: {gangg: {}}")
    )
    with pytest.raises(ScenarioError) as exc:
        load_scenario(write(tmp_path, text))
    problems = exc.value.problems
    assert "PodGroup ml/b: spec.schedulingPolicy.gangg: unknown field; did you mean gang?" in problems[0]
    assert any("PodGroup ml/a: spec.schedulingPolicy.gang.minCount" in p for p in problems[1:])


def test_an_unknown_kind_suggests_the_nearest_supported_one(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="did you mean PodGroup"):
        load_scenario(write(tmp_path, "kind: PodGrup\nmetadata: {name: x}\n"))


def test_a_node_without_a_ready_condition_is_warned_about_with_its_line(tmp_path: Path) -> None:
    scenario = load_scenario(write(tmp_path, READY_NODE + "---\n" + NODE.replace("n1", "n2")))
    assert scenario.warnings == (
        f"{tmp_path / 'scenario.yaml'}:8: Node n2 has no Ready condition: it counts as NotReady and nothing will "
        "be placed on it",
    )


def test_a_topology_key_that_is_not_a_level_is_warned_about(tmp_path: Path) -> None:
    spec = "schedulingPolicy: {gang: {minCount: 1}}, schedulingConstraints: {topology: [{key: rack, mode: Required}]}"
    (warning,) = load_scenario(write(tmp_path, READY_NODE + gang(spec=spec))).warnings
    assert warning.startswith(f"{tmp_path / 'scenario.yaml'}:8: PodGroup ml/g: topology key rack is not one of")
    assert warning.endswith("the gang can never be placed")


def test_a_gang_larger_than_the_whole_cluster_is_warned_about(tmp_path: Path) -> None:
    (warning,) = load_scenario(write(tmp_path, READY_NODE + gang(pods=2, gpus=8))).warnings
    assert "PodGroup ml/g: minCount pods need more than the cluster (nvidia.com/gpu 16 of 8)" in warning
    assert warning.endswith("it can never start")


def test_an_unknown_priority_class_is_warned_about_once_with_the_nearest_defined_one(tmp_path: Path) -> None:
    classes = "---\napiVersion: scheduling.k8s.io/v1\nkind: PriorityClass\nmetadata: {name: training-high}\nvalue: 9\n"
    spec = "schedulingPolicy: {gang: {minCount: 1}}, priorityClassName: trainig-high"
    text = READY_NODE + classes + gang("a", spec) + gang("b", spec)
    (warning,) = load_scenario(write(tmp_path, text)).warnings
    assert "PodGroup ml/a: priorityClassName 'trainig-high' (did you mean training-high?) is not defined" in warning
    assert warning.endswith("1 more objects name it")


def test_the_bundled_contended_scenario_loads_without_warnings() -> None:
    assert load_scenario(BUNDLED / "contended.yaml").warnings == ()


SETTINGS = """\
apiVersion: sim.phalanx.dev/v1alpha1
kind: Scenario
metadata: {name: told}
spec:
  narrative: |-
"""


def test_a_narrative_of_more_than_two_lines_is_refused_at_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, SETTINGS + "    one\n    two\n    three\n")
    with pytest.raises(
        ScenarioError, match=r"scenario.yaml:5: Scenario told: spec.narrative: the narrative is 2 lines"
    ):
        load_scenario(path)


def test_a_narrative_line_wider_than_a_terminal_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="narrative line 2 is longer than 100 characters"):
        load_scenario(write(tmp_path, SETTINGS + "    short\n    " + "x" * 101 + "\n"))


# Warnings a bundled scenario shows on purpose: the demo's orphan pod, autoscale's gangs larger than the cluster.
MEANT = {"demo": "which does not exist: it will wait", "autoscale": "it starts only once the autoscaler adds nodes"}


@pytest.mark.parametrize("name", bundled_scenarios())
def test_every_bundled_scenario_tells_its_story_in_two_lines_and_warns_only_on_purpose(name: str) -> None:
    scenario = load_scenario(BUNDLED / f"{name}.yaml")
    assert len(scenario.narrative.splitlines()) == 2
    assert all(name in MEANT and MEANT[name] in w for w in scenario.warnings), scenario.warnings


def test_the_bundled_scenarios_are_listed_demo_first() -> None:
    names = bundled_scenarios()
    assert names[0] == "demo"
    assert {"fragmentation", "rack-preemption", "cheaper-victims", "pod-constraints"} <= set(names)
    assert sorted(names[1:]) == list(names[1:])

from pathlib import Path

import pytest

from scheduler.sim.scenario import ScenarioError, load_scenario

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
        "Pod research/orphan-worker names PodGroup 'sweep-7', which does not exist: it will wait",
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

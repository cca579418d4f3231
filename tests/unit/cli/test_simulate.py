from pathlib import Path

from typer.testing import CliRunner

from scheduler.cli.main import app

runner = CliRunner()


def test_simulate_without_arguments_shows_the_bundled_demo_and_writes_a_report(tmp_path: Path) -> None:
    result = runner.invoke(app, ["simulate", "--report-dir", str(tmp_path)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "Scenario demo" in result.output
    assert "ml/llm-pretrain-workers" in result.output
    assert "gang, minCount 16" in result.output
    assert "18 nodes, 43 pod groups" in result.output
    assert "Policies on the same trace" in result.output
    assert (tmp_path / "report.json").exists()
    assert f"Report: {tmp_path / 'report.json'}" in result.output
    # The preempted group comes back pending (its controller recreates its pods) and is decided again.
    assert "4/6 units scheduled, 27 pods placed." in result.output
    assert "research/batch-eval" in result.output  # preempted whole for the pre-training gang
    assert "PodGroup 'sweep-7' does not exist" in result.output


def test_simulate_on_a_bad_file_exits_2_with_the_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: Pod\nmetadata: {name: p}\nspec:\n  priority: not-a-number\n")
    result = runner.invoke(app, ["simulate", str(bad), "--report-dir", str(tmp_path)], env={"COLUMNS": "200"})
    assert result.exit_code == 2
    assert "bad.yaml:4: Pod default/p: spec.priority" in result.output


def test_version_prints_the_installed_version() -> None:
    result = runner.invoke(app, ["version"])
    assert result.exit_code == 0
    assert result.output.startswith("phalanx ")

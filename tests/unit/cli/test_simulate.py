import json
from pathlib import Path

from typer.testing import CliRunner

from scheduler.cli.main import app
from scheduler.sim.scenario import bundled_scenarios

runner = CliRunner()


def test_simulate_without_arguments_shows_the_bundled_demo_and_writes_a_report(tmp_path: Path) -> None:
    result = runner.invoke(app, ["simulate", "--report-dir", str(tmp_path)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "Scenario demo" in result.output
    assert "ml/llm-pretrain-workers" in result.output
    assert "gang 16" in result.output
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


def test_an_unknown_scenario_name_lists_the_bundled_ones_and_suggests_the_nearest(tmp_path: Path) -> None:
    result = runner.invoke(app, ["simulate", "demoo", "--report-dir", str(tmp_path)], env={"COLUMNS": "200"})
    assert result.exit_code == 2
    assert "demoo: no such file, and not a bundled scenario" in result.output
    assert f"(those are: {', '.join(bundled_scenarios())})" in " ".join(result.output.split())
    assert "fragmentation" in bundled_scenarios()
    assert "did you mean demo?" in result.output


def test_an_unwritable_report_directory_fails_before_the_simulation_runs(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = runner.invoke(app, ["simulate", "--report-dir", str(blocker / "report")], env={"COLUMNS": "200"})
    assert result.exit_code == 2
    assert f"cannot write the report to {blocker / 'report'}" in result.output
    assert "Scenario demo" not in result.output  # refused before anything was shown or simulated


def test_an_error_quoting_a_regular_expression_prints_it_verbatim(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: Node\nmetadata: {name: n}\nstatus:\n  allocatable: {memory: 32 gigs}\n")
    result = runner.invoke(app, ["simulate", str(bad), "--report-dir", str(tmp_path)], env={"COLUMNS": "200"})
    assert result.exit_code == 2
    assert "quantity '32 gigs' must match the regular expression" in result.output
    assert "[eEinumkKMGTP]" in result.output


def test_every_problem_of_a_bad_file_is_listed(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "kind: Pod\nmetadata: {name: p}\nspec:\n  priority: not-a-number\n---\n"
        "apiVersion: scheduling.phalanx.dev/v1alpha1\nkind: PodGroup\nmetadata: {name: g}\n"
        "spec: {schedulingPolicy: {gang: {mincount: 2}}}\n"
    )
    result = runner.invoke(app, ["simulate", str(bad), "--report-dir", str(tmp_path)], env={"COLUMNS": "200"})
    assert result.exit_code == 2
    assert "bad.yaml: 3 problems:" in result.output
    lines = [line.strip() for line in result.output.splitlines() if "bad.yaml:" in line][1:]
    assert lines[0].endswith("spec.schedulingPolicy.gang.mincount: unknown field; did you mean minCount?")
    assert any("bad.yaml:4: Pod default/p: spec.priority" in line for line in lines)


def test_the_demo_comparison_is_over_one_window_for_every_policy(tmp_path: Path) -> None:
    result = runner.invoke(app, ["simulate", "--report-dir", str(tmp_path)], env={"COLUMNS": "100"})
    assert result.exit_code == 0, result.output
    assert "Policies on the same trace, over 0\u20137.2 h" in result.output
    assert max(len(line) for line in result.output.splitlines()) <= 100
    data = json.loads((tmp_path / "report.json").read_text())
    windows = {p["summary"]["window_s"] for p in data["policies"].values()}
    assert len(windows) == 1


def test_no_switch_of_simulate_or_run_offers_a_double_negation() -> None:
    for command in ("simulate", "run"):
        result = runner.invoke(app, [command, "--help"], env={"COLUMNS": "200"})
        assert result.exit_code == 0
        assert "--no-no-" not in result.output, command
    assert "--no-preemption" in runner.invoke(app, ["run", "--help"], env={"COLUMNS": "200"}).output


def test_a_bad_flag_value_is_reported_under_the_flag_that_gave_it() -> None:
    result = runner.invoke(app, ["run", "--time-limit", "-1"])
    assert result.exit_code == 2
    assert "error: --time-limit: solver.timeLimitSeconds: Input should be greater than 0" in result.output


def test_a_bad_environment_value_is_reported_under_its_variable(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("schedulerName: fine\n")
    result = runner.invoke(app, ["run", "--config", str(config)], env={"PHALANX_METRICS_PORT": "eighty"})
    assert result.exit_code == 2
    assert "error: $PHALANX_METRICS_PORT: metricsPort: Input should be a valid integer" in result.output


def test_a_bad_file_value_is_reported_under_the_file_even_beside_good_variables(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("solver: {numWorkers: 0}\n")
    result = runner.invoke(app, ["run", "--config", str(config)], env={"PHALANX_CLIENT_QPS": "50"})
    assert result.exit_code == 2
    assert f"error: {config}: solver.numWorkers" in result.output


def test_a_given_report_directory_is_checked_even_before_the_scenario_loads(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = runner.invoke(app, ["simulate", "scale", "--report-dir", str(blocker / "r")], env={"COLUMNS": "200"})
    assert result.exit_code == 2
    assert f"cannot write the report to {blocker / 'r'}" in result.output

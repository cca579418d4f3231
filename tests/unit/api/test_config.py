from pathlib import Path

import pytest
from typer.testing import CliRunner

from scheduler.api.config import ConfigError, load_config
from scheduler.cli.main import app
from scheduler.kube.operator import operator_config
from scheduler.solver.problem import SolverParams


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return path


def test_defaults_need_no_file() -> None:
    config = load_config(env={})
    assert config.scheduler_name == "phalanx"
    assert config.topology_levels[-1] == "kubernetes.io/hostname"
    assert config.solver.num_workers == 1


def test_the_environment_overrides_the_file_and_flags_override_both(tmp_path: Path) -> None:
    path = write(tmp_path, "schedulerName: from-file\nsolver: {timeLimitSeconds: 2}\nclient: {qps: 50}\n")
    env = {"PHALANX_SCHEDULER_NAME": "from-env", "PHALANX_CLIENT_QPS": "80", "PHALANX_TOPOLOGY_LEVELS": "zone,rack"}
    config = load_config(path, env=env, overrides={"client.qps": 120.0})
    assert config.scheduler_name == "from-env"
    assert config.solver.time_limit_seconds == 2
    assert config.client.qps == 120
    assert config.topology_levels == ["zone", "rack"]


def test_the_solvers_relative_gap_from_the_file_is_the_one_the_operator_decides_with(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "solver: {relativeGap: 0.01}\n"), env={})
    assert operator_config(config, None, None).params.relative_gap == 0.01
    assert operator_config(load_config(env={}), None, None).params.relative_gap == SolverParams().relative_gap


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("solver: {numWorkers: 0}\n", "solver.numWorkers: Input should be greater than or equal to 1"),
        ("solver: {relativeGap: 2}\n", "solver.relativeGap: Input should be less than or equal to 0.5"),
        ("schedulerName: Not_A_Name\n", "schedulerName: schedulerName 'Not_A_Name' must be a DNS-1123 subdomain"),
        ("topologyLevels: [rack, rack]\n", "topologyLevels: topology levels must not repeat"),
        ("clinet: {qps: 1}\n", "clinet: Extra inputs are not permitted"),
        ("- a list\n", "the configuration must be a mapping"),
    ],
    ids=["range", "gap", "name", "repeat", "typo", "shape"],
)
def test_bad_configuration_names_the_file_and_the_field(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as exc:
        load_config(path, env={})
    assert str(exc.value).startswith(str(path))
    assert message in str(exc.value)


def test_phalanx_run_refuses_a_bad_configuration_before_connecting(tmp_path: Path) -> None:
    path = write(tmp_path, "metricsPort: 70000\n")
    result = CliRunner().invoke(app, ["run", "--config", str(path)])
    assert result.exit_code == 2
    assert "metricsPort: Input should be less than or equal to 65535" in result.output

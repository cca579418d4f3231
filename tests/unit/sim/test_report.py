"""The report's figures: one window for every policy, and no figure invented where there is no data."""

from __future__ import annotations

from pathlib import Path

import pytest

from scheduler.sim.report import ReportDirError, check_writable, common_window, summarize, summarize_all
from scheduler.sim.scenario import Policy, load_scenario
from scheduler.sim.simulator import Job, Sample, SimResult, Simulation

BUNDLED = Path(__file__).resolve().parents[3] / "scheduler" / "sim" / "scenarios"
HOUR = 3600.0


def result(policy: Policy, jobs: list[Job], samples: list[Sample], end: float) -> SimResult:
    return SimResult(policy, "nvidia.com/gpu", 8, jobs, samples, [], [], end)


def job(key: str, started: float | None, finished: float | None, pods: int = 1) -> Job:
    return Job(key, [f"{key}-{i}" for i in range(pods)], pods, 0.0, HOUR, started=started, finished=finished)


def busy_then_idle(policy: Policy, until: float, end: float, *, stuck: bool = False) -> SimResult:
    """All 8 GPUs running one job until `until`, then idle; `stuck` adds a job that never starts, which keeps
    the run going to `end` (the horizon), as an orphan pod does."""
    jobs = [job("a", 0.0, until)] + ([job("orphan", None, None)] if stuck else [])
    samples = [Sample(0.0, 8, 8, 8, 0), Sample(until, 8, 0, 0, 0)]
    if stuck:
        samples.append(Sample(end, 8, 0, 0, 0))
    return result(policy, jobs, samples, end if stuck else until)


def test_every_policy_is_averaged_over_one_window_ending_at_the_last_completion() -> None:
    stuck = busy_then_idle(Policy.PHALANX, 6 * HOUR, 12 * HOUR, stuck=True)
    quick = busy_then_idle(Policy.POD_BY_POD, 3 * HOUR, 3 * HOUR)
    phalanx, pods = summarize_all([stuck, quick])
    assert phalanx.window_s == pods.window_s == 6 * HOUR
    # Over its own 12-hour run the stuck policy would look half idle; over the common window it was busy.
    assert phalanx.useful_utilisation == pytest.approx(1.0)
    # The quick policy's run ended at 3 h with nothing left to do: idle, not missing, until 6 h.
    assert pods.useful_utilisation == pytest.approx(0.5)


def test_partial_gang_hours_stop_at_the_window_rather_than_run_to_the_horizon() -> None:
    deadlocked = result(
        Policy.POD_BY_POD,
        [job("a", 0.0, HOUR), job("b", None, None, pods=2)],
        [Sample(0.0, 8, 8, 4, 4), Sample(HOUR, 8, 4, 0, 4), Sample(12 * HOUR, 8, 4, 0, 4)],
        12 * HOUR,
    )
    (summary,) = summarize_all([deadlocked])
    assert summary.window_s == HOUR
    assert summary.partial_hours == pytest.approx(4.0)


def test_the_window_falls_back_to_the_horizon_when_no_policy_completes_a_job() -> None:
    never = result(Policy.PHALANX, [job("a", None, None)], [Sample(0.0, 8, 0, 0, 0), Sample(HOUR, 8, 0, 0, 0)], HOUR)
    window = common_window([never])
    assert window.end_s == HOUR
    assert "horizon" in window.basis


def test_figures_without_data_are_none_rather_than_zero() -> None:
    never = result(Policy.PHALANX, [job("a", None, None)], [Sample(0.0, 8, 0, 0, 0)], HOUR)
    summary = summarize(never)
    assert summary.mean_wait_s is None
    assert summary.p50_wait_s is None
    assert summary.p95_wait_s is None
    assert summary.makespan_s is None
    assert summary.one_rack is None
    assert summary.one_block is None
    assert summary.decision_p50_ms is None
    assert summary.decision_p99_ms is None


def test_waits_are_split_by_priority_class_when_there_are_several() -> None:
    early, late = job("ml/a", 0.0, HOUR), job("ml/b", 600.0, HOUR)
    run = result(Policy.PHALANX, [early, late], [Sample(0.0, 8, 8, 8, 0)], HOUR)
    summary = summarize(run, classes={"ml/a": "high", "ml/b": "low"})
    assert [(c.priority_class, c.p50_s) for c in summary.waits_by_class] == [("high", 0.0), ("low", 600.0)]
    assert summarize(run, classes={"ml/a": "high", "ml/b": "high"}).waits_by_class == ()


def test_on_the_demo_the_orphan_pod_no_longer_makes_phalanx_look_idle() -> None:
    scenario = load_scenario(BUNDLED / "demo.yaml")
    results = [Simulation(scenario, p).run() for p in (Policy.PHALANX, Policy.POD_BY_POD)]
    assert results[0].end == scenario.simulation.horizon_seconds  # the orphan keeps phalanx's run going
    phalanx, pods = summarize_all(results)
    assert phalanx.window_s == pods.window_s < scenario.simulation.horizon_seconds
    # Held by running jobs, the two are within a few points once measured over the same hours.
    assert abs(phalanx.useful_utilisation - pods.useful_utilisation) < 0.05
    assert phalanx.partial_hours < pods.partial_hours


def test_a_report_directory_that_cannot_be_written_is_refused(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(ReportDirError, match="cannot write the report to"):
        check_writable(blocker / "report")


def test_a_writable_report_directory_is_created_and_left_empty(tmp_path: Path) -> None:
    folder = tmp_path / "a" / "b"
    check_writable(folder)
    assert folder.is_dir()
    assert list(folder.iterdir()) == []

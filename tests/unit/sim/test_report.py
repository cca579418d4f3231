"""The report's figures: one window for every policy, and no figure invented where there is no data."""

from __future__ import annotations

from pathlib import Path

import pytest

from scheduler.sim.report import ReportDirError, check_writable, common_window, summarize, summarize_all, verdict
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


def test_every_resource_is_averaged_over_the_window_the_measured_one_first() -> None:
    samples = [
        Sample(0.0, 8, 8, 4, 4, {"cpu": (100, 50, 25), "nvidia.com/gpu": (8, 8, 4), "memory": (10, 0, 0)}),
        Sample(HOUR, 8, 0, 0, 0, {"cpu": (100, 0, 0), "nvidia.com/gpu": (8, 0, 0), "memory": (10, 0, 0)}),
    ]
    run = result(Policy.PHALANX, [job("a", 0.0, 2 * HOUR)], samples, 2 * HOUR)
    shares = summarize(run).shares
    assert [s.resource for s in shares] == ["nvidia.com/gpu", "cpu", "memory"]
    assert (shares[0].allocated, shares[0].useful) == pytest.approx((0.5, 0.25))
    assert (shares[1].allocated, shares[1].useful) == pytest.approx((0.25, 0.125))
    assert (shares[2].allocated, shares[2].useful) == (0.0, 0.0)


def test_work_kept_counts_a_job_preempted_and_run_again_once() -> None:
    rerun = job("a", 0.0, 2 * HOUR)
    rerun.lost = 8 * HOUR  # 8 GPUs for the hour that preemption threw away
    run = result(Policy.PHALANX, [rerun], [Sample(0.0, 8, 8, 8, 0)], 2 * HOUR)
    summary = summarize(run)
    assert summary.useful_utilisation == pytest.approx(1.0)
    assert summary.kept_utilisation == pytest.approx(0.5)


def test_victims_are_counted_by_the_class_of_their_job_and_pod_by_pod_preemptions_of_a_gang_are_one() -> None:
    gang, low, mid = job("ml/gang", 60.0, HOUR, pods=2), job("ml/low", 0.0, HOUR, pods=2), job("ml/mid", 0.0, HOUR)
    log = [
        # Pod by pod, each pod of the gang preempts on its own at the same instant: one preemption, two racks.
        {"t": 60.0, "event": "preempt", "preemptor": "ml/gang-0", "victims": ["ml/low-0"], "racks": ["z/b/r1"]},
        {"t": 60.0, "event": "preempt", "preemptor": "ml/gang-1", "victims": ["ml/low-1"], "racks": ["z/b/r2"]},
        {"t": 900.0, "event": "preempt", "preemptor": "ml/gang", "victims": ["ml/mid-0"], "racks": ["z/b/r1"]},
    ]
    run = SimResult(Policy.POD_BY_POD, "nvidia.com/gpu", 8, [gang, low, mid], [Sample(0.0, 8, 8, 8, 0)], [], log, HOUR)
    summary = summarize(run, classes={"ml/low": "batch", "ml/mid": "research"})
    assert summary.victims_by_class == (("batch", 2), ("research", 1))
    assert summary.victim_racks == pytest.approx(1.5)  # two racks at t=60, one at t=900
    assert summarize(result(Policy.PHALANX, [gang], [Sample(0.0, 8, 0, 0, 0)], HOUR)).victim_racks is None


@pytest.mark.parametrize(
    ("mine", "theirs", "lower", "word", "ratio"),
    [
        (100.0, 100.5, True, "same", 100 / 100.5),
        (50.0, 100.0, True, "better", 0.5),
        (50.0, 100.0, False, "worse", 0.5),
        (0.0, 0.0, True, "same", None),
        (3.0, 0.0, True, "worse", None),
        (None, 4.0, True, "n/a", None),
    ],
    ids=["within-1%", "lower-better", "higher-better", "both-zero", "against-zero", "missing"],
)
def test_a_figure_is_better_worse_or_the_same_as_the_baselines(
    mine: float | None, theirs: float | None, lower: bool, word: str, ratio: float | None
) -> None:
    found = verdict(mine, theirs, lower_is_better=lower)
    assert found.word == word
    assert found.ratio == (pytest.approx(ratio) if ratio is not None else None)

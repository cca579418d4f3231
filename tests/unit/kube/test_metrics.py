"""The decision-time metrics: the longest decision and the count of decisions over 1.1 x the solver time limit."""

from __future__ import annotations

from prometheus_client import generate_latest

from scheduler.api.podgroup import ScheduledReason
from scheduler.engine.cycle import Decision
from scheduler.engine.units import EPOCH, Unit
from scheduler.kube.metrics import Metrics


def decision(seconds: float) -> Decision:
    unit = Unit("ns/g", priority=0, created=EPOCH, min_count=1, pending=(), bound=0)
    return Decision(unit, ScheduledReason.UNSCHEDULABLE, "no room", duration_s=seconds)


def sample(metrics: Metrics, name: str) -> float:
    for line in generate_latest(metrics.registry).decode().splitlines():
        if line.startswith(f"{name} "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not exported")


def test_the_longest_decision_and_those_over_the_limit_by_more_than_ten_percent_are_exported() -> None:
    metrics = Metrics()
    metrics.set_time_limit(2.0)
    for seconds in (0.5, 2.2, 2.21, 1.0):  # 2.2 is exactly 1.1 x the limit: not over
        metrics.observe(decision(seconds))
    assert sample(metrics, "phalanx_solver_time_limit_seconds") == 2.0
    assert sample(metrics, "phalanx_solver_max_decision_seconds") == 2.21
    assert sample(metrics, "phalanx_solver_over_limit_total") == 1


def test_without_a_limit_nothing_counts_as_over_it() -> None:
    metrics = Metrics()
    metrics.observe(decision(30.0))
    assert sample(metrics, "phalanx_solver_over_limit_total") == 0
    assert sample(metrics, "phalanx_solver_max_decision_seconds") == 30.0

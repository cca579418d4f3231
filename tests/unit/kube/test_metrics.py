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


def test_the_slis_api_requests_and_watch_restarts_are_exported_with_bounded_labels() -> None:
    metrics = Metrics()
    metrics.gang_bound("high", 0.2, 1.5)
    metrics.waiting_by_family({"resources": 3, "quorum": 1})
    metrics.evictions_in_flight(2)
    metrics.api_request("bind", 201, 0.004)
    metrics.api_request("bind", 0, 30.0)
    metrics.watch_restarts.labels("Pod").inc()
    text = generate_latest(metrics.registry).decode()
    assert 'phalanx_gang_wait_duration_seconds_count{priority_class="high"} 1.0' in text
    assert 'phalanx_scheduling_sli_duration_seconds_sum{priority_class="high"} 1.5' in text
    assert 'phalanx_unschedulable_units{family="resources"} 3.0' in text
    assert 'phalanx_unschedulable_units{family="topology"} 0.0' in text  # every family, so absent means 0
    assert "phalanx_evictions_in_flight 2.0" in text
    assert 'phalanx_api_request_duration_seconds_count{code="0",verb="bind"} 1.0' in text
    assert 'phalanx_watch_restarts_total{kind="Pod"} 1.0' in text

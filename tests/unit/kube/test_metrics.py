"""The metrics: the longest decision and those over 1.1 x the solver time limit, the SLIs with bounded labels, and
what the engine reports through them (queue incoming by event, preemption stages), driven through the engine."""

from __future__ import annotations

from typing import Any, cast

from kubernetes_asyncio import client
from prometheus_client import generate_latest

from scheduler.api.core import Pod
from scheduler.api.podgroup import ScheduledReason
from scheduler.engine.cycle import Decision, EngineConfig
from scheduler.engine.driver import GAUGE_INTERVAL_S, Engine
from scheduler.engine.effects import Done, Evict, Outcome
from scheduler.engine.observer import EVENTS, STAGES
from scheduler.engine.state import pod_info
from scheduler.engine.units import EPOCH, Unit
from scheduler.kube.metrics import Metrics
from scheduler.kube.watch import ResourceWatcher
from scheduler.topology.nodes import strip_node
from tests.unit.engine.port import Clock, Port, run
from tests.unit.engine.test_cycle import cluster, group, node, pod


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


def value(metrics: Metrics, name: str, **labels: str) -> float:
    found = metrics.registry.get_sample_value(name, labels)
    assert found is not None, f"{name}{labels} not exported"
    return found


def test_every_event_and_stage_is_exported_at_zero_before_anything_happens() -> None:
    metrics = Metrics()
    for event in EVENTS:
        assert value(metrics, "phalanx_queue_incoming_units_total", event=event) == 0
    for stage in STAGES:
        assert value(metrics, "phalanx_preemption_duration_seconds_count", stage=stage) == 0
    assert value(metrics, "phalanx_schedule_attempts_total", result="error") == 0


class Listing:
    """A list answer with nothing in it."""

    status = 200

    async def read(self) -> bytes:
        return b'{"metadata": {"resourceVersion": "7"}, "items": []}'


class Lister(ResourceWatcher):
    """A pod watcher whose every list is answered by `Listing`, no API server involved."""

    def __init__(self) -> None:
        super().__init__(cast(client.ApiClient, None), "Pod", "", "v1", "pods", on_event=lambda deleted, body: None)

    async def _get(self, query: list[tuple[str, Any]]) -> Any:
        return Listing()


async def test_a_watchers_relists_are_the_listings_after_its_first_and_counted_from_zero_with_its_restarts() -> None:
    metrics = Metrics()
    watcher = Lister()
    metrics.follow(watcher)
    assert value(metrics, "phalanx_watch_relists_total", kind="Pod") == 0
    assert value(metrics, "phalanx_watch_restarts_total", kind="Pod") == 0
    await watcher._list()  # the first listing, at start: not a relist
    assert value(metrics, "phalanx_watch_relists_total", kind="Pod") == 0
    await watcher._list()
    await watcher._list()
    watcher.on_restart("Pod")
    assert value(metrics, "phalanx_watch_relists_total", kind="Pod") == 2
    assert value(metrics, "phalanx_watch_restarts_total", kind="Pod") == 1


def incoming(metrics: Metrics) -> dict[str, float]:
    counts = {e: value(metrics, "phalanx_queue_incoming_units_total", event=e) for e in EVENTS}
    return {e: n for e, n in counts.items() if n}


def test_units_let_into_an_attempt_are_counted_by_what_let_them_in() -> None:
    state = cluster(pod("g-0", group="g"), pod("big", gpu=16), groups=(group("g", 2),))
    clock, metrics = Clock(), Metrics()
    engine = Engine(state, EngineConfig(), clock, metrics)
    port = Port(state)
    run(engine, port, passes=2)  # both decided once, then backing off
    assert incoming(metrics) == {"new": 2}
    state.upsert_pod(pod_info(pod("g-1", group="g")))
    engine.wake("ml/g")  # its missing member arrived
    run(engine, port, passes=1)
    assert incoming(metrics) == {"new": 2, "unit-changed": 1}
    engine.changed()  # capacity freed somewhere: the pod that fits nowhere is tried again
    run(engine, port, passes=1)
    assert incoming(metrics) == {"new": 2, "unit-changed": 1, "cluster-changed": 1}
    clock.now += 120.0  # past its backoff
    run(engine, port, passes=1)
    assert incoming(metrics) == {"new": 2, "unit-changed": 1, "cluster-changed": 1, "retry": 1}


def full_cluster_and_a_preemptor() -> tuple[list[Pod], Pod]:
    """Every GPU of the four nodes held by low-priority pods, and a high-priority pod that needs one node."""
    nodes = ["r0-n0", "r0-n1", "r1-n0", "r1-n1"]
    low = [pod(f"low-{i}", gpu=8, priorityClassName="low", nodeName=n) for i, n in enumerate(nodes)]
    low = [p.model_copy(update={"status": p.status.model_copy(update={"phase": "Running"})}) for p in low]
    return low, pod("high", gpu=8, priorityClassName="high")


def preempting(nomination_timeout_s: float = 300.0) -> tuple[Engine, Clock, Port, Metrics, list[str]]:
    """The preemption decided at t=0 and its evictions answered, the victims still terminating."""
    low, high = full_cluster_and_a_preemptor()
    state = cluster(*low, high, racks=2)
    clock, metrics = Clock(), Metrics()
    engine = Engine(state, EngineConfig(), clock, metrics, nomination_timeout_s=nomination_timeout_s)
    port = Port(state)
    victims = []
    for effect in engine.step():
        if isinstance(effect, Evict):
            victims.append(effect.pod)
            engine.done(Done(effect))  # accepted: the pod is terminating, still on its node
        else:
            port.carry(engine, [effect])
    assert len(victims) == 1
    return engine, clock, port, metrics, victims


def stage(metrics: Metrics, name: str) -> tuple[float, float]:
    """(count, sum) of the preemption stage."""
    count = value(metrics, "phalanx_preemption_duration_seconds_count", stage=name)
    return count, value(metrics, "phalanx_preemption_duration_seconds_sum", stage=name)


def test_a_preemption_is_timed_from_its_decision_to_its_victims_gone_and_to_its_preemptor_bound() -> None:
    engine, clock, port, metrics, victims = preempting()
    clock.now = 3.0
    run(engine, port, passes=1)  # still terminating: nothing to time yet, but the preemptor is seen waiting
    assert stage(metrics, "victims-gone") == (0, 0)
    assert value(metrics, "phalanx_unschedulable_units", family="preemption") == 1
    assert value(metrics, "phalanx_unschedulable_units", family="topology") == 0
    assert value(metrics, "phalanx_longest_wait_seconds", priority_class="high") == 3.0
    port.state.remove_pod(victims[0])
    port.refuse["ml/high"] = Outcome.TRANSIENT  # its first binding fails: bound only on the retry
    run(engine, port, passes=1)
    assert stage(metrics, "victims-gone") == (1, 3.0)
    assert stage(metrics, "bound") == (0, 0)
    del port.refuse["ml/high"]
    clock.now = 4.5
    run(engine, port, passes=2)
    assert stage(metrics, "bound") == (1, 4.5)
    assert value(metrics, "phalanx_unschedulable_units", family="preemption") == 0
    assert value(metrics, "phalanx_longest_wait_seconds", priority_class="high") == 0
    assert stage(metrics, "given-up") == (0, 0)
    assert value(metrics, "phalanx_queue_incoming_units_total", event="victims-gone") == 1


def test_a_preemption_whose_victims_never_go_is_timed_when_given_up() -> None:
    engine, clock, port, metrics, _ = preempting(nomination_timeout_s=10.0)
    clock.now = 11.0
    run(engine, port, passes=1)
    assert stage(metrics, "given-up") == (1, 11.0)
    assert stage(metrics, "victims-gone") == (0, 0)
    assert engine.timings.preempted_at == {"ml/high": 11.0}  # decided again in that pass: a new preemption, timed anew


def test_the_longest_wait_of_a_unit_still_waiting_grows_by_priority_class_and_falls_to_zero_once_it_is_bound() -> None:
    state = cluster(pod("big", gpu=16, priorityClassName="high"))  # no node has 16 GPUs
    clock, metrics = Clock(), Metrics()
    engine = Engine(state, EngineConfig(), clock, metrics)
    port = Port(state)
    run(engine, port, passes=1)
    clock.now = 100.0
    run(engine, port, passes=1)
    assert value(metrics, "phalanx_longest_wait_seconds", priority_class="high") == 100.0
    state.upsert_node(strip_node(node("r9-n0", "r9", gpus=16)))  # the capacity it waited for
    engine.changed()
    run(engine, port, passes=2)
    assert state.pods["ml/big"].node == "r9-n0"
    clock.now += GAUGE_INTERVAL_S  # the gauges of what waits are refreshed once per interval
    run(engine, port, passes=1)
    assert value(metrics, "phalanx_longest_wait_seconds", priority_class="high") == 0.0
    assert value(metrics, "phalanx_gang_wait_duration_seconds_count", priority_class="high") == 1

"""The executor: bindings through a cluster API, and a failed binding never leaves a gang half bound."""

from __future__ import annotations

from dataclasses import replace

from scheduler.engine.cycle import Scheduler
from scheduler.engine.executor import Executor
from scheduler.engine.state import ClusterState
from tests.unit.engine.test_cycle import cluster, group, pod


class FlakyApi:
    """Binds in memory; refuses the n-th binding."""

    def __init__(self, state: ClusterState, fail_at: int | None = None) -> None:
        self.state, self.fail_at = state, fail_at
        self.calls: list[tuple[str, str]] = []

    def bind(self, pod: str, node: str) -> None:
        self.calls.append(("bind", pod))
        if self.fail_at is not None and len([c for c in self.calls if c[0] == "bind"]) == self.fail_at:
            raise ConnectionError("apiserver unavailable")
        self.state.upsert_pod(replace(self.state.pods[pod], node=node, assumed=False))

    def evict(self, pod: str, reason: str, message: str) -> None:
        self.calls.append(("evict", pod))
        self.state.remove_pod(pod)

    def release(self, pod: str, message: str) -> None:
        self.calls.append(("release", pod))
        self.state.upsert_pod(replace(self.state.pods[pod], node=None, assumed=False))


def gang_state() -> ClusterState:
    return cluster(*(pod(f"p{i}", "g") for i in range(4)), groups=(group("g", 4),))


def test_every_pod_of_a_scheduled_gang_is_bound_through_the_api() -> None:
    state = gang_state()
    api = FlakyApi(state)
    (decision,) = Scheduler(state).schedule_pending()
    outcome = Executor(state, api).bind(decision)
    assert outcome.error == ""
    assert sorted(outcome.bound) == [f"ml/p{i}" for i in range(4)]
    assert all(p.node and not p.assumed for p in state.pods.values())


def test_a_failed_binding_rolls_back_the_gang_and_forgets_its_reservation() -> None:
    state = gang_state()
    api = FlakyApi(state, fail_at=3)
    (decision,) = Scheduler(state).schedule_pending()
    outcome = Executor(state, api).bind(decision)
    assert "apiserver unavailable" in outcome.error
    assert outcome.bound == ()
    assert [c for c in api.calls if c[0] == "release"] == [("release", "ml/p0"), ("release", "ml/p1")]
    assert all(p.node is None for p in state.pods.values())
    assert int(state.capacity().used.sum()) == 0
    (retry,) = Scheduler(state).schedule_pending()
    assert retry.scheduled


class RefusingEvictions(FlakyApi):
    """Refuses the first eviction it is asked for."""

    def evict(self, pod: str, reason: str, message: str) -> None:
        if not any(c[0].startswith("evict") for c in self.calls):
            self.calls.append(("evict-refused", pod))
            raise ConnectionError("apiserver unavailable")
        super().evict(pod, reason, message)


def test_a_failed_eviction_does_not_stop_the_rest_of_a_victim_gang_from_being_evicted() -> None:
    victims = [pod(f"v{i}", "v", gpu=8, nodeName=f"r0-n{i}", priorityClassName="low") for i in range(2)]
    preemptor = [pod(f"h{i}", "h", gpu=8, priorityClassName="high") for i in range(2)]
    state = cluster(
        *victims,
        *preemptor,
        groups=(group("v", 2, disruptionMode="PodGroup"), group("h", 2)),
        racks=1,
    )
    (decision,) = [d for d in Scheduler(state).schedule_pending() if d.unit.key == "ml/h"]
    assert decision.plan is not None
    assert sorted(decision.plan.victim_pods) == ["ml/v0", "ml/v1"]
    api = RefusingEvictions(state)
    try:
        Executor(state, api).evict(decision)
    except ConnectionError:
        pass
    else:
        raise AssertionError("the refused eviction must be reported")
    assert [c[0] for c in api.calls] == ["evict-refused", "evict"]  # the second victim was still evicted

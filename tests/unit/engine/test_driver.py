"""The engine's behaviour against an in-memory port and a fake clock: binding, retries, giving up, preemption
and nominations, pod identity, status writes, waking a waiting gang. The same code runs in the operator."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from scheduler.api.core import Pod
from scheduler.api.meta import OwnerReference
from scheduler.api.podgroup import PodGroupStatus, ScheduledReason
from scheduler.engine.cycle import EngineConfig
from scheduler.engine.driver import MAX_REPLANS, Engine
from scheduler.engine.effects import (
    Bind,
    Evict,
    Nominate,
    Outcome,
    PostEvent,
    Release,
    SetPodCondition,
    WriteStatus,
)
from scheduler.engine.observer import Quiet
from scheduler.engine.state import pod_info
from tests.unit.engine.port import Clock, Port, engine_for, run
from tests.unit.engine.test_cycle import cluster, group, pod


def named(p: Pod, uid: str) -> Pod:
    return p.model_copy(update={"metadata": p.metadata.model_copy(update={"uid": uid})})


def test_a_scheduled_gang_is_bound_through_bind_effects_that_carry_each_pods_uid() -> None:
    pods = [named(pod(f"g-{i}", group="g"), f"uid-{i}") for i in range(2)]
    state = cluster(*pods, groups=(group("g", 2),))
    engine, _, port = engine_for(state)
    run(engine, port)
    assert sorted((b.pod, b.uid) for b in port.of(Bind)) == [("ml/g-0", "uid-0"), ("ml/g-1", "uid-1")]
    assert all(state.pods[f"ml/g-{i}"].node and not state.pods[f"ml/g-{i}"].assumed for i in range(2))
    assert {e.reason for e in port.of(PostEvent)} >= {"Scheduled"}
    assert not engine.binding


def test_transient_binding_failures_are_retried_on_the_same_nodes_after_a_delay() -> None:
    state = cluster(pod("g-0", group="g"), pod("g-1", group="g"), groups=(group("g", 2),))
    engine, clock, port = engine_for(state)
    port.refuse["ml/g-1"] = Outcome.TRANSIENT
    run(engine, port)
    first = [b for b in port.of(Bind) if b.pod == "ml/g-1"]
    assert len(first) == 1  # not retried before the delay
    assert state.pods["ml/g-1"].assumed  # its reservation is kept meanwhile
    del port.refuse["ml/g-1"]
    clock.now += 1.0
    run(engine, port)
    retried = [b for b in port.of(Bind) if b.pod == "ml/g-1"]
    assert len(retried) == 2
    assert retried[0].node == retried[1].node
    assert state.pods["ml/g-1"].node == retried[0].node
    assert not state.pods["ml/g-1"].assumed


def test_a_member_refused_for_good_is_placed_again_and_then_its_gang_is_released_with_an_event() -> None:
    job = OwnerReference(api_version="batch/v1", kind="Job", name="j", uid="j1", controller=True)
    pods = []
    for i in range(2):
        p = pod(f"g-{i}", group="g")
        pods.append(p.model_copy(update={"metadata": p.metadata.model_copy(update={"owner_references": [job]})}))
    state = cluster(*pods, groups=(group("g", 2),))
    engine, clock, port = engine_for(state)
    port.refuse["ml/g-1"] = Outcome.PERMANENT
    for _ in range(MAX_REPLANS * 4):
        clock.now += 120.0  # past any backoff
        run(engine, port, passes=1)
        if port.of(Release):
            break
    first_release = next(i for i, e in enumerate(port.asked) if isinstance(e, Release))
    attempts = [b for b in port.asked[:first_release] if isinstance(b, Bind) and b.pod == "ml/g-1"]
    assert len(attempts) == MAX_REPLANS
    assert [r.pod for r in port.of(Release)] == ["ml/g-0"]  # the bound member goes, so the gang can be placed whole
    released = [e for e in port.of(PostEvent) if e.reason == "GangReleased"]
    assert "a member cannot be bound" in released[0].message
    assert engine.last["ml/g"].reason is ScheduledReason.SCHEDULER_ERROR


def test_a_preemptor_recreated_under_its_name_mid_preemption_inherits_no_nomination() -> None:
    nodes = ["r0-n0", "r0-n1", "r1-n0", "r1-n1"]  # the whole cluster, full of low-priority pods
    low = [named(pod(f"low-{i}", gpu=8, priorityClassName="low", nodeName=n), f"low-{i}") for i, n in enumerate(nodes)]
    low = [p.model_copy(update={"status": p.status.model_copy(update={"phase": "Running"})}) for p in low]
    high = named(pod("high", gpu=8, priorityClassName="high"), "high-1")
    state = cluster(*low, high, racks=2)
    engine, _, port = engine_for(state)
    effects = engine.step()
    evictions = [e for e in effects if isinstance(e, Evict)]
    assert len(evictions) == 1
    nominated = [e for e in effects if isinstance(e, Nominate)]
    assert nominated == [Nominate("ml/high", nominated[0].node)]
    # Before the victim goes, the preemptor is deleted and recreated under its name (a StatefulSet would).
    state.upsert_pod(pod_info(named(pod("high", gpu=8, priorityClassName="high"), "high-2")))
    port.carry(engine, effects)
    effects = engine.step()
    assert Nominate("ml/high", "") in effects  # the old reservation is given up ...
    binds = [e for e in effects if isinstance(e, Bind)]
    assert [b.uid for b in binds] == ["high-2"]  # ... and the new pod is decided for itself


def test_status_is_written_only_when_it_differs_from_what_the_cluster_shows() -> None:
    state = cluster(pod("g-0", group="g"), groups=(group("g", 2),))
    engine, clock, port = engine_for(state)
    port.carry(engine, engine.step())
    writes = port.of(WriteStatus)
    assert len(writes) == 1
    # The watch shows the status written: nothing more to write, however many passes.
    shown = state.groups["ml/g"].model_copy(update={"status": PodGroupStatus.model_validate(writes[0].status)})
    state.upsert_group(shown)
    for _ in range(5):
        clock.now += 10.0
        run(engine, port, passes=1)
    assert len(port.of(WriteStatus)) == 1


def test_the_member_that_completes_a_gang_wakes_it_at_once_whatever_its_backoff() -> None:
    state = cluster(pod("g-0", group="g"), groups=(group("g", 2),))
    engine, clock, port = engine_for(state)
    run(engine, port, passes=1)
    assert engine.last["ml/g"].reason is ScheduledReason.WAITING_FOR_PODS
    assert "ml/g" in engine.backoff
    clock.now += 0.1  # well inside the backoff
    state.upsert_pod(pod_info(pod("g-1", group="g")))
    engine.wake("ml/g")
    run(engine, port, passes=2)
    assert {b.pod for b in port.of(Bind)} == {"ml/g-0", "ml/g-1"}


def test_a_pod_that_waits_gets_its_condition_before_any_binding_of_it_is_sent() -> None:
    state = cluster(pod("p", gpu=16))  # no node has 16 GPUs
    engine, _, _ = engine_for(state)
    effects = engine.step()
    conditions = [e for e in effects if isinstance(e, SetPodCondition)]
    assert conditions
    assert conditions[0].condition["reason"] == "Unschedulable"
    assert engine.reporter.writing_conditions() == {"ml/p"}


def test_failures_answered_one_by_one_are_retried_together_after_one_delay_not_at_once() -> None:
    state = cluster(*(pod(f"g-{i}", group="g") for i in range(3)), groups=(group("g", 3),))
    engine, clock, port = engine_for(state)
    for i in range(3):
        port.refuse[f"ml/g-{i}"] = Outcome.TRANSIENT
    effects = engine.step()
    for effect in effects:  # the answers come back one at a time, as they do from the API server
        engine.done(port.answer(effect))
        port.asked.append(effect)
    resent = [e for e in [*engine.outbox.effects, *engine.step()] if isinstance(e, Bind)]
    assert resent == []  # nothing re-sent before the delay (it was a hot loop against the API server)
    assert len(port.of(Bind)) == 3
    clock.now += 1.0
    port.refuse.clear()
    run(engine, port, passes=2)
    assert len(port.of(Bind)) == 6


@dataclass
class Recorder(Quiet):
    """An observer that keeps what the engine told it of the SLIs."""

    bound: list[tuple[str, float, float]] = field(default_factory=list)
    families: list[dict[str, int]] = field(default_factory=list)

    def gang_bound(self, priority_class: str, since_quorum_s: float, since_first_attempt_s: float) -> None:
        self.bound.append((priority_class, since_quorum_s, since_first_attempt_s))

    def waiting_by_family(self, families: Any) -> None:
        self.families.append(dict(families))


def test_a_gang_reports_its_wait_from_quorum_and_from_its_first_attempt_when_bound() -> None:
    state = cluster(pod("g-0", group="g"), groups=(group("g", 2, priorityClassName="high"),))
    clock, recorder = Clock(), Recorder()
    engine = Engine(state, EngineConfig(), clock, recorder)
    port = Port(state)
    run(engine, port, passes=1)  # decided, waiting for its second pod
    assert recorder.families[-1] == {"quorum": 1}
    clock.now = 5.0
    state.upsert_pod(pod_info(pod("g-1", group="g")))
    engine.wake("ml/g")
    clock.now = 7.0
    run(engine, port, passes=2)
    assert recorder.bound == [("high", 0.0, 7.0)]  # bound in the pass that saw quorum; first tried at t=0

"""The engine's behaviour against an in-memory port and a fake clock: binding, retries, giving up, preemption
and nominations, pod identity, status writes, waking a waiting gang. The same code runs in the operator."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from scheduler.api.core import Pod
from scheduler.api.meta import OwnerReference
from scheduler.api.podgroup import PodGroupStatus, ScheduledReason
from scheduler.engine import units
from scheduler.engine.backoff import SAFETY_NET_S
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
from scheduler.engine.reporting import PASSING_S
from scheduler.engine.state import pod_info
from tests.builders import RACK
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
    assert not port.of(WriteStatus)  # "waiting for pods" passes: it is said once it has lasted
    assert engine.reporter.next_due() == clock.now + PASSING_S
    clock.now += PASSING_S
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


def test_a_gang_placed_soon_after_it_is_complete_gets_one_status_write_its_outcome() -> None:
    state = cluster(pod("g-0", group="g"), groups=(group("g", 2),))
    engine, clock, port = engine_for(state)
    run(engine, port, passes=1)
    clock.now += 0.1
    state.upsert_pod(pod_info(pod("g-1", group="g")))
    engine.wake("ml/g")
    run(engine, port, passes=3)  # decided, bound (Scheduling while the bindings are out), then shown bound
    assert len(port.of(Bind)) == 2
    writes = port.of(WriteStatus)
    assert [w.status["phase"] for w in writes] == ["Scheduled"]


def test_a_gang_that_loses_a_member_after_it_was_placed_says_so_at_once() -> None:
    state = cluster(pod("g-0", group="g"), pod("g-1", group="g"), groups=(group("g", 2),))
    engine, clock, port = engine_for(state)
    run(engine, port, passes=3)
    written = port.of(WriteStatus)
    assert [w.status["phase"] for w in written] == ["Scheduled"]
    shown = state.groups["ml/g"].model_copy(update={"status": PodGroupStatus.model_validate(written[-1].status)})
    state.upsert_group(shown)
    clock.now += 0.1
    state.remove_pod("ml/g-1")  # evicted, or its node gone
    run(engine, port, passes=1)
    last = port.of(WriteStatus)[-1].status
    assert [w.status["phase"] for w in port.of(WriteStatus)] == ["Scheduled", "Pending"]  # said in the same pass
    assert last["scheduled"] == 1
    assert "1/2 pods present" in str(last["conditions"])  # not "binding pods": nothing is


def test_a_gang_still_binding_after_a_while_says_so() -> None:
    state = cluster(pod("g-0", group="g"), pod("g-1", group="g"), groups=(group("g", 2),))
    engine, clock, _ = engine_for(state)
    effects = engine.step()
    assert [e for e in effects if isinstance(e, Bind)]  # out, and not answered yet
    clock.now += PASSING_S
    effects = engine.step()
    assert [e.status["phase"] for e in effects if isinstance(e, WriteStatus)] == ["Scheduling"]


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


@dataclass
class Attempts(Quiet):
    """An observer that counts the decisions made for each unit."""

    per_unit: dict[str, int] = field(default_factory=dict)

    def observe(self, decision: Any) -> None:
        self.per_unit[decision.unit.key] = self.per_unit.get(decision.unit.key, 0) + 1


def echo(engine: Engine, port: Port, passes: int) -> None:
    """Passes as the operator runs them: each status and condition we write comes back through the watch as an
    update of its object, and wakes the object's unit, as kube/loop.py does for every event of a pending pod or
    a PodGroup."""
    state = port.state
    for _ in range(passes):
        effects = engine.step()
        port.carry(engine, effects)
        for effect in effects:
            if isinstance(effect, WriteStatus) and (shown := state.groups.get(effect.group)) is not None:
                status = PodGroupStatus.model_validate(effect.status)
                state.upsert_group(shown.model_copy(update={"status": status}))
                engine.wake(effect.group)
            elif isinstance(effect, SetPodCondition) and (info := state.pods.get(effect.pod)) is not None:
                state.upsert_pod(pod_info(info.pod.model_copy()))  # a new object, as each watch event is
                engine.wake(info.group_key or info.key)


def test_a_unit_is_decided_again_only_when_something_that_could_change_its_answer_happened() -> None:
    # Four nodes of 8 GPUs hold eight gangs of four 1-GPU pods: the last two gangs and one pod that fits nowhere
    # wait, while the watch echoes every status and condition written for them.
    gangs = [f"g{i}" for i in range(10)]
    pods = [pod(f"{g}-{j}", group=g, gpu=1, age=i) for i, g in enumerate(gangs) for j in range(4)]
    state = cluster(*pods, pod("huge", gpu=16, age=20), groups=tuple(group(g, 4) for g in gangs))
    clock, attempts = Clock(), Attempts()
    engine = Engine(state, EngineConfig(), clock, attempts)
    port = Port(state)
    for _ in range(10):
        echo(engine, port, passes=1)
        clock.now += 0.05  # all inside the first backoff: nothing but events may let a unit in again
    assert sum(1 for g in gangs if engine.last[f"ml/{g}"].scheduled) == 8
    assert attempts.per_unit == {**{f"ml/{g}": 1 for g in gangs}, "ml/huge": 1}

    # A member of a waiting gang is edited into a new shape: that gang alone is decided again.
    state.upsert_pod(pod_info(pod("g9-3", group="g9", gpu=2, age=9)))
    engine.wake("ml/g9")
    echo(engine, port, passes=3)
    assert attempts.per_unit["ml/g9"] == 2
    assert attempts.per_unit["ml/g8"] == 1

    # A bound gang goes: capacity freed may help every waiting unit, each decided once more; one now fits.
    for j in range(4):
        port.state.remove_pod(f"ml/g0-{j}")
    engine.changed()
    echo(engine, port, passes=3)
    assert attempts.per_unit["ml/g8"] == 2
    assert attempts.per_unit["ml/g9"] == 3
    assert attempts.per_unit["ml/huge"] == 2
    assert engine.last["ml/g8"].scheduled
    assert sum(attempts.per_unit.values()) / len(attempts.per_unit) <= 2

    # Nothing happens: the waiting units are tried again only by the safety net, for changes no event tells of.
    clock.now += SAFETY_NET_S / 2
    echo(engine, port, passes=3)
    assert attempts.per_unit["ml/g9"] == 3
    clock.now += SAFETY_NET_S / 2
    echo(engine, port, passes=1)
    assert attempts.per_unit["ml/g9"] == 4
    assert attempts.per_unit["ml/huge"] == 3


def test_a_pod_waiting_for_a_pod_its_affinity_selects_is_decided_again_once_one_is_placed() -> None:
    # The follower needs an app=leader pod in its rack and none runs; a pod that fits nowhere waits too. Placing
    # the leader helps the follower alone: placed pods only take room from the other.
    term = {"labelSelector": {"matchLabels": {"app": "leader"}}, "topologyKey": RACK}
    follower = pod(
        "follower", gpu=1, affinity={"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term]}}
    )
    state = cluster(follower, pod("huge", gpu=16))
    clock, attempts = Clock(), Attempts()
    engine = Engine(state, EngineConfig(), clock, attempts)
    port = Port(state)
    echo(engine, port, passes=2)
    assert not engine.last["ml/follower"].scheduled
    leader = pod("leader", gpu=1, age=5)
    leader.metadata.labels["app"] = "leader"
    state.upsert_pod(pod_info(leader))
    echo(engine, port, passes=3)
    assert engine.last["ml/follower"].scheduled
    assert attempts.per_unit == {"ml/follower": 2, "ml/leader": 1, "ml/huge": 1}


def test_a_unit_backing_off_with_nothing_new_is_not_even_built_on_later_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[str] = []
    grouped = units._grouped

    def counting(state: Any, key: str, name: str) -> Any:
        built.append(key)
        return grouped(state, key, name)

    monkeypatch.setattr(units, "_grouped", counting)
    state = cluster(pod("g-0", group="g", gpu=16), pod("g-1", group="g", gpu=16), groups=(group("g", 2),))
    engine, _, port = engine_for(state)
    echo(engine, port, passes=1)
    assert built == ["ml/g"]  # decided once: it fits nowhere
    echo(engine, port, passes=5)  # its status and conditions echoed back wake it: built, compared, not decided
    woken = len(built)
    echo(engine, port, passes=5)  # nothing at all: not built
    assert len(built) == woken
    engine.changed()
    echo(engine, port, passes=1)
    assert len(built) == woken + 1

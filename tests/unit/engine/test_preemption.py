"""Preemption through the engine: candidates from the cache, policies and switches, eviction then admission."""

from __future__ import annotations

from scheduler.api.core import PodDisruptionBudget
from scheduler.api.podgroup import ScheduledReason
from scheduler.engine.cycle import Decision, EngineConfig, Scheduler
from scheduler.engine.effects import Evict
from scheduler.engine.state import ClusterState, pod_info
from tests.unit.engine.port import engine_for, run
from tests.unit.engine.test_cycle import cluster, group, pod


def preempted(state: ClusterState, unit: str = "ml/high") -> tuple[Decision, list[str]]:
    """The engine's passes until the preemptor is bound: its last decision, and the pods it evicted."""
    engine, _, port = engine_for(state)
    run(engine, port, passes=3)
    return engine.last[unit], [e.pod for e in port.of(Evict)]


def low_gang_and_high_gang(mode: str = "PodGroup") -> ClusterState:
    low = [pod(f"low{i}", "low", gpu=8, nodeName=f"r0-n{i}", priorityClassName="low") for i in range(2)]
    low += [pod(f"low{i}", "low", gpu=8, nodeName=f"r1-n{i - 2}", priorityClassName="low") for i in (2, 3)]
    high = [pod(f"high{i}", "high", gpu=8, priorityClassName="high") for i in range(2)]
    groups = (group("low", 4, disruptionMode=mode), group("high", 2, priorityClassName="high"))
    return cluster(*low, *high, groups=groups)


def test_a_higher_priority_gang_preempts_a_whole_lower_priority_gang() -> None:
    state = low_gang_and_high_gang()
    decision, evicted = preempted(state)
    assert decision.scheduled
    assert decision.plan is not None
    assert decision.plan.victims == ("ml/low",)
    assert sorted(evicted) == [f"ml/low{i}" for i in range(4)]  # all four, though two would make room
    assert all(state.pods[f"ml/high{i}"].node for i in range(2))


def test_with_pod_disruption_mode_only_the_pods_in_the_way_go() -> None:
    state = low_gang_and_high_gang(mode="Pod")
    decision, evicted = preempted(state)
    assert decision.scheduled
    assert len(evicted) == 2


def test_without_an_evictor_the_decision_is_a_nomination_and_victims_keep_running() -> None:
    state = low_gang_and_high_gang()
    (decision,) = Scheduler(state).schedule_pending()
    assert decision.reason is ScheduledReason.WAITING_FOR_PREEMPTION
    assert decision.plan is not None
    assert len(decision.plan.assignments) == 2
    assert all(state.pods[f"ml/low{i}"].node for i in range(4))
    assert not any(state.pods[f"ml/high{i}"].node for i in range(2))


def test_a_never_preemptor_waits_and_touches_nothing() -> None:
    state = low_gang_and_high_gang()
    state.upsert_group(group("high", 2, priorityClassName="high", preemptionPolicy="Never"))
    (decision,) = Scheduler(state).schedule_pending()
    assert decision.reason is ScheduledReason.UNSCHEDULABLE
    assert "preemptionPolicy is Never" in decision.message
    assert decision.plan is not None
    assert not decision.plan.victims


def test_a_lone_pod_with_preemption_policy_never_waits_and_touches_nothing() -> None:
    low = [pod(f"low{i}", gpu=8, priorityClassName="low") for i in range(4)]
    state = cluster(*low)
    for i in range(4):
        state.assume(f"ml/low{i}", f"r{i // 2}-n{i % 2}")
    state.upsert_pod(pod_info(pod("polite", gpu=8, priorityClassName="high", preemptionPolicy="Never")))
    (decision,) = [d for d in Scheduler(state).schedule_pending() if d.unit.key == "ml/polite"]
    assert decision.reason is ScheduledReason.UNSCHEDULABLE
    assert "preemptionPolicy is Never" in decision.message


def test_preemption_can_be_switched_off() -> None:
    state = low_gang_and_high_gang()
    (decision,) = Scheduler(state, EngineConfig(preemption=False)).schedule_pending()
    assert decision.reason is ScheduledReason.UNSCHEDULABLE


def test_victims_can_be_limited_to_our_own_pods() -> None:
    theirs = [pod(f"t{i}", gpu=8, nodeName=f"r0-n{i}", scheduler="default-scheduler") for i in range(2)]
    high = [pod(f"high{i}", "high", gpu=8, priorityClassName="high") for i in range(2)]
    state = cluster(*theirs, *high, groups=(group("high", 2, priorityClassName="high"),), racks=1)
    (everyone,) = Scheduler(state).schedule_pending()
    assert everyone.reason is ScheduledReason.WAITING_FOR_PREEMPTION
    (own,) = Scheduler(state, EngineConfig(victims_own_pods_only=True)).schedule_pending()
    assert own.reason is ScheduledReason.UNSCHEDULABLE


def test_a_pod_disruption_budget_steers_the_victims_and_can_forbid_them() -> None:
    guarded = pod("guarded", gpu=8, nodeName="r0-n0", priorityClassName="low")
    guarded = guarded.model_copy(update={"metadata": guarded.metadata.model_copy(update={"labels": {"app": "db"}})})
    other = pod("other", gpu=8, nodeName="r0-n1", priorityClassName="low")
    state = cluster(guarded, other, pod("urgent", gpu=8, priorityClassName="high"), racks=1)
    state.budgets["ml/db"] = PodDisruptionBudget.model_validate(
        {
            "metadata": {"name": "db", "namespace": "ml"},
            "spec": {"selector": {"matchLabels": {"app": "db"}}},
            "status": {"disruptionsAllowed": 0},
        }
    )
    (decision,) = Scheduler(state).schedule_pending()
    assert decision.plan is not None
    assert decision.plan.victims == ("ml/other",)
    state.remove_pod("ml/other")
    state.upsert_pod(pod_info(pod("peer", gpu=8, nodeName="r0-n1", priorityClassName="high")))  # not preemptable
    (violating,) = Scheduler(state).schedule_pending()
    assert violating.plan is not None
    assert violating.plan.victims == ("ml/guarded",)
    assert violating.plan.victim_cost is not None
    assert violating.plan.victim_cost[0] == 1
    (forbidden,) = Scheduler(state, EngineConfig(allow_pdb_violations=False)).schedule_pending()
    assert forbidden.reason is ScheduledReason.UNSCHEDULABLE
    assert "PodDisruptionBudget" in forbidden.message

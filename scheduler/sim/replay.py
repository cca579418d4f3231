"""Load a scenario into the engine's cache and decide every pending unit, exactly as the operator would."""

from __future__ import annotations

from scheduler.api.priority import priority_class_values
from scheduler.engine.cycle import Decision, EngineConfig, Scheduler
from scheduler.engine.state import ClusterState, pod_info
from scheduler.sim.scenario import Scenario
from scheduler.solver.problem import SolverParams
from scheduler.topology.nodes import strip_node

SCHEDULER_NAME = "phalanx"


def load_state(scenario: Scenario) -> ClusterState:
    state = ClusterState(scenario.topology_levels)
    state.priority_classes = priority_class_values(list(scenario.priority_classes))
    for node in scenario.nodes:
        state.upsert_node(strip_node(node))
    for group in scenario.pod_groups:
        state.upsert_group(group)
    for pod in scenario.pods:
        state.upsert_pod(pod_info(pod))
    for pdb in scenario.budgets:
        state.budgets[f"{pdb.metadata.namespace}/{pdb.metadata.name}"] = pdb
    for claim in scenario.claims:
        state.storage.upsert_claim(claim)
    for volume in scenario.volumes:
        state.storage.upsert_volume(volume)
    for storage_class in scenario.storage_classes:
        state.storage.upsert_class(storage_class)
    for namespace in scenario.namespaces:
        state.namespaces[namespace.metadata.name] = dict(namespace.metadata.labels)
    return state


def decide(scenario: Scenario, params: SolverParams | None = None) -> tuple[ClusterState, list[Decision]]:
    """One pass of the engine over the scenario; preemption victims are evicted at once (no grace period)."""
    state = load_state(scenario)
    config = EngineConfig(name=SCHEDULER_NAME, params=params or SolverParams())

    def evict(decision: Decision) -> None:
        assert decision.plan is not None
        for pod in decision.plan.victim_pods:
            state.remove_pod(pod)

    return state, Scheduler(state, config).schedule_pending(evict=evict)

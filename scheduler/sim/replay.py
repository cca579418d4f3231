"""Load a scenario into the engine's cache and decide every pending unit, exactly as the operator would."""

from __future__ import annotations

from scheduler.api.priority import priority_class_values
from scheduler.engine.cycle import Decision, Scheduler
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
    return state


def decide(scenario: Scenario, params: SolverParams | None = None) -> tuple[ClusterState, list[Decision]]:
    state = load_state(scenario)
    return state, Scheduler(state, params, SCHEDULER_NAME).schedule_pending()

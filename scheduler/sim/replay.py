"""Load a scenario into the engine's cache and decide every pending unit, exactly as the operator would."""

from __future__ import annotations

from scheduler.api.priority import priority_class_values
from scheduler.engine.cycle import Decision, EngineConfig
from scheduler.engine.driver import Engine
from scheduler.engine.state import ClusterState, pod_info
from scheduler.sim.cluster import SimCluster
from scheduler.sim.scenario import Scenario
from scheduler.solver.problem import SolverParams
from scheduler.topology.nodes import strip_node

SCHEDULER_NAME = "phalanx"
MAX_PASSES = 50


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


# The operator's defaults, with budgets in CP-SAT's deterministic time (solver/budget.py): a replay gives the same
# figures on any machine, however busy, which the decision-quality doc and its test rely on.
SIM_PARAMS = SolverParams(deterministic=True)


def decide(scenario: Scenario, params: SolverParams | None = None) -> tuple[ClusterState, list[Decision]]:
    """The engine's passes over the scenario at t=0, until it has nothing more to do; preemption victims go at
    once (no grace period), and their preemptor binds on the next pass, as in the operator."""
    state = load_state(scenario)
    engine = Engine(state, EngineConfig(name=SCHEDULER_NAME, params=params or SIM_PARAMS), clock=lambda: 0.0)
    cluster = SimCluster(state, lambda pod, preemptor: None)
    decisions: dict[str, Decision] = {}  # per unit its last decision, in the order units were first decided
    for _ in range(MAX_PASSES):
        effects = engine.step()
        decisions.update((d.unit.key, d) for d in engine.decisions)
        for done in cluster.carry(effects):
            engine.done(done)
        if not effects and not engine.outbox.effects:
            break
    return state, list(decisions.values())

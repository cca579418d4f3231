"""Our filters, run the way the scheduler runs them, in the shape of kube-scheduler's filter test tables:
one pod, the nodes, the pods already bound; per node, None where the pod fits or the reason it does not.

The pod goes through everything a real decision does: the API models (and the refusal of fields we do not
model), the cache (pods bound to nodes, namespaces), the unit and gang built for it, the static and inter-pod
filters and the joint constraints. A full decision is run too, and must land on a node the table allows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from scheduler.api.config import DEFAULT_LEVELS
from scheduler.api.core import Node, Pod
from scheduler.engine.state import ClusterState, pod_info
from scheduler.engine.units import pending_units
from scheduler.solver.filters import FilterCache, node_reason
from scheduler.solver.placement import gang_context, place_gang
from scheduler.topology.nodes import strip_node

SCHEDULER = "phalanx"


def filter_nodes(
    pod: dict[str, Any],
    nodes: Sequence[dict[str, Any]],
    existing_pods: Sequence[dict[str, Any]] = (),
    namespaces: Sequence[dict[str, Any]] = (),
) -> dict[str, str | None]:
    state = ClusterState(DEFAULT_LEVELS)
    for namespace in namespaces:
        meta = namespace.get("metadata", {})
        state.namespaces[meta["name"]] = dict(meta.get("labels") or {})
    for node in nodes:
        state.upsert_node(strip_node(Node.model_validate(node)))
    for index, existing in enumerate(existing_pods):
        body = _named(existing, f"existing-{index}")
        state.upsert_pod(pod_info(Pod.model_validate(body)))
    incoming = pod_info(
        Pod.model_validate(_named({**pod, "spec": {"schedulerName": SCHEDULER, **pod.get("spec", {})}}, "incoming"))
    )
    incoming_pod = incoming.pod
    state.upsert_pod(incoming)
    names = [n["metadata"]["name"] for n in nodes]
    units = [u for u in pending_units(state, SCHEDULER) if u.key == incoming.key]
    assert len(units) == 1, f"the pod is not pending with us: {units}"
    unit = units[0]
    if unit.gang is None:
        return dict.fromkeys(names, unit.message or "the pod is not scheduled")
    capacity = state.capacity({r for s in unit.gang.pod_sets for r, _ in s.signature.requests})
    cache = FilterCache(capacity.tree)
    ctx = gang_context(capacity, unit.gang, cache, state.neighbours)
    fit = ctx.fits[0]
    result = {node.name: node_reason(fit, capacity, i) for i, node in enumerate(capacity.tree.nodes)}
    plan = place_gang(capacity, unit.gang, cache=cache, neighbours=state.neighbours)
    fitting = {n for n, why in result.items() if why is None}
    if plan.placed:
        assert set(plan.assignments.values()) <= fitting, f"placed on {plan.assignments}, filters allow {fitting}"
    else:
        assert not fitting, f"nothing placed, yet {fitting} fit: {plan.explanation}"
    del incoming_pod
    return {name: result.get(name, "node not in the cache") for name in names}


def _named(body: dict[str, Any], name: str) -> dict[str, Any]:
    meta = {"namespace": "default", "name": name, **body.get("metadata", {})}
    return {**body, "metadata": meta}

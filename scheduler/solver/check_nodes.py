"""The validator's own per-node rules (NodeUnschedulable, NodeAffinity, TaintToleration), written apart from
the filters so that a mistake in one is caught by the other."""

from __future__ import annotations

from scheduler.solver.problem import Requirement, Signature
from scheduler.topology.nodes import NodeInfo, TaintInfo

NOT_READY_TAINT = TaintInfo("node.kubernetes.io/not-ready", "", "NoSchedule")


def node_problem(node: NodeInfo, signature: Signature) -> str | None:
    """Why the pod may not go to the node whatever its load, or None."""
    if node.unschedulable and not _tolerated(
        signature, TaintInfo("node.kubernetes.io/unschedulable", "", "NoSchedule")
    ):
        return "the node is cordoned"
    if not selector_and_affinity_hold(node, signature):
        return "the node does not match the pod's node selector or affinity"
    taints = untolerated_taints(node, signature)
    if taints:
        return f"taint {taints[0].key}={taints[0].value}:{taints[0].effect} is not tolerated"
    return None


def selector_and_affinity_hold(node: NodeInfo, signature: Signature) -> bool:
    for key, value in signature.node_selector:
        if node.labels.get(key) != value:
            return False
    if signature.affinity is None:
        return True
    return any(term and all(_holds(r, node) for r in term) for term in signature.affinity)


def untolerated_taints(node: NodeInfo, signature: Signature) -> list[TaintInfo]:
    """NoSchedule/NoExecute taints no toleration covers; a NotReady node counts as tainted not-ready."""
    taints = list(node.taints)
    readiness = {"node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"}
    if not node.ready and not any(t.key in readiness for t in taints):
        taints.append(NOT_READY_TAINT)
    return [t for t in taints if t.effect != "PreferNoSchedule" and not _tolerated(signature, t)]


def _tolerated(signature: Signature, taint: TaintInfo) -> bool:
    for t in signature.tolerations:
        if t.effect not in ("", taint.effect):
            continue
        if t.key == "" and t.operator == "Exists":
            return True
        if t.key != taint.key:
            continue
        if t.operator == "Exists" or t.value == taint.value:
            return True
    return False


def _holds(req: Requirement, node: NodeInfo) -> bool:
    if req.operator == "Invalid":
        return False
    if req.field:
        return req.key == "metadata.name" and (
            (req.operator == "In" and node.name in req.values)
            or (req.operator == "NotIn" and node.name not in req.values)
        )
    have = node.labels.get(req.key)
    if req.operator == "In":
        return have in req.values
    if req.operator == "NotIn":
        return have not in req.values
    if req.operator == "Exists":
        return have is not None
    if req.operator == "DoesNotExist":
        return have is None
    if have is None or len(req.values) != 1:
        return False
    try:
        number, limit = int(have), int(req.values[0])
    except ValueError:
        return False
    return number > limit if req.operator == "Gt" else number < limit

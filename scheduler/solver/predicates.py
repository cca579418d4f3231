"""Per-node predicates with kube-scheduler's semantics (NodeUnschedulable, NodeAffinity, TaintToleration,
and the volume filters), as plain functions over one node and one signature; the vectorised filter caches
their results per tree generation. The validator has its own versions (solver/check_nodes.py).

Readiness is a taint, as upstream's node lifecycle controller makes it: a NotReady node carries
`node.kubernetes.io/not-ready:NoSchedule`, which a pod may tolerate. A cluster without that controller (a
test server) still gets the taint's meaning here.
"""

from __future__ import annotations

from scheduler.solver.labels import operator_holds
from scheduler.solver.problem import Requirement, Signature, Toleration
from scheduler.solver.volumes import volume_reason
from scheduler.topology.nodes import NodeInfo, TaintInfo

UNSCHEDULABLE_TAINT = TaintInfo("node.kubernetes.io/unschedulable", "", "NoSchedule")
NOT_READY_TAINT = TaintInfo("node.kubernetes.io/not-ready", "", "NoSchedule")
READINESS_TAINTS = frozenset({"node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"})
BLOCKING_EFFECTS = frozenset({"NoSchedule", "NoExecute"})

REASON_UNSCHEDULABLE = "node(s) were unschedulable"
REASON_SELECTOR = "node(s) didn't match Pod's node affinity/selector"


def tolerates(toleration: Toleration, taint: TaintInfo) -> bool:
    """v1.Toleration.ToleratesTaint: empty key with Exists matches every taint; empty effect every effect."""
    if toleration.effect and toleration.effect != taint.effect:
        return False
    if toleration.key and toleration.key != taint.key:
        return False
    if toleration.operator == "Exists":
        return True
    return toleration.operator in ("", "Equal") and toleration.value == taint.value


def untolerated_taint(node: NodeInfo, signature: Signature) -> TaintInfo | None:
    """The first NoSchedule/NoExecute taint no toleration covers, or None."""
    taints = node.taints
    if not node.ready and not any(t.key in READINESS_TAINTS for t in taints):
        taints = (*taints, NOT_READY_TAINT)
    for taint in taints:
        if taint.effect in BLOCKING_EFFECTS and not any(tolerates(t, taint) for t in signature.tolerations):
            return taint
    return None


def _requirement_matches(req: Requirement, node: NodeInfo) -> bool:
    if req.field:
        if req.key != "metadata.name":
            return False
        value: str | None = node.name
    else:
        value = node.labels.get(req.key)
    return operator_holds(req.operator, value, req.values)  # "Invalid" (did not parse) matches nothing


def term_matches(term: tuple[Requirement, ...], node: NodeInfo) -> bool:
    """A node selector term: every requirement holds (an empty term matches nothing)."""
    return bool(term) and all(_requirement_matches(r, node) for r in term)


def matches_affinity(node: NodeInfo, signature: Signature) -> bool:
    """nodeSelector (every pair) AND required node affinity (any term; an empty term matches nothing)."""
    if any(node.labels.get(k) != v for k, v in signature.node_selector):
        return False
    if signature.affinity is None:
        return True
    return any(term and all(_requirement_matches(r, node) for r in term) for term in signature.affinity)


def static_reason(node: NodeInfo, signature: Signature) -> str | None:
    """Why a node can never take this signature regardless of load, or None if it can."""
    if node.unschedulable and not any(tolerates(t, UNSCHEDULABLE_TAINT) for t in signature.tolerations):
        return REASON_UNSCHEDULABLE
    taint = untolerated_taint(node, signature)
    if taint is not None:
        return f"node(s) had untolerated taint {{{taint.key}: {taint.value}}}"
    if not matches_affinity(node, signature):
        return REASON_SELECTOR
    if signature.volumes:
        return volume_reason(signature.volumes, node)
    return None


def insufficient_reason(resource: str) -> str:
    return "Too many pods" if resource == "pods" else f"Insufficient {resource}"

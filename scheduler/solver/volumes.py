"""What a pod's volumes require of a node, with kube-scheduler's semantics and reason strings.

The engine resolves each claim-backed volume of a pod (claim -> volume -> class, engine/storage.py) into a
`VolumeNeed`; here a need is checked against one node, as the VolumeBinding and VolumeZone filter plugins do.
Needs are plain hashable data, so they sit in a pod's signature and pods with the same claims' constraints share
one cached static filter result.

Upstream's order holds: VolumeBinding's reasons (bound volumes' node affinity first, then unbound claims) come
before VolumeZone's, since the default profile runs that plugin first and a node is reported by its first
failing plugin.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from scheduler.api.storage import GA_LABEL, TOPOLOGY_LABELS
from scheduler.solver.labels import operator_holds
from scheduler.topology.nodes import NodeInfo

REASON_NODE_CONFLICT = "node(s) had volume node affinity conflict"
REASON_BIND_CONFLICT = "node(s) didn't find available persistent volumes to bind"
REASON_ZONE_CONFLICT = "node(s) had no available volume zone"


class NeedKind(StrEnum):
    BOUND = "Bound"  # the claim is bound: its volume's node affinity and zone labels must match the node
    PROVISION = "Provision"  # WaitForFirstConsumer, to be provisioned: the class's allowed topologies, or one node
    UNAVAILABLE = "Unavailable"  # WaitForFirstConsumer with no volume to bind and no provisioner: no node will do


@dataclass(frozen=True, slots=True)
class NodeRequirement:
    """One requirement of a PV's node affinity; `field` marks matchFields (which volume affinity never matches:
    upstream checks it against the node's labels only)."""

    key: str
    operator: str  # In | NotIn | Exists | DoesNotExist | Gt | Lt
    values: tuple[str, ...] = ()
    field: bool = False


NodeTerms = tuple[tuple[NodeRequirement, ...], ...]  # terms ORed, requirements in a term ANDed
TopologyTerms = tuple[tuple[tuple[str, frozenset[str]], ...], ...]  # allowedTopologies: ORed terms of ANDed keys


@dataclass(frozen=True, slots=True)
class VolumeNeed:
    """What one claim-backed volume of a pod requires of a node.

    BOUND: `node_affinity` (the PV's spec.nodeAffinity.required; None for none) and `topology` (its zone and
    region labels as (key, allowed values), VolumeZone). PROVISION: `selected_node` when the claim already names
    the node (a provisioner is working on it, or a pod sharing the claim sits there), else `allowed_topologies`
    of its StorageClass (empty: anywhere). UNAVAILABLE: fits no node. `claim` (namespace/name) is for
    explanations and for the binding cycle, which writes the selected node on PROVISION claims.
    """

    claim: str
    kind: NeedKind
    node_affinity: NodeTerms | None = None
    topology: tuple[tuple[str, frozenset[str]], ...] = ()
    allowed_topologies: TopologyTerms = ()
    selected_node: str | None = None


def volume_reason(needs: tuple[VolumeNeed, ...], node: NodeInfo) -> str | None:
    """Why `node` cannot take a pod with these volume needs (kube-scheduler's reason string), or None if it can.

    Pure and per node, so the static filter may cache it per tree generation and signature: nothing here
    depends on load.
    """
    if not needs:
        return None
    for need in needs:
        affinity = need.node_affinity
        if need.kind is NeedKind.BOUND and affinity is not None and not _matches_terms(affinity, node.labels):
            return REASON_NODE_CONFLICT
    for need in needs:
        if need.kind is NeedKind.UNAVAILABLE:
            return REASON_BIND_CONFLICT
        if need.kind is NeedKind.PROVISION:
            if need.selected_node is not None:
                if need.selected_node != node.name:
                    return REASON_BIND_CONFLICT
            elif not _matches_topology(need.allowed_topologies, node.labels):
                return REASON_BIND_CONFLICT
    return _zone_reason(needs, node.labels)


def _zone_reason(needs: tuple[VolumeNeed, ...], labels: Mapping[str, str]) -> str | None:
    """VolumeZone: a node without any zone or region label takes any volume (a single-zone cluster)."""
    if not any(key in labels for key in TOPOLOGY_LABELS):
        return None
    for need in needs:
        for key, values in need.topology:
            value = labels.get(key)
            if value is None:  # a beta key on the volume may match the GA key on the node
                value = labels.get(GA_LABEL.get(key, key))
            if value is None or value not in values:
                return REASON_ZONE_CONFLICT
    return None


def _matches_terms(terms: NodeTerms, labels: Mapping[str, str]) -> bool:
    """corev1.MatchNodeSelectorTerms on labels only: no terms, or an empty term, matches nothing."""
    return any(term and all(_matches(r, labels) for r in term) for term in terms)


def _matches(req: NodeRequirement, labels: Mapping[str, str]) -> bool:
    return not req.field and operator_holds(req.operator, labels.get(req.key), req.values)


def _matches_topology(terms: TopologyTerms, labels: Mapping[str, str]) -> bool:
    """v1helper.MatchTopologySelectorTerms: no terms match every node; an empty term matches none."""
    if not terms:
        return True
    return any(term and all(labels.get(key) in values for key, values in term) for term in terms)

"""Builders for the Kubernetes objects of the upstream filter tables, in the spirit of kube-scheduler's st.MakePod().

Everything is a plain dict shaped as `kubectl get -o json` prints it (camelCase), so the tables read like upstream's
Go: `make_pod("p", labels={"foo": ""}).spread_constraint(1, "zone", DO_NOT_SCHEDULE, FOO_SELECTOR).obj()`.

Upstream builds pods without names and in the empty namespace; here every pod gets a unique name (the harness may
key pods by namespace/name) and the empty namespace becomes "default". Nodes carry only the labels a case gives them
(no automatic hostname label: several upstream cases depend on a node lacking a topology key), are Ready, and have
generous allocatable resources unless the case is about resources.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Self

Obj = dict[str, Any]

SCHEDULER_NAME = "phalanx"
DEFAULT_NAMESPACE = "default"
READY = ({"type": "Ready", "status": "True"},)
GENEROUS = {"cpu": "100", "memory": "100Gi", "pods": "110"}

DO_NOT_SCHEDULE = "DoNotSchedule"
SCHEDULE_ANYWAY = "ScheduleAnyway"
HONOR = "Honor"
IGNORE = "Ignore"

_serial = itertools.count(1)


# --- selectors ---------------------------------------------------------------------------------------------------


def req(key: str, operator: str, values: Sequence[str] | None = None) -> Obj:
    """One requirement of a node selector term or a label selector (`{key, operator, values}`)."""
    out: Obj = {"key": key, "operator": operator}
    if values is not None:
        out["values"] = list(values)
    return out


def node_term(match_expressions: Iterable[Obj] | None = None, match_fields: Iterable[Obj] | None = None) -> Obj:
    """A NodeSelectorTerm; `None` leaves the field out, an empty list keeps it (upstream tests both)."""
    out: Obj = {}
    if match_expressions is not None:
        out["matchExpressions"] = list(match_expressions)
    if match_fields is not None:
        out["matchFields"] = list(match_fields)
    return out


def label_selector(match_labels: Mapping[str, str] | None = None, *match_expressions: Obj) -> Obj:
    """A metav1.LabelSelector; `label_selector()` is the empty selector (matches everything)."""
    out: Obj = {}
    if match_labels:
        out["matchLabels"] = dict(match_labels)
    if match_expressions:
        out["matchExpressions"] = list(match_expressions)
    return out


def exists_selector(key: str) -> Obj:
    """st.MakeLabelSelector().Exists(key).Obj()."""
    return label_selector(None, req(key, "Exists"))


def affinity_term(
    selector: Obj | None,
    topology_key: str = "",
    namespaces: Sequence[str] | None = None,
    namespace_selector: Obj | None = None,
) -> Obj:
    """A PodAffinityTerm."""
    out: Obj = {"topologyKey": topology_key}
    if selector is not None:
        out["labelSelector"] = selector
    if namespaces is not None:
        out["namespaces"] = list(namespaces)
    if namespace_selector is not None:
        out["namespaceSelector"] = namespace_selector
    return out


# --- pods --------------------------------------------------------------------------------------------------------


def requests(
    milli_cpu: int = 0,
    memory: int = 0,
    ephemeral_storage: int = 0,
    scalars: Mapping[str, int] | None = None,
) -> dict[str, str]:
    """A container's requests as upstream's newResourcePod writes them: cpu, memory and ephemeral storage always
    (zero included), plus the scalar (extended, hugepages) resources given."""
    out = {"cpu": f"{milli_cpu}m", "memory": str(memory), "ephemeral-storage": str(ephemeral_storage)}
    for name, quantity in (scalars or {}).items():
        out[name] = str(quantity)
    return out


def host_port(protocol: str, host_ip: str, port: int, container_port: int | None = None) -> Obj:
    """A container port with a host port (containerPort defaults to the host port: the API requires one)."""
    out: Obj = {"containerPort": container_port or port, "hostPort": port, "protocol": protocol}
    if host_ip:
        out["hostIP"] = host_ip
    return out


class PodBuilder:
    """st.MakePod() for plain dicts; `obj()` returns a fresh copy, so a builder can be reused."""

    def __init__(self, name: str | None = None, namespace: str = DEFAULT_NAMESPACE) -> None:
        serial = next(_serial)
        self._pod: Obj = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": name or f"pod-{serial}",
                "namespace": namespace or DEFAULT_NAMESPACE,
                "uid": f"uid-{serial}",
                "labels": {},
            },
            "spec": {"schedulerName": SCHEDULER_NAME, "containers": []},
            "status": {"phase": "Pending"},
        }

    @property
    def _meta(self) -> Obj:
        meta: Obj = self._pod["metadata"]
        return meta

    @property
    def _spec(self) -> Obj:
        spec: Obj = self._pod["spec"]
        return spec

    def namespace(self, namespace: str) -> Self:
        self._meta["namespace"] = namespace or DEFAULT_NAMESPACE
        return self

    def label(self, key: str, value: str = "") -> Self:
        self._meta["labels"][key] = value
        return self

    def labels(self, labels: Mapping[str, str]) -> Self:
        self._meta["labels"].update(labels)
        return self

    def node(self, node_name: str) -> Self:
        """Bind the pod (an existing pod of the table)."""
        self._spec["nodeName"] = node_name
        self._pod["status"]["phase"] = "Running"
        return self

    def terminating(self) -> Self:
        self._meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
        return self

    def node_selector(self, selector: Mapping[str, str]) -> Self:
        self._spec["nodeSelector"] = dict(selector)
        return self

    def _affinity(self, kind: str) -> Obj:
        affinity: Obj = self._spec.setdefault("affinity", {}).setdefault(kind, {})
        return affinity

    def node_affinity(self, *terms: Obj) -> Self:
        """requiredDuringSchedulingIgnoredDuringExecution with these terms (ORed)."""
        required = {"nodeSelectorTerms": list(terms)}
        self._affinity("nodeAffinity")["requiredDuringSchedulingIgnoredDuringExecution"] = required
        return self

    def empty_node_affinity(self) -> Self:
        """`affinity.nodeAffinity` present but without a required node selector."""
        self._affinity("nodeAffinity")
        return self

    def node_affinity_in(self, key: str, values: Sequence[str]) -> Self:
        return self.node_affinity(node_term([req(key, "In", values)]))

    def node_affinity_not_in(self, key: str, values: Sequence[str]) -> Self:
        return self.node_affinity(node_term([req(key, "NotIn", values)]))

    def _required(self, kind: str, term: Obj) -> Self:
        self._affinity(kind).setdefault("requiredDuringSchedulingIgnoredDuringExecution", []).append(term)
        return self

    def pod_affinity(self, term: Obj) -> Self:
        return self._required("podAffinity", term)

    def pod_anti_affinity(self, term: Obj) -> Self:
        return self._required("podAntiAffinity", term)

    def pod_affinity_in(self, key: str, topology_key: str, values: Sequence[str]) -> Self:
        return self.pod_affinity(affinity_term(label_selector(None, req(key, "In", values)), topology_key))

    def pod_affinity_not_in(self, key: str, topology_key: str, values: Sequence[str]) -> Self:
        return self.pod_affinity(affinity_term(label_selector(None, req(key, "NotIn", values)), topology_key))

    def pod_affinity_exists(self, key: str, topology_key: str) -> Self:
        return self.pod_affinity(affinity_term(exists_selector(key), topology_key))

    def pod_anti_affinity_in(self, key: str, topology_key: str, values: Sequence[str]) -> Self:
        return self.pod_anti_affinity(affinity_term(label_selector(None, req(key, "In", values)), topology_key))

    def pod_anti_affinity_not_in(self, key: str, topology_key: str, values: Sequence[str]) -> Self:
        return self.pod_anti_affinity(affinity_term(label_selector(None, req(key, "NotIn", values)), topology_key))

    def pod_anti_affinity_exists(self, key: str, topology_key: str) -> Self:
        return self.pod_anti_affinity(affinity_term(exists_selector(key), topology_key))

    def toleration(
        self,
        key: str = "",
        operator: str | None = None,
        value: str | None = None,
        effect: str | None = None,
    ) -> Self:
        """A toleration; fields left `None` are omitted, as Go's zero values are."""
        fields = {"key": key, "operator": operator, "value": value, "effect": effect}
        self._spec.setdefault("tolerations", []).append({k: v for k, v in fields.items() if v})
        return self

    def container(self, requests: Mapping[str, str] | None = None, ports: Sequence[Obj] = ()) -> Self:
        containers: list[Obj] = self._spec["containers"]
        containers.append(_container(f"c{len(containers)}", requests, ports))
        return self

    def init_container(
        self,
        requests: Mapping[str, str] | None = None,
        ports: Sequence[Obj] = (),
        sidecar: bool = False,
    ) -> Self:
        """An init container; `sidecar=True` gives it restartPolicy Always (a restartable init container)."""
        inits: list[Obj] = self._spec.setdefault("initContainers", [])
        container = _container(f"init{len(inits)}", requests, ports)
        if sidecar:
            container["restartPolicy"] = "Always"
        inits.append(container)
        return self

    def overhead(self, overhead: Mapping[str, str]) -> Self:
        self._spec["overhead"] = dict(overhead)
        return self

    def pod_resources(self, requests: Mapping[str, str]) -> Self:
        """Pod-level resources (spec.resources)."""
        self._spec["resources"] = {"requests": dict(requests)}
        return self

    def spread_constraint(
        self,
        max_skew: int,
        topology_key: str,
        when_unsatisfiable: str,
        selector: Obj | None,
        min_domains: int | None = None,
        node_affinity_policy: str | None = None,
        node_taints_policy: str | None = None,
        match_label_keys: Sequence[str] | None = None,
    ) -> Self:
        """st.MakePod().SpreadConstraint(maxSkew, key, mode, selector, minDomains, affinity, taints, labelKeys)."""
        constraint: Obj = {"maxSkew": max_skew, "topologyKey": topology_key, "whenUnsatisfiable": when_unsatisfiable}
        if selector is not None:
            constraint["labelSelector"] = selector
        if min_domains is not None:
            constraint["minDomains"] = min_domains
        if node_affinity_policy is not None:
            constraint["nodeAffinityPolicy"] = node_affinity_policy
        if node_taints_policy is not None:
            constraint["nodeTaintsPolicy"] = node_taints_policy
        if match_label_keys is not None:
            constraint["matchLabelKeys"] = list(match_label_keys)
        self._spec.setdefault("topologySpreadConstraints", []).append(constraint)
        return self

    def obj(self) -> Obj:
        pod = copy.deepcopy(self._pod)
        if not pod["spec"]["containers"]:
            # Upstream's pods often have no containers at all; the API needs one, and one without requests
            # changes nothing a filter sees.
            pod["spec"]["containers"] = [_container("c0", None, ())]
        return pod


def _container(name: str, requests: Mapping[str, str] | None, ports: Sequence[Obj]) -> Obj:
    container: Obj = {"name": name, "image": "registry.k8s.io/pause:3.10"}
    if requests is not None:
        container["resources"] = {"requests": dict(requests)}
    if ports:
        container["ports"] = [dict(port) for port in ports]
    return container


def make_pod(
    name: str | None = None,
    namespace: str = DEFAULT_NAMESPACE,
    labels: Mapping[str, str] | None = None,
    node: str | None = None,
) -> PodBuilder:
    builder = PodBuilder(name, namespace)
    if labels:
        builder.labels(labels)
    if node:
        builder.node(node)
    return builder


# --- nodes -------------------------------------------------------------------------------------------------------


class NodeBuilder:
    """st.MakeNode() for plain dicts."""

    def __init__(self, name: str) -> None:
        self._node: Obj = {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": name, "labels": {}},
            "spec": {},
            "status": {"allocatable": dict(GENEROUS), "capacity": dict(GENEROUS), "conditions": list(READY)},
        }

    def label(self, key: str, value: str = "") -> Self:
        self._node["metadata"]["labels"][key] = value
        return self

    def labels(self, labels: Mapping[str, str]) -> Self:
        self._node["metadata"]["labels"].update(labels)
        return self

    def taint(self, key: str, value: str = "", effect: str = "NoSchedule") -> Self:
        taint = {"key": key, "effect": effect}
        if value:
            taint["value"] = value
        self._node["spec"].setdefault("taints", []).append(taint)
        return self

    def unschedulable(self, unschedulable: bool = True) -> Self:
        self._node["spec"]["unschedulable"] = unschedulable
        return self

    def allocatable(self, resources: Mapping[str, str]) -> Self:
        """Replace allocatable (and capacity) with exactly these resources."""
        self._node["status"]["allocatable"] = dict(resources)
        self._node["status"]["capacity"] = dict(resources)
        return self

    def obj(self) -> Obj:
        return copy.deepcopy(self._node)


def make_node(name: str, labels: Mapping[str, str] | None = None) -> NodeBuilder:
    builder = NodeBuilder(name)
    if labels:
        builder.labels(labels)
    return builder


def make_namespace(name: str, labels: Mapping[str, str] | None = None) -> Obj:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": dict(labels or {})}}

"""Writes the scheduling.k8s.io Workload/PodGroup CRD copies the integration tests serve
(`hack/upstream-test-crds.py tests/integration/thirdparty/scheduling.k8s.io`), transcribed from upstream's Go types
(k8s.io/api scheduling v1alpha2, v1alpha3, v1beta1).

One function per Go struct, parameterised by version, so each version's differences are in one place.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

S = dict[str, Any]
MAX_PRIORITY = 1000000000  # HighestUserDefinablePriority


def obj(props: S, required: list[str] | None = None) -> S:
    out: S = {"type": "object", "properties": props}
    if required:
        out["required"] = required
    return out


def empty() -> S:
    return {"type": "object"}


def string(**kw: Any) -> S:
    return {"type": "string", **kw}


def int32(**kw: Any) -> S:
    return {"type": "integer", "format": "int32", **kw}


def map_list(items: S, key: str, max_items: int) -> S:
    return {
        "type": "array",
        "maxItems": max_items,
        "items": items,
        "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": [key],
    }


def typed_local_object_reference() -> S:
    return obj({"apiGroup": string(), "kind": string(), "name": string()}, ["kind", "name"])


def scheduling_policy() -> S:
    # +union: modelled as two optional members; "exactly one" is upstream validation, not schema.
    return obj({"basic": empty(), "gang": obj({"minCount": int32(minimum=1)}, ["minCount"])})


def topology_constraints() -> S:
    return obj(
        {
            "topology": {
                "type": "array",
                "maxItems": 1,
                "items": obj({"key": string()}, ["key"]),
                "x-kubernetes-list-type": "atomic",
            }
        }
    )


def resource_claims() -> S:
    item = obj(
        {"name": string(), "resourceClaimName": string(), "resourceClaimTemplateName": string()},
        ["name"],
    )
    return map_list(item, "name", 4)


def disruption_mode(version: str, default: bool) -> S:
    if version == "v1alpha2":
        out = string(enum=["Pod", "PodGroup"])
        if default:
            out["default"] = "Pod"
        return out
    out = obj({"single": empty(), "all": empty()})
    if default:
        out["default"] = {"single": {}}
    return out


def preemption_policy() -> S:
    return string(enum=["PreemptLowerPriority", "Never"])


def priority() -> S:
    return int32(maximum=MAX_PRIORITY)


def pod_group_template(version: str) -> S:
    props: S = {
        "name": string(),
        "schedulingPolicy": scheduling_policy(),
        "schedulingConstraints": topology_constraints(),
        "resourceClaims": resource_claims(),
        "disruptionMode": disruption_mode(version, default=False),
        "priorityClassName": string(),
        "priority": priority(),
    }
    if version != "v1alpha2":
        props["preemptionPolicy"] = preemption_policy()
    return obj(props, ["name", "schedulingPolicy"])


def composite_scheduling_policy() -> S:
    return obj({"basic": empty(), "gang": obj({"minGroupCount": int32(minimum=1)}, ["minGroupCount"])})


def composite_pod_group_template(version: str, levels_left: int) -> S:
    # The Go type is recursive; a structural schema cannot be, so it is unrolled to WorkloadMaxTreeDepth (4)
    # composite levels, deeper than any tree upstream validation admits.
    props: S = {
        "name": string(),
        "schedulingPolicy": composite_scheduling_policy(),
    }
    if version == "v1beta1":
        props["schedulingConstraints"] = topology_constraints()
        props["disruptionMode"] = disruption_mode(version, default=False)
    props["priorityClassName"] = string()
    props["priority"] = priority()
    if version == "v1beta1":
        props["preemptionPolicy"] = preemption_policy()
    props["podGroupTemplates"] = map_list(pod_group_template(version), "name", 8)
    if levels_left > 1:
        props["compositePodGroupTemplates"] = map_list(
            composite_pod_group_template(version, levels_left - 1), "name", 8
        )
    return obj(props, ["name", "schedulingPolicy"])


def workload_spec(version: str) -> S:
    props: S = {
        "controllerRef": typed_local_object_reference(),
        "podGroupTemplates": map_list(pod_group_template(version), "name", 8),
    }
    if version == "v1alpha2":
        return obj(props, ["podGroupTemplates"])
    props["compositePodGroupTemplates"] = map_list(composite_pod_group_template(version, 4), "name", 8)
    return obj(props)


def pod_group_spec(version: str) -> S:
    props: S = {}
    if version == "v1alpha2":
        props["podGroupTemplateRef"] = obj(
            {
                "workload": obj(
                    {"workloadName": string(), "podGroupTemplateName": string()},
                    ["workloadName", "podGroupTemplateName"],
                )
            }
        )
    else:
        props["parentCompositePodGroupName"] = string()
        props["workloadRef"] = obj(
            {"workloadName": string(), "templateName": string()}, ["workloadName", "templateName"]
        )
    props["schedulingPolicy"] = scheduling_policy()
    props["schedulingConstraints"] = topology_constraints()
    props["resourceClaims"] = resource_claims()
    props["disruptionMode"] = disruption_mode(version, default=True)
    props["priorityClassName"] = string()
    props["priority"] = priority()
    if version != "v1alpha2":
        props["preemptionPolicy"] = preemption_policy()
    return obj(props, ["schedulingPolicy"])


def condition() -> S:
    # metav1.Condition, as controller-gen renders it.
    return obj(
        {
            "type": string(
                maxLength=316,
                pattern=r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$",
            ),
            "status": string(enum=["True", "False", "Unknown"]),
            "observedGeneration": {"type": "integer", "format": "int64", "minimum": 0},
            "lastTransitionTime": string(format="date-time"),
            "reason": string(maxLength=1024, minLength=1, pattern=r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$"),
            "message": string(maxLength=32768),
        },
        ["lastTransitionTime", "message", "reason", "status", "type"],
    )


def pod_group_status() -> S:
    return obj(
        {
            "conditions": {
                "type": "array",
                "items": condition(),
                "x-kubernetes-list-type": "map",
                "x-kubernetes-list-map-keys": ["type"],
            },
            "resourceClaimStatuses": map_list(
                obj({"name": string(), "resourceClaimName": string()}, ["name"]), "name", 4
            ),
        }
    )


def root(spec: S, status: S | None) -> S:
    props: S = {"apiVersion": string(), "kind": string(), "metadata": empty(), "spec": spec}
    if status is not None:
        props["status"] = status
    return obj(props, ["spec"])


class NoAliases(yaml.SafeDumper):
    def ignore_aliases(self, data: Any) -> bool:
        return True


VERSIONS = ["v1alpha2", "v1alpha3", "v1beta1"]
STORAGE_ONLY = "storage"


def storage_schema(status: bool) -> S:
    free: S = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    props: S = {"apiVersion": string(), "kind": string(), "metadata": empty(), "spec": free}
    if status:
        props["status"] = free
    return obj(props)


def crd(kind: str, plural: str, schema_for: Any, status: bool) -> S:
    versions = []
    for v in VERSIONS:
        entry: S = {"name": v, "served": True, "storage": False, "schema": {"openAPIV3Schema": schema_for(v)}}
        if status:
            entry["subresources"] = {"status": {}}
        versions.append(entry)
    hidden: S = {
        "name": STORAGE_ONLY,
        "served": False,
        "storage": True,
        "schema": {"openAPIV3Schema": storage_schema(status)},
    }
    if status:
        hidden["subresources"] = {"status": {}}
    versions.append(hidden)
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{plural}.scheduling.k8s.io",
            # *.k8s.io groups are protected; an "unapproved" value is accepted and marks the CRD as not an
            # approved Kubernetes API.
            "annotations": {"api-approved.kubernetes.io": "unapproved, test copy of the built-in type"},
        },
        "spec": {
            "group": "scheduling.k8s.io",
            "names": {"kind": kind, "listKind": f"{kind}List", "plural": plural, "singular": kind.lower()},
            "scope": "Namespaced",
            "conversion": {"strategy": "None"},
            "versions": versions,
        },
    }


HEADER = """\
# {kind}: a copy, field for field, of the built-in scheduling.k8s.io {kind} (the Go types of
# k8s.io/api/scheduling v1alpha2, v1alpha3 and v1beta1: Kubernetes 1.36 serves v1alpha2, 1.37 v1beta1, the 1.37
# beta.0 tag also v1alpha3), so the 1.20 test API server, which has no such type, can serve upstream objects as
# they are applied to a real cluster.
#
# Only a server started without its own scheduling.k8s.io group can serve this CRD
# (--runtime-config=scheduling.k8s.io/v1=false,scheduling.k8s.io/v1beta1=false, with the Priority admission
# plugin off and priorityclasses.scheduling.k8s.io.yaml installed beside it): on a stock 1.20 server the CRD is
# Established and listed in discovery, but the built-in group's handler owns every /apis/scheduling.k8s.io/...
# path and answers 404 for these resources. Hence this directory is not the shared thirdparty/ set.
#
# Unions (schedulingPolicy, disruptionMode, the back-references) are plain optional members: "exactly one" is
# upstream validation, not schema. Upstream feature gates are not modelled: every gated field is accepted.
# Conversion is None: the server only rewrites apiVersion, while a real cluster converts fields between versions
# (disruptionMode "PodGroup" <-> {{all: {{}}}}, podGroupTemplateRef.workload <-> workloadRef), and an object read
# in another version than it was written in comes back pruned to that version's schema. A test must create each
# object in the version it reads it in. The objects are stored in the unserved version "storage", which keeps
# every field: were a served version the storage one, its schema would prune the other versions' fields.
"""


PRIORITY_CLASS_HEADER = """\
# PriorityClass: a copy of the built-in scheduling.k8s.io/v1 PriorityClass, for the test API server that runs
# without its own scheduling.k8s.io group so that the Workload and PodGroup copies here can be served (see
# workloads.scheduling.k8s.io.yaml). That server runs without the Priority admission plugin, which cannot start
# against a CRD: tests set pod.spec.priority (and a PodGroup's spec.priority) themselves, as admission would.
"""


def priority_class_crd() -> S:
    schema = obj(
        {
            "apiVersion": string(),
            "kind": string(),
            "metadata": empty(),
            "value": int32(),
            "globalDefault": {"type": "boolean"},
            "description": string(),
            "preemptionPolicy": preemption_policy(),
        },
        ["value"],
    )
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": "priorityclasses.scheduling.k8s.io",
            "annotations": {"api-approved.kubernetes.io": "unapproved, test copy of the built-in type"},
        },
        "spec": {
            "group": "scheduling.k8s.io",
            "names": {
                "kind": "PriorityClass",
                "listKind": "PriorityClassList",
                "plural": "priorityclasses",
                "singular": "priorityclass",
                "shortNames": ["pc"],
            },
            "scope": "Cluster",
            "versions": [{"name": "v1", "served": True, "storage": True, "schema": {"openAPIV3Schema": schema}}],
        },
    }


def main(out_dir: Path) -> None:
    docs = {
        "workloads": ("Workload", lambda v: root(workload_spec(v), None), False),
        "podgroups": ("PodGroup", lambda v: root(pod_group_spec(v), pod_group_status()), True),
    }
    for plural, (kind, schema_for, status) in docs.items():
        body = yaml.dump(crd(kind, plural, schema_for, status), Dumper=NoAliases, sort_keys=False, width=120)
        (out_dir / f"{plural}.scheduling.k8s.io.yaml").write_text(HEADER.format(kind=kind) + body)
    body = yaml.dump(priority_class_crd(), Dumper=NoAliases, sort_keys=False, width=120)
    (out_dir / "priorityclasses.scheduling.k8s.io.yaml").write_text(PRIORITY_CLASS_HEADER + body)


if __name__ == "__main__":
    main(Path(sys.argv[1]))

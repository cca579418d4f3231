"""Which pod fields Phalanx honours, and the refusal for a pod that depends on one it does not.

Rule: a pod field that affects placement is honoured, or the pod is refused with a reason naming the field,
never ignored. The models keep every field they do not know (`model_extra`); this module sorts them:
- fields known not to affect placement (labels aside, what kube-scheduler's default profile never reads) pass;
- every other unknown field, now or on a newer server, refuses the pod, naming the field's path.
Inside the placement vocabulary (affinity, spread, resources, ports) any unknown key refuses the pod: there,
an unknown key is by definition a placement rule we would be ignoring.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from scheduler.api.core import Container, Pod

# core/v1 PodSpec fields that kube-scheduler's default plugins do not read (or that admission has already
# folded into fields we do read: runtimeClassName's overhead and scheduling, hostNetwork's host ports).
INERT_SPEC_FIELDS = frozenset(
    {
        "activeDeadlineSeconds",
        "automountServiceAccountToken",
        "dnsConfig",
        "dnsPolicy",
        "enableServiceLinks",
        "ephemeralContainers",
        "hostAliases",
        "hostIPC",
        "hostNetwork",
        "hostPID",
        "hostUsers",
        "hostname",
        "hostnameOverride",
        "imagePullSecrets",
        "os",
        "readinessGates",
        "restartPolicy",
        "runtimeClassName",
        "securityContext",
        "serviceAccount",
        "serviceAccountName",
        "setHostnameAsFQDN",
        "shareProcessNamespace",
        "subdomain",
    }
)
INERT_CONTAINER_FIELDS = frozenset(
    {
        "args",
        "command",
        "env",
        "envFrom",
        "imagePullPolicy",
        "lifecycle",
        "livenessProbe",
        "readinessProbe",
        "resizePolicy",
        "restartPolicyRules",
        "securityContext",
        "startupProbe",
        "stdin",
        "stdinOnce",
        "terminationMessagePath",
        "terminationMessagePolicy",
        "tty",
        "volumeDevices",
        "volumeMounts",
        "workingDir",
    }
)
INERT_PORT_FIELDS = frozenset({"name"})
# Fields we know affect placement and do not model yet, with what they are, for the message.
KNOWN_UNSUPPORTED = {
    "resourceClaims": "Dynamic Resource Allocation claims",
    "claims": "Dynamic Resource Allocation claims",
    # 1.35's membership (a v1alpha1 Workload's inline group); 1.36 replaced it with schedulingGroup.
    "workloadRef": "1.35 Workload-Aware Scheduling membership, replaced by spec.schedulingGroup in 1.36",
}


def without_inert_fields(body: Mapping[str, Any]) -> dict[str, Any]:
    """A pod's wire form without the fields known not to affect placement (env, probes, mounts, commands...):
    the cache keeps every pod for the life of the process, and these were most of its memory. Unknown
    fields stay, so that `placement_refusal` still sees them."""
    spec = body.get("spec")
    if not isinstance(spec, Mapping):
        return dict(body)
    slim = {k: v for k, v in spec.items() if k not in INERT_SPEC_FIELDS}
    for kind in ("containers", "initContainers"):
        if isinstance(spec.get(kind), list):
            slim[kind] = [
                {k: v for k, v in c.items() if k not in INERT_CONTAINER_FIELDS} if isinstance(c, Mapping) else c
                for c in spec[kind]
            ]
    return {**body, "spec": slim}


def placement_refusal(pod: Pod) -> str | None:
    """Why Phalanx must not place this pod (a field it would otherwise ignore), or None."""
    spec = pod.spec
    for field in sorted((spec.model_extra or {}).keys() - INERT_SPEC_FIELDS):
        return _refused(f"spec.{field}", field)
    for kind, containers in (("containers", spec.containers), ("initContainers", spec.init_containers)):
        for index, container in enumerate(containers):
            path = f"spec.{kind}[{index}]"
            if (found := _container(path, container)) is not None:
                return found
    if spec.resources is not None and (found := _strict("spec.resources", spec.resources)) is not None:
        return found
    for name, alias in (("affinity", "affinity"), ("scheduling_group", "schedulingGroup")):
        value = getattr(spec, name)
        if value is not None and (found := _strict(f"spec.{alias}", value)) is not None:
            return found
    for index, constraint in enumerate(spec.topology_spread_constraints):
        if (found := _strict(f"spec.topologySpreadConstraints[{index}]", constraint)) is not None:
            return found
    for index, toleration in enumerate(spec.tolerations):
        if (found := _strict(f"spec.tolerations[{index}]", toleration)) is not None:
            return found
    return None


def _container(path: str, container: Container) -> str | None:
    for field in sorted((container.model_extra or {}).keys() - INERT_CONTAINER_FIELDS):
        return _refused(f"{path}.{field}", field)
    if (found := _strict(f"{path}.resources", container.resources)) is not None:
        return found
    for index, port in enumerate(container.ports):
        for field in sorted((port.model_extra or {}).keys() - INERT_PORT_FIELDS):
            return _refused(f"{path}.ports[{index}].{field}", field)
    return None


def _strict(path: str, model: BaseModel) -> str | None:
    """The first unknown key anywhere inside a placement model (depth first, in field order)."""
    for field in sorted((model.model_extra or {}).keys()):
        return _refused(f"{path}.{field}", field)
    for name, info in type(model).model_fields.items():
        value = getattr(model, name)
        alias = info.alias or name
        items = value if isinstance(value, list) else [value]
        for index, item in enumerate(items):
            if isinstance(item, BaseModel):
                where = f"{path}.{alias}[{index}]" if isinstance(value, list) else f"{path}.{alias}"
                if (found := _strict(where, item)) is not None:
                    return found
    return None


def _refused(path: str, field: str) -> str:
    what = KNOWN_UNSUPPORTED.get(field)
    detail = f" ({what})" if what else ""
    return f"{path}{detail} is not supported by Phalanx: it affects placement, so the pod is not scheduled"

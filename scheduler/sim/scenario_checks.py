"""Where a scenario's problems are, and what loads but will not behave as written (warnings), each with
file:line: the YAML line of a field, its wire name, and the nearest known name for an unknown one."""

from __future__ import annotations

import difflib
import types
import typing
from collections import defaultdict
from collections.abc import Iterator, Sequence
from typing import Any

import yaml
from pydantic import BaseModel

from scheduler.api.core import Node, Pod
from scheduler.api.membership import pod_group_of
from scheduler.api.meta import ObjectMeta
from scheduler.api.podgroup import PodGroup
from scheduler.api.quantity import format_scheduler_units

SIMILAR_WARNINGS = 3  # shown of one kind (e.g. generated gangs too big); the rest are counted


def scenario_warnings(
    where: typing.Callable[[BaseModel], str],
    levels: Sequence[str],
    nodes: Sequence[Node],
    groups: Sequence[PodGroup],
    pods: Sequence[Pod],
    classes: set[str] | frozenset[str],
    *,
    autoscaled: bool,
) -> tuple[str, ...]:
    """What loads but will not behave as written, each with file:line; many of one kind are counted, not listed,
    as a generator repeats one mistake hundreds of times."""
    kinds: dict[str, list[str]] = defaultdict(list)
    group_refs = {(g.metadata.namespace, g.metadata.name) for g in groups}
    members: dict[tuple[str | None, str], list[Pod]] = defaultdict(list)
    for pod in pods:
        name = pod_group_of(pod)
        if name and (pod.metadata.namespace, name) not in group_refs:
            kinds["orphan"].append(
                f"{where(pod)}: Pod {qualified(pod.metadata)} names PodGroup {name!r}, which does not exist: "
                "it will wait"
            )
        elif name:
            members[(pod.metadata.namespace, name)].append(pod)
    ranked = {
        (g.metadata.namespace, g.metadata.name)
        for g in groups
        if g.spec.priority is not None or g.spec.priority_class_name is not None
    }
    unknown_classes: dict[str, list[tuple[str, str, str]]] = defaultdict(list)  # name -> (where, what, effect)
    for pod in pods:
        name = pod.spec.priority_class_name
        # A group's own priority outranks its pods' classes, so only then does a pod's class matter.
        unranked = (pod.metadata.namespace, pod_group_of(pod)) not in ranked
        if name and pod.spec.priority is None and name not in classes and unranked:
            unknown_classes[name].append((where(pod), f"Pod {qualified(pod.metadata)}", "its priority is unknown"))
    for node in nodes:
        if not any(c.type == "Ready" for c in node.status.conditions):
            kinds["ready"].append(
                f"{where(node)}: Node {node.metadata.name} has no Ready condition: it counts as NotReady and "
                "nothing will be placed on it"
            )
    total: dict[str, int] = defaultdict(int)
    for node in nodes:
        for resource, amount in node.allocatable().items():
            total[resource] += amount
    known = set(levels)
    for group in groups:
        label = f"PodGroup {qualified(group.metadata)}"
        name = group.spec.priority_class_name
        if name is not None and group.spec.priority is None and name not in classes:
            unknown_classes[name].append((where(group), label, "it is not scheduled until the class exists"))
        for constraint in group.spec.scheduling_constraints.topology:
            if constraint.key not in known:
                kinds["level"].append(
                    f"{where(group)}: {label}: topology key {constraint.key} is not one of the scenario's "
                    f"topologyLevels ({', '.join(levels)}): "
                    + ("the gang can never be placed" if constraint.mode.value == "Required" else "it is ignored")
                )
        too_big = _beyond_cluster(members[(group.metadata.namespace, group.metadata.name)], group, total)
        if too_big:
            then = "it starts only once the autoscaler adds nodes" if autoscaled else "it can never start"
            kinds["size"].append(
                f"{where(group)}: {label}: minCount pods need more than the cluster ({too_big}): {then}"
            )
    for name, uses in unknown_classes.items():
        place, what, effect = uses[0]
        close = difflib.get_close_matches(name, sorted(classes), n=1)
        hint = f" (did you mean {close[0]}?)" if close else ""
        others = f"; {len(uses) - 1} more objects name it" if len(uses) > 1 else ""
        kinds["class"].append(
            f"{place}: {what}: priorityClassName {name!r}{hint} is not defined in the scenario: {effect}{others}"
        )
    out: list[str] = []
    for items in kinds.values():
        out.extend(items[:SIMILAR_WARNINGS])
        if len(items) > SIMILAR_WARNINGS:
            out.append(f"... and {len(items) - SIMILAR_WARNINGS} more like the one above")
    return tuple(out)


def _beyond_cluster(pods: list[Pod], group: PodGroup, total: dict[str, int]) -> str:
    """What the smallest minCount pods of a gang need beyond every node of the cluster together, or ""."""
    needed = group.spec.scheduling_policy.min_count
    if needed <= 1 or len(pods) < needed:
        return ""
    demands = [p.requests() for p in pods]
    over = []
    for resource in sorted({r for d in demands for r in d} - {"pods"}):
        amount = sum(sorted(d.get(resource, 0) for d in demands)[:needed])
        if amount > total.get(resource, 0):
            have = format_scheduler_units(resource, total.get(resource, 0))
            over.append(f"{resource} {format_scheduler_units(resource, amount)} of {have}")
    return "; ".join(over)


def qualified(meta: ObjectMeta | dict[str, Any]) -> str:
    if isinstance(meta, ObjectMeta):
        name, namespace = meta.name, meta.namespace
    else:
        name, namespace = meta.get("name", "?"), meta.get("namespace")
    return f"{namespace}/{name}" if namespace else str(name)


def field_aliases(model: type[BaseModel], loc: Sequence[int | str]) -> list[str]:
    """The wire names (camelCase) of the fields of the model found at `loc` inside `model`."""
    current: type[BaseModel] | None = model
    for part in loc:
        if current is None:
            return []
        if isinstance(part, int):
            continue
        info = next((f for name, f in current.model_fields.items() if part in (name, f.alias)), None)
        current = next(models_in(info.annotation), None) if info is not None else None
    if current is None:
        return []
    return [f.alias or name for name, f in current.model_fields.items()]


def models_in(annotation: Any) -> Iterator[type[BaseModel]]:
    """Pydantic models inside a field's annotation: `X`, `X | None`, `list[X]`, `dict[str, X]`, `Annotated`."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
        return
    origin = typing.get_origin(annotation)
    if origin is None and not isinstance(annotation, types.UnionType):
        return
    for arg in typing.get_args(annotation):
        yield from models_in(arg)


def field_path(loc: Sequence[int | str]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "<document>"


def clean_message(message: str) -> str:
    return message.removeprefix("Value error, ")


def line_of(node: yaml.Node, loc: Sequence[int | str]) -> int | None:
    """The line of the deepest YAML node on the path `loc`, so errors point at the offending field."""
    best: yaml.Node = node
    for part in loc:
        child: yaml.Node | None = None
        if isinstance(node, yaml.MappingNode) and isinstance(part, str):
            child = next((v for k, v in node.value if getattr(k, "value", None) == part), None)
            if child is None:
                break
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
            child = node.value[part]
        elif isinstance(node, yaml.MappingNode) and part == 0:
            continue  # one mapping where a list of them is allowed: it is the list's first item
        else:
            break
        node = best = child
    return best.start_mark.line + 1

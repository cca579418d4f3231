"""Scenario files: the YAML a user would `kubectl apply`, plus one `Scenario` document of simulator settings.

Every document is validated through the same API models the operator uses. Errors name the file, the line and
the field (`demo.yaml:42: Workload ml/train: spec.podGroupTemplates[0].name: …`), because a scenario is
hand-written and the first thing a new user edits. Every error of every document is reported at once, unknown
fields first with the nearest known one (a typo there explains the "field required" errors after it), so one
run shows everything to fix. Warnings (file:line too) flag what loads but will not behave as the author meant.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from importlib.resources import files
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, Field, ValidationError, field_validator

from scheduler.api.base import ApiModel
from scheduler.api.config import DEFAULT_LEVELS
from scheduler.api.core import Node, Pod, PodDisruptionBudget, PriorityClass
from scheduler.api.membership import pod_group_of, stamp_pod_groups
from scheduler.api.meta import ObjectMeta
from scheduler.api.namespace import Namespace
from scheduler.api.podgroup import PodGroup
from scheduler.api.storage import PersistentVolume, PersistentVolumeClaim, StorageClass
from scheduler.api.upstream import UpstreamWorkload, is_foreign, read_pod_group
from scheduler.api.validation import check_topology_levels
from scheduler.api.workload import Workload
from scheduler.sim.autoscaler import AutoscalerSpec
from scheduler.sim.generate import ClusterGenerator, WorkloadGenerator
from scheduler.sim.scenario_checks import (
    clean_message,
    field_aliases,
    field_path,
    line_of,
    qualified,
    scenario_warnings,
)

DEFAULT_TOPOLOGY_LEVELS = DEFAULT_LEVELS
SCENARIO_API_VERSION = "sim.phalanx.dev/v1alpha1"


class Policy(StrEnum):
    """What `phalanx simulate` compares on the same trace."""

    PHALANX = "phalanx"  # gangs, CP-SAT placement and preemption
    GREEDY = "greedy"  # gangs, greedy best-fit, reverse-reprieve preemption (upstream, Volcano)
    POD_BY_POD = "pod-by-pod"  # kube-scheduler's default: no gangs


class SimulationSpec(ApiModel):
    horizon_seconds: Annotated[float, Field(gt=0)] = 7 * 24 * 3600.0
    policies: Annotated[list[Policy], Field(min_length=1)] = Field(default_factory=lambda: list(Policy))


NARRATIVE_LINES = 2
NARRATIVE_WIDTH = 100  # so each line prints as one on a 100-column terminal


class ScenarioSpec(ApiModel):
    description: str = ""
    # What the trace puts to the test, and what to look for in the comparison: printed with it.
    narrative: str = ""
    topology_levels: Annotated[list[str], Field(min_length=1)] = Field(
        default_factory=lambda: list(DEFAULT_TOPOLOGY_LEVELS)
    )
    cluster: ClusterGenerator | None = None
    # One generator, or several (each its own arrival stream, e.g. a background first, then what must fit in).
    workload: list[WorkloadGenerator] = Field(default_factory=list)
    autoscaler: AutoscalerSpec | None = None  # capacity on request for units that fit nowhere (sim/autoscaler.py)
    simulation: SimulationSpec = Field(default_factory=SimulationSpec)

    @field_validator("topology_levels")
    @classmethod
    def _levels_are_label_keys(cls, levels: list[str]) -> list[str]:
        return check_topology_levels(levels)

    @field_validator("workload", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        if value is None:
            return []
        return [value] if isinstance(value, dict) else value

    @field_validator("narrative")
    @classmethod
    def _two_lines(cls, text: str) -> str:
        lines = text.strip().splitlines()
        if len(lines) > NARRATIVE_LINES:
            raise ValueError(
                f"the narrative is {NARRATIVE_LINES} lines at most (the situation, then what to look for), "
                f"got {len(lines)}"
            )
        long = [i + 1 for i, line in enumerate(lines) if len(line.strip()) > NARRATIVE_WIDTH]
        if long:
            raise ValueError(f"narrative line {long[0]} is longer than {NARRATIVE_WIDTH} characters")
        return "\n".join(line.strip() for line in lines)


class ScenarioDocument(ApiModel):
    api_version: Literal["sim.phalanx.dev/v1alpha1"] = "sim.phalanx.dev/v1alpha1"
    kind: Literal["Scenario"] = "Scenario"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: ScenarioSpec = Field(default_factory=ScenarioSpec)


_KINDS: dict[str, type[BaseModel]] = {
    "Scenario": ScenarioDocument,
    "Node": Node,
    "PriorityClass": PriorityClass,
    "Workload": Workload,
    "PodGroup": PodGroup,
    "Pod": Pod,
    "PodDisruptionBudget": PodDisruptionBudget,
    "PersistentVolumeClaim": PersistentVolumeClaim,
    "PersistentVolume": PersistentVolume,
    "StorageClass": StorageClass,
    "Namespace": Namespace,
}
_CLUSTER_SCOPED = frozenset({"Scenario", "Node", "PriorityClass", "PersistentVolume", "StorageClass", "Namespace"})


class ScenarioError(ValueError):
    """A scenario file that cannot be loaded; the message names file, line and field of each problem."""

    def __init__(self, message: str, problems: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.problems = tuple(problems) or (message,)


# Kubernetes creates these in every cluster; a scenario need not define them.
BUILTIN_PRIORITY_CLASSES = frozenset({"system-cluster-critical", "system-node-critical"})


@dataclass(frozen=True)
class Scenario:
    source: Path
    name: str
    description: str
    topology_levels: tuple[str, ...]
    nodes: tuple[Node, ...]
    priority_classes: tuple[PriorityClass, ...]
    workloads: tuple[Workload, ...]
    pod_groups: tuple[PodGroup, ...]
    pods: tuple[Pod, ...]
    budgets: tuple[PodDisruptionBudget, ...] = ()
    claims: tuple[PersistentVolumeClaim, ...] = ()
    volumes: tuple[PersistentVolume, ...] = ()
    storage_classes: tuple[StorageClass, ...] = ()
    namespaces: tuple[Namespace, ...] = ()
    warnings: tuple[str, ...] = field(default=())
    simulation: SimulationSpec = field(default_factory=SimulationSpec)
    autoscaler: AutoscalerSpec | None = None
    narrative: str = ""

    def pods_of(self, group: PodGroup) -> list[Pod]:
        return [
            p
            for p in self.pods
            if pod_group_of(p) == group.metadata.name and p.metadata.namespace == group.metadata.namespace
        ]


def bundled_scenarios() -> tuple[str, ...]:
    """The names of the scenarios shipped in scheduler/sim/scenarios, the demo first."""
    folder = files("scheduler.sim").joinpath("scenarios")
    names = sorted(f.name.removesuffix(".yaml") for f in folder.iterdir() if f.name.endswith(".yaml"))
    return tuple(sorted(names, key=lambda name: name != "demo"))


def load_scenario(path: Path) -> Scenario:
    """Load and validate a scenario file; raise ScenarioError naming file, line and field on bad input."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read: {exc.strerror}") from exc
    try:
        nodes = [n for n in yaml.compose_all(text, Loader=yaml.SafeLoader) if n is not None]
        documents = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else "?"
        raise ScenarioError(f"{path}:{line}: not valid YAML: {exc.problem}") from exc
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{path}: not valid YAML: {exc}") from exc
    if not documents:
        raise ScenarioError(f"{path}: the file holds no documents")
    objects: list[tuple[BaseModel, int]] = []
    unknown: list[str] = []
    other: list[str] = []
    settings_node: yaml.Node | None = None
    for doc, node in zip(documents, nodes, strict=True):
        parsed = _parse_document(path, doc, node)
        if isinstance(parsed, tuple):
            objects.append(parsed)
            settings_node = node if isinstance(parsed[0], ScenarioDocument) else settings_node
        else:
            unknown.extend(parsed.unknown)
            other.extend(parsed.other)
    if unknown or other:
        raise _combined(path, [*unknown, *other])
    return _assemble(path, objects, settings_node)


@dataclass
class _Problems:
    unknown: list[str] = field(default_factory=list)  # unknown fields, reported before the rest
    other: list[str] = field(default_factory=list)


def _combined(path: Path, problems: list[str]) -> ScenarioError:
    if len(problems) == 1:
        return ScenarioError(problems[0])
    listed = "\n".join(f"  {p}" for p in problems)
    return ScenarioError(f"{path}: {len(problems)} problems:\n{listed}", problems)


def _parse_document(path: Path, doc: Any, node: yaml.Node) -> tuple[BaseModel, int] | _Problems:
    line = node.start_mark.line + 1
    if not isinstance(doc, dict):
        return _Problems(
            other=[f"{path}:{line}: each document must be a mapping (an object), got {type(doc).__name__}"]
        )
    kind = doc.get("kind")
    if kind not in _KINDS:
        known = ", ".join(sorted(_KINDS))
        close = difflib.get_close_matches(str(kind), list(_KINDS), n=1)
        hint = f"; did you mean {close[0]}?" if close else ""
        return _Problems(other=[f"{path}:{line}: kind {kind!r} is not supported in a scenario (one of: {known}){hint}"])
    meta = doc.get("metadata")
    if not isinstance(meta, dict) or not meta.get("name"):
        return _Problems(other=[f"{path}:{line}: {kind}: metadata.name is required"])
    if kind not in _CLUSTER_SCOPED:
        meta.setdefault("namespace", "default")
    model = _KINDS[kind]
    foreign = kind in ("PodGroup", "Workload") and is_foreign(str(doc.get("apiVersion", "")))
    try:
        if foreign and kind == "PodGroup":  # upstream's or coscheduling's, exactly as it would be applied
            return read_pod_group(doc), line
        if foreign:
            return UpstreamWorkload.model_validate(doc), line
        return model.model_validate(doc), line
    except ValidationError as exc:
        problems = _Problems()
        label = f"{kind} {qualified(meta)}"
        for error in exc.errors():
            loc = error["loc"]
            where = line_of(node, loc) or line
            if error["type"] == "extra_forbidden":
                aliases = field_aliases(model, loc[:-1])
                close = difflib.get_close_matches(str(loc[-1]), aliases, n=1, cutoff=0.6) if aliases else []
                hint = f"; did you mean {close[0]}?" if close else ""
                problems.unknown.append(f"{path}:{where}: {label}: {field_path(loc)}: unknown field{hint}")
            else:
                problems.other.append(f"{path}:{where}: {label}: {field_path(loc)}: {clean_message(error['msg'])}")
        return problems


def _assemble(path: Path, parsed: Sequence[tuple[BaseModel, int]], settings_node: yaml.Node | None = None) -> Scenario:
    settings = ScenarioDocument()
    # Upstream Workloads are read by apiVersion (kind Workload); nothing is stamped out of them, as in a cluster.
    kinds: list[type[BaseModel]] = [*_KINDS.values(), UpstreamWorkload]
    buckets: dict[type[BaseModel], list[BaseModel]] = {kind: [] for kind in kinds}
    seen: dict[tuple[str, str, str], int] = {}
    lines: dict[int, int] = {}  # id of an object from the file -> its line
    settings_line = 0
    problems: list[str] = []
    for obj, line in parsed:
        lines[id(obj)] = line
        if isinstance(obj, ScenarioDocument):
            if buckets[ScenarioDocument]:
                problems.append(f"{path}:{line}: only one Scenario document is allowed")
            settings, settings_line = obj, line
        meta: ObjectMeta = obj.metadata  # type: ignore[attr-defined]
        key = (type(obj).__name__, meta.namespace or "", meta.name)
        if key in seen:
            problems.append(f"{path}:{line}: {key[0]} {qualified(meta)} is already defined at line {seen[key]}")
            continue
        seen[key] = line
        buckets[type(obj)].append(obj)
    if problems:
        raise _combined(path, problems)

    workloads = [w for w in buckets[Workload] if isinstance(w, Workload)]
    groups = [g for g in buckets[PodGroup] if isinstance(g, PodGroup)]
    nodes = [n for n in buckets[Node] if isinstance(n, Node)]
    pods = [p for p in buckets[Pod] if isinstance(p, Pod)]
    if settings.spec.cluster is not None:
        nodes.extend(settings.spec.cluster.nodes())
    generated = {(g.metadata.namespace, g.metadata.name) for g in groups}
    for index, generator in enumerate(settings.spec.workload):
        generated_groups, generated_pods = generator.objects()
        for group in generated_groups:
            ref = (group.metadata.namespace, group.metadata.name)
            if ref in generated:
                raise ScenarioError(
                    f"{path}:{settings_line}: Scenario: spec.workload[{index}] generates PodGroup "
                    f"{ref[0]}/{ref[1]}, which is already defined: name its templates apart from the other "
                    "PodGroups of the namespace"
                )
            generated.add(ref)
        # A generated object's line is its template's: that is where a warning about it is fixed.
        template_lines = {
            t.name: line_of(settings_node, ("spec", "workload", index, "templates", j)) if settings_node else None
            for j, t in enumerate(generator.templates)
        }
        owners = [(g, g.metadata.name) for g in generated_groups] + [(p, pod_group_of(p)) for p in generated_pods]
        for made, owner in owners:
            template_line = template_lines.get((owner or "").rsplit("-", 1)[0])
            if template_line:
                lines[id(made)] = template_line
        groups.extend(generated_groups)
        pods.extend(generated_pods)
    names = [n.metadata.name for n in nodes]
    if len(set(names)) != len(names):
        raise ScenarioError(f"{path}: generated node names clash with explicit ones")
    explicit = {(g.metadata.namespace, g.metadata.name) for g in groups}
    for workload in workloads:
        for stamped in stamp_pod_groups(workload):
            ref = (stamped.metadata.namespace, stamped.metadata.name)
            if ref in explicit:
                raise ScenarioError(
                    f"{path}: PodGroup {ref[0]}/{ref[1]} is defined explicitly and also stamped out by "
                    f"Workload {workload.metadata.namespace}/{workload.metadata.name}"
                )
            groups.append(stamped)

            lines[id(stamped)] = lines.get(id(workload), 0)

    def where(obj: BaseModel) -> str:
        # Generated objects have no line of their own: their generator is in the Scenario document.
        line = lines.get(id(obj), settings_line)
        return f"{path}:{line}" if line else str(path)

    classes = {c.metadata.name for c in buckets[PriorityClass] if isinstance(c, PriorityClass)}
    warnings = scenario_warnings(
        where,
        settings.spec.topology_levels,
        nodes,
        groups,
        pods,
        classes | BUILTIN_PRIORITY_CLASSES,
        autoscaled=settings.spec.autoscaler is not None,
    )
    return Scenario(
        source=path,
        name=settings.metadata.name or path.stem,
        description=settings.spec.description,
        topology_levels=tuple(settings.spec.topology_levels),
        nodes=tuple(nodes),
        priority_classes=tuple(c for c in buckets[PriorityClass] if isinstance(c, PriorityClass)),
        workloads=tuple(workloads),
        pod_groups=tuple(groups),
        pods=tuple(pods),
        budgets=tuple(b for b in buckets[PodDisruptionBudget] if isinstance(b, PodDisruptionBudget)),
        claims=tuple(c for c in buckets[PersistentVolumeClaim] if isinstance(c, PersistentVolumeClaim)),
        volumes=tuple(v for v in buckets[PersistentVolume] if isinstance(v, PersistentVolume)),
        storage_classes=tuple(c for c in buckets[StorageClass] if isinstance(c, StorageClass)),
        namespaces=tuple(n for n in buckets[Namespace] if isinstance(n, Namespace)),
        warnings=tuple(warnings),
        simulation=settings.spec.simulation,
        autoscaler=settings.spec.autoscaler,
        narrative=settings.spec.narrative,
    )

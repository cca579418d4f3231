"""`phalanx top`: one read of what the scheduler is doing, as a plain view the terminal renders.

The reads are `phalanx explain`'s (PodGroups, pods, Phalanx events), widened to a namespace or the whole
cluster, plus nodes for the size of each domain. Each read stands alone: one that fails leaves its part of the
view empty and an error line, so a watcher sees a flaky API server instead of losing the view.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from kubernetes_asyncio import client

from scheduler.api.integrations import workload_name
from scheduler.api.podgroup import COSCHEDULING_POD_GROUP_LABEL, POD_GROUP_LABEL, POD_GROUP_SCHEDULED
from scheduler.api.workload import GROUP, VERSION
from scheduler.kube.connection import load_connection
from scheduler.kube.explain import event_sort_key, event_time, foreign_groups, from_phalanx, pod_summary

PLACED = frozenset({"Scheduled", "Running"})
FINISHED = frozenset({"Succeeded", "Failed"})
REQUEST_TIMEOUT_S = 10.0
DECISIONS = 50  # newest Phalanx events kept; the terminal shows fewer


@dataclass(frozen=True)
class LastDecision:
    time: datetime | None
    solver: str  # Optimal, Feasible, Infeasible, Timeout, Skipped
    gap: float | None
    victims: int
    duration_s: float


@dataclass(frozen=True)
class Unit:
    """A PodGroup, or pods the scheduler places one at a time (a lone pod, or a controller's pods that form
    no gang), with where it stands."""

    key: str  # namespace/name
    kind: str  # PodGroup, Pod, or the controller's kind (Job, StatefulSet, ...)
    min_count: int
    pods: int  # live member pods
    pending: int  # of them, not bound yet
    running: int
    priority: int | None
    priority_class: str
    created: datetime | None  # the PodGroup's, else its oldest pod's: the queue's second key
    phase: str
    reason: str  # PodGroupScheduled's reason, or the pod's PodScheduled reason
    message: str
    since: datetime | None  # when that reason was set
    level: str = ""
    domain: str = ""
    nodes: int = 0  # distinct nodes of its bound pods
    decision: LastDecision | None = None

    def order(self) -> tuple[int, float, str]:
        """The scheduler's queue order: priority (highest first), then age, then key."""
        priority = self.priority if self.priority is not None else 0
        return (-priority, self.created.timestamp() if self.created else 0.0, self.key)


@dataclass(frozen=True)
class Domain:
    level: str
    name: str
    nodes: int  # nodes carrying level=name
    busy: int  # of them, holding a bound pod of ours
    gangs: tuple[Unit, ...]


@dataclass(frozen=True)
class Event:
    time: datetime | None
    unit: str  # the gang of the object, else the object
    type: str
    reason: str
    objects: int  # how many objects of the unit got this reason since its previous one
    message: str


@dataclass(frozen=True)
class ClusterView:
    namespace: str | None  # None: every namespace
    taken_at: datetime
    nodes: int = 0
    usable_nodes: int = 0  # Ready and not cordoned
    queue: tuple[Unit, ...] = ()  # units with pods to place, in queue order
    waiting: tuple[Unit, ...] = ()  # PodGroups not placed, in queue order
    domains: tuple[Domain, ...] = ()
    decisions: tuple[Event, ...] = ()  # newest first
    errors: tuple[str, ...] = ()


def client_configuration(kubeconfig: str | None = None) -> client.Configuration:
    """For the kubeconfig (else $KUBECONFIG, ~/.kube/config, in-cluster), as `explain` connects; raises
    KubeconfigError. The client itself must be made on the event loop that uses it."""
    return load_connection(kubeconfig).client_configuration()


@contextlib.asynccontextmanager
async def snapshots(
    configuration: client.Configuration, namespace: str | None, scheduler_name: str = "phalanx"
) -> AsyncIterator[Callable[[], Awaitable[ClusterView]]]:
    """A reader of fresh views over one connection, kept open for as long as the terminal watches."""
    async with client.ApiClient(configuration) as api:
        yield lambda: snapshot(api, namespace, scheduler_name)


async def snapshot(api: client.ApiClient, namespace: str | None, scheduler_name: str = "phalanx") -> ClusterView:
    """Everything `phalanx top` shows, read now; API errors become `errors`, never exceptions."""
    objects: Any = client.CustomObjectsApi(api)
    core: Any = client.CoreV1Api(api)
    timeout = {"_request_timeout": REQUEST_TIMEOUT_S}
    ours = f"spec.schedulerName={scheduler_name}"
    events = "source=phalanx"
    if namespace is None:
        reads: dict[str, Callable[[], Awaitable[Any]]] = {
            "podgroups": lambda: objects.list_cluster_custom_object(GROUP, VERSION, "podgroups", **timeout),
            "pods": lambda: core.list_pod_for_all_namespaces(field_selector=ours, **timeout),
            "events": lambda: core.list_event_for_all_namespaces(field_selector=events, **timeout),
        }
    else:
        reads = {
            "podgroups": lambda: objects.list_namespaced_custom_object(
                GROUP, VERSION, namespace, "podgroups", **timeout
            ),
            "pods": lambda: core.list_namespaced_pod(namespace, field_selector=ours, **timeout),
            "events": lambda: core.list_namespaced_event(namespace, field_selector=events, **timeout),
        }
    reads["nodes"] = lambda: core.list_node(**timeout)
    reads["upstream podgroups"] = lambda: foreign_groups(objects, namespace, **timeout)
    answers = await asyncio.gather(*(read() for read in reads.values()), return_exceptions=True)
    got: dict[str, Any] = {}
    failed: dict[str, list[str]] = defaultdict(list)
    for what, answer in zip(reads, answers, strict=True):
        if isinstance(answer, asyncio.CancelledError):
            raise answer
        if isinstance(answer, BaseException):
            failed[_describe(answer)].append(what)
        else:
            got[what] = answer
    groups = got["podgroups"].get("items", []) if "podgroups" in got else []
    groups += got.get("upstream podgroups", [])
    return build_view(
        namespace,
        datetime.now(UTC),
        groups,
        got["pods"].items if "pods" in got else [],
        got["nodes"].items if "nodes" in got else [],
        got["events"].items if "events" in got else [],
        tuple(f"cannot list {', '.join(whats)}: {why}" for why, whats in failed.items()),
    )


def _describe(exc: BaseException) -> str:
    if isinstance(exc, client.ApiException):
        return f"{exc.status} {exc.reason}".strip()
    if isinstance(exc, TimeoutError):
        return f"no answer within {REQUEST_TIMEOUT_S:.0f} s"
    return str(exc) or type(exc).__name__


def build_view(
    namespace: str | None,
    now: datetime,
    groups: list[dict[str, Any]],
    pods: list[Any],
    nodes: list[Any],
    events: list[Any],
    errors: tuple[str, ...] = (),
) -> ClusterView:
    """The view from the API's answers (PodGroups as dicts, the rest as kubernetes-asyncio models)."""
    by_key = {f"{g['metadata'].get('namespace', '')}/{g['metadata']['name']}": g for g in groups}
    # A controller's pods join a gang by their owner chain; the Workload made for a direct controller names the
    # gang, and pods further down a chain (JobSet -> Job -> pod) are shown under their controller.
    made_for: dict[str, list[str]] = defaultdict(list)
    for key, group in by_key.items():
        ref = group.get("spec", {}).get("workloadRef") or {}
        if ref.get("workloadName"):
            made_for[f"{key.split('/', 1)[0]}/{ref['workloadName']}"].append(key)
    members: dict[str, list[Any]] = defaultdict(list)
    kinds: dict[str, str] = {}
    for pod in pods:
        if pod.metadata.deletion_timestamp is not None and not pod.spec.node_name:
            continue  # never scheduled again, never counted
        if (pod.status.phase or "") in FINISHED:
            continue
        key, kind = _unit_of(pod, made_for)
        members[key].append(pod)
        kinds.setdefault(key, kind)
    labels = {n.metadata.name: n.metadata.labels or {} for n in nodes}
    units = [_group_unit(key, group, members.get(key, [])) for key, group in by_key.items()]
    units += [_pod_unit(key, kinds[key], pods) for key, pods in members.items() if key not in by_key]
    queue = sorted((u for u in units if u.pending), key=Unit.order)
    waiting = sorted((u for u in units if u.kind == "PodGroup" and u.phase not in PLACED | FINISHED), key=Unit.order)
    placed = [u for u in units if u.kind == "PodGroup" and u.phase in PLACED]
    return ClusterView(
        namespace=namespace,
        taken_at=now,
        nodes=len(nodes),
        usable_nodes=sum(1 for n in nodes if _usable(n)),
        queue=tuple(queue),
        waiting=tuple(waiting),
        domains=_domains(
            placed, labels, {p.spec.node_name for live in members.values() for p in live if p.spec.node_name}
        ),
        decisions=_decisions(events, members),
        errors=errors,
    )


def _unit_of(pod: Any, made_for: dict[str, list[str]]) -> tuple[str, str]:
    namespace = pod.metadata.namespace or "default"
    labels = pod.metadata.labels or {}
    # The scheduler's rule (api/membership.py): upstream's schedulingGroup, then our label, then
    # scheduler-plugins'. (A typed client that predates schedulingGroup drops it.)
    grouped = getattr(pod.spec, "scheduling_group", None)
    group = getattr(grouped, "pod_group_name", None) or labels.get(POD_GROUP_LABEL)
    group = group or labels.get(COSCHEDULING_POD_GROUP_LABEL)
    if group:
        return f"{namespace}/{group}", "PodGroup"
    owner = next((r for r in pod.metadata.owner_references or [] if r.controller), None)
    if owner is None:
        return f"{namespace}/{pod.metadata.name}", "Pod"
    if owner.kind == "Job":
        gangs = made_for.get(f"{namespace}/{workload_name(owner.name, 'Job')}", [])
        if len(gangs) == 1:
            return gangs[0], "PodGroup"
    return f"{namespace}/{owner.name}", owner.kind


def _group_unit(key: str, group: dict[str, Any], pods: list[Any]) -> Unit:
    spec, status = group.get("spec", {}), group.get("status") or {}
    condition: dict[str, Any] = next(
        (c for c in status.get("conditions", []) if c.get("type") == POD_GROUP_SCHEDULED), {}
    )
    explicit = spec.get("priority")
    priorities = [p.spec.priority for p in pods if p.spec.priority is not None]
    placement = status.get("placement") or {}
    decided = status.get("lastDecision")
    decision = None
    if decided:
        decision = LastDecision(
            time=_parse_time(decided.get("time")),
            solver=str(decided.get("solverStatus", "")),
            gap=decided.get("gap"),
            victims=int(decided.get("victims", 0)),
            duration_s=float(decided.get("durationSeconds", 0.0)),
        )
    bound = [p for p in pods if p.spec.node_name]
    return Unit(
        key=key,
        kind="PodGroup",
        min_count=int((spec.get("schedulingPolicy", {}).get("gang") or {}).get("minCount", 1)),
        pods=len(pods),
        pending=len(pods) - len(bound),
        running=int(status.get("running", 0)),
        priority=explicit if isinstance(explicit, int) else max(priorities, default=None),
        priority_class=str(spec.get("priorityClassName") or _class_of(pods)),
        created=_parse_time(group["metadata"].get("creationTimestamp")) or _oldest(pods),
        phase=str(status.get("phase", "Pending")),
        reason=str(condition.get("reason", "")),
        message=str(condition.get("message", "")),
        since=_parse_time(condition.get("lastTransitionTime")),
        level=str(placement.get("level", "")),
        domain=str(placement.get("domain", "")),
        nodes=len({p.spec.node_name for p in bound}),
        decision=decision,
    )


def _pod_unit(key: str, kind: str, pods: list[Any]) -> Unit:
    pending = [p for p in pods if not p.spec.node_name]
    # The first pending pod the scheduler explained speaks for the unit (a controller's pods share one reason).
    explained: list[tuple[Any, Any]] = [
        (pod, condition)
        for pod in pending
        for condition in pod.status.conditions or []
        if condition.type == "PodScheduled" and condition.status == "False"
    ]
    pod, condition = explained[0] if explained else (None, None)
    priorities = [p.spec.priority for p in pods if p.spec.priority is not None]
    return Unit(
        key=key,
        kind=kind,
        min_count=1,
        pods=len(pods),
        pending=len(pending),
        running=sum(1 for p in pods if p.spec.node_name and p.status.phase == "Running"),
        priority=max(priorities, default=None),
        priority_class=_class_of(pods),
        created=_oldest(pods),
        phase="Pending" if pending else "Running",
        reason=(condition.reason or "") if condition is not None else "",
        message=pod_summary(pod)["message"] if pod is not None else "",
        since=condition.last_transition_time if condition is not None else None,
    )


def _oldest(pods: Iterable[Any]) -> datetime | None:
    return min((p.metadata.creation_timestamp for p in pods if p.metadata.creation_timestamp), default=None)


def _class_of(pods: Iterable[Any]) -> str:
    return next((str(p.spec.priority_class_name) for p in pods if p.spec.priority_class_name), "")


def _domains(placed: list[Unit], labels: dict[str, dict[str, str]], busy: set[str]) -> tuple[Domain, ...]:
    by_domain: dict[tuple[str, str], list[Unit]] = defaultdict(list)
    for unit in placed:
        by_domain[(unit.level, unit.domain)].append(unit)
    domains = []
    for (level, name), gangs in by_domain.items():
        inside = [node for node, node_labels in labels.items() if level and node_labels.get(level) == name]
        domains.append(Domain(level, name, len(inside), sum(1 for n in inside if n in busy), tuple(gangs)))
    return tuple(domains)


def _decisions(events: list[Any], members: dict[str, list[Any]]) -> tuple[Event, ...]:
    """Newest first; a gang's per-pod events of one reason fold into one line."""
    unit_of = {(p.metadata.namespace, p.metadata.name): key for key, group in members.items() for p in group}
    out: list[Event] = []
    for event in sorted((e for e in events if from_phalanx(e)), key=event_sort_key, reverse=True):
        involved = event.involved_object
        namespace = involved.namespace or event.metadata.namespace or "default"
        unit = unit_of.get((namespace, involved.name), f"{namespace}/{involved.name}")
        previous = out[-1] if out else None
        if previous is not None and (previous.unit, previous.reason) == (unit, event.reason):
            out[-1] = replace(previous, objects=previous.objects + 1)
            continue
        if len(out) == DECISIONS:
            break
        out.append(Event(event_time(event), unit, event.type or "", event.reason or "", 1, event.message or ""))
    return tuple(out)


def _usable(node: Any) -> bool:
    conditions = node.status.conditions or [] if node.status else []
    ready = any(c.type == "Ready" and c.status == "True" for c in conditions)
    return ready and not (node.spec and node.spec.unschedulable)


def _parse_time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value))
    except ValueError:
        return None

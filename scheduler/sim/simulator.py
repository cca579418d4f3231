"""Discrete-event simulation: the engine decides, an in-memory cluster carries the decisions out.

Jobs (a PodGroup with its pods, or a lone pod) arrive at their `sim.phalanx.dev/arrival-seconds`, run for
their `run-seconds` once at least minCount of their pods are bound, and release everything when done. A job
that loses a running pod to preemption stops (its work so far is lost) and resumes from scratch once whole
again; its evicted pods come back pending, as their controller would recreate them. Pods bound while their job
cannot run still hold their node: that is the partial-gang waste the pod-by-pod baseline shows.

The engine is the operator's (engine/driver.py), policy and all: the queue, backoff, nominations, the binding
cycle and status decisions run as in `phalanx run`; only the cluster differs (sim/cluster.py carries the
effects out at once, on a simulated clock).
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from enum import IntEnum
from typing import Any

import numpy as np

from scheduler.api.core import Node, Pod
from scheduler.api.podgroup import PodGroupStatus, ScheduledReason
from scheduler.engine.cycle import Decision, EngineConfig
from scheduler.engine.driver import Engine
from scheduler.engine.effects import AskCapacity, Effect, WriteStatus
from scheduler.engine.state import ClusterState, pod_info
from scheduler.engine.units import Unit
from scheduler.sim.autoscaler import SimAutoscaler
from scheduler.sim.cluster import SimCluster
from scheduler.sim.generate import ARRIVAL, REMOVAL, RUN
from scheduler.sim.occupancy import Occupancy
from scheduler.sim.replay import SCHEDULER_NAME, SIM_PARAMS, load_state
from scheduler.sim.scenario import Policy, Scenario, ScenarioError
from scheduler.solver.problem import SolverParams
from scheduler.topology.nodes import strip_node

DEFAULT_RUN_SECONDS = 3600.0
MAX_PASSES_PER_INSTANT = 50  # a preemption takes two; a cascade of them a few more


class SimulationInvariantError(AssertionError):
    """The simulation broke a promise the scheduler makes (a bug, never bad input)."""


class Kind(IntEnum):
    # At one instant: nodes change first, then what finishes frees room, then what arrives.
    NODE_ADD = 0
    NODE_REMOVE = 1
    COMPLETE = 2
    ARRIVE = 3


@dataclass
class Job:
    key: str
    pods: list[str]
    min_count: int
    arrival: float
    duration: float
    priority_pods: dict[str, Pod] = field(default_factory=dict)
    started: float | None = None
    running_since: float | None = None
    finished: float | None = None
    epoch: int = 0
    interruptions: int = 0
    lost: float = 0.0  # resource-seconds of work lost to preemption
    racks: int = 0
    blocks: int = 0

    @property
    def wait(self) -> float | None:
        return None if self.started is None else self.started - self.arrival


@dataclass(frozen=True)
class Sample:
    t: float
    capacity: int  # of the measured resource, on the nodes present
    allocated: int  # by every bound pod
    running: int  # by pods of running jobs
    partial: int  # by bound pods of jobs that cannot run
    # Every resource the nodes offer (the measured one too): (capacity, allocated, held by running jobs).
    resources: dict[str, tuple[int, int, int]] = field(default_factory=dict)


@dataclass
class SimResult:
    policy: Policy
    resource: str
    capacity: int
    jobs: list[Job]
    samples: list[Sample]
    decisions: list[dict[str, Any]]
    log: list[dict[str, Any]]
    end: float
    occupancy: Occupancy | None = None  # what each node held, for the heat map


def config_for(policy: Policy, params: SolverParams) -> EngineConfig:
    return EngineConfig(
        name=SCHEDULER_NAME,
        params=params,
        greedy=policy is not Policy.PHALANX,
        gangs=policy is not Policy.POD_BY_POD,
    )


class Simulation:
    def __init__(
        self,
        scenario: Scenario,
        policy: Policy,
        params: SolverParams | None = None,
        progress: Callable[[float], None] | None = None,
        *,
        audit: bool = False,
    ) -> None:
        self.scenario = scenario
        self.audit = audit
        self.policy = policy
        self.horizon = scenario.simulation.horizon_seconds
        self.progress = progress
        self.state = self._empty_state()
        self.engine = Engine(self.state, config_for(policy, params or SIM_PARAMS), clock=lambda: self.now)
        self.cluster = SimCluster(self.state, self._evicted, self._ask)
        self.jobs: dict[str, Job] = {}
        self.job_of: dict[str, Job] = {}
        self.events: list[tuple[float, int, int, str, int]] = []  # (t, kind, seq, job key, epoch)
        self.log: list[dict[str, Any]] = []
        self.samples: list[Sample] = []
        self.decisions: list[dict[str, Any]] = []
        self.now = 0.0
        self._seq = 0
        spec = scenario.autoscaler
        self.autoscaler = SimAutoscaler(spec, scenario.topology_levels) if spec is not None else None
        self._asked: dict[str, float] = {}  # unit -> when it may ask the autoscaler again
        gpus = any("nvidia.com/gpu" in n.status.allocatable for n in scenario.nodes)
        self.resource = "nvidia.com/gpu" if gpus else "cpu"
        self.occupancy = Occupancy(self.resource)
        self.capacity = sum(n.allocatable().get(self.resource, 0) for n in scenario.nodes)
        offered = {r for n in scenario.nodes for r in n.allocatable()}
        if spec is not None:
            offered |= set(spec.shape.allocatable)
        self.resources = sorted(offered - {"pods"})
        self._offered: tuple[object, dict[str, int]] = (None, {})  # per tree generation: capacity per resource
        self._build_jobs()
        self._schedule_nodes()

    def _empty_state(self) -> ClusterState:
        """Nodes present at t=0 (a node may arrive or leave later, by its sim annotations), no pods yet."""
        self._nodes = {n.metadata.name: n for n in self.scenario.nodes}
        present = tuple(n for n in self.scenario.nodes if _node_annotation(n, ARRIVAL) in (None, 0.0))
        return load_state(replace(self.scenario, pods=(), nodes=present))

    # Set-up -----------------------------------------------------------------------------------------------
    def _build_jobs(self) -> None:
        by_job: dict[str, list[Pod]] = {}
        for pod in self.scenario.pods:
            # A job is its PodGroup whatever the policy: the workload needs minCount pods to run at all.
            info = pod_info(pod)
            key = info.group_key if info.group_key in self.state.groups else info.key
            by_job.setdefault(key or info.key, []).append(pod)
        for key, pods in sorted(by_job.items()):
            group = self.state.groups.get(key)
            min_count = group.spec.scheduling_policy.min_count if group else len(pods)
            if group is None and len(pods) == 1:
                min_count = 1
            arrival = min(_annotation(p, ARRIVAL, 0.0) for p in pods)
            duration = max(_annotation(p, RUN, DEFAULT_RUN_SECONDS) for p in pods)
            job = Job(key, [pod_info(p).key for p in pods], min_count, arrival, duration)
            job.priority_pods = {pod_info(p).key: p for p in pods}
            self.jobs[key] = job
            for pod_key in job.pods:
                self.job_of[pod_key] = job
            if all(p.spec.node_name for p in pods):
                for pod in pods:
                    self.state.upsert_pod(pod_info(pod))
                self._start(job)
            else:
                self._push(arrival, Kind.ARRIVE, job)

    def _push(self, t: float, kind: Kind, job: Job) -> None:
        self._seq += 1
        heapq.heappush(self.events, (t, kind, self._seq, job.key, job.epoch))

    def _schedule_nodes(self) -> None:
        for name, node in self._nodes.items():
            arrival, removal = _node_annotation(node, ARRIVAL), _node_annotation(node, REMOVAL)
            for t, kind in ((arrival, Kind.NODE_ADD), (removal, Kind.NODE_REMOVE)):
                if t is not None and (kind is Kind.NODE_REMOVE or t > 0):
                    self._seq += 1
                    heapq.heappush(self.events, (t, kind, self._seq, name, 0))

    # The loop ---------------------------------------------------------------------------------------------
    def run(self) -> SimResult:
        self._sample()
        while self.events and self.events[0][0] <= self.horizon:
            self.now = self.events[0][0]
            while self.events and self.events[0][0] == self.now:
                _, kind, _, key, epoch = heapq.heappop(self.events)
                if kind is Kind.NODE_ADD:
                    self._add_node(key)
                elif kind is Kind.NODE_REMOVE:
                    self._remove_node(key)
                elif kind is Kind.ARRIVE:
                    self._arrive(self.jobs[key])
                elif epoch == self.jobs[key].epoch:
                    self._complete(self.jobs[key])
            self._schedule()
            self._sample()
            if self.audit:
                self._check()
            if self.progress is not None:
                self.progress(min(1.0, self.now / self.horizon))
        if any(j.finished is None for j in self.jobs.values()):
            # Nothing left to happen, yet jobs wait (deadlock, or gangs that can never fit): the cluster stays as
            # it is until the horizon, and what partial gangs hold is held all that time.
            self.now = self.horizon
            self._sample()
        return SimResult(
            self.policy,
            self.resource,
            self.capacity,
            list(self.jobs.values()),
            self.samples,
            self.decisions,
            self.log,
            self.now,
            self.occupancy,
        )

    def _add_node(self, name: str) -> None:
        self.state.upsert_node(strip_node(self._nodes[name]))
        self.engine.changed()
        self.log.append({"t": self.now, "event": "node-added", "node": name})

    def _remove_node(self, name: str) -> None:
        """A node leaves: its pods go back to pending (their jobs stop), as when a node is drained or lost."""
        for info in list(self.state.pods.values()):
            if info.node == name:
                self.cluster.release(info.key)
                self._interrupt(info.key)
        self.state.remove_node(name)
        self.engine.changed()
        self.log.append({"t": self.now, "event": "node-removed", "node": name})

    def _arrive(self, job: Job) -> None:
        for key in job.pods:
            self.state.upsert_pod(pod_info(job.priority_pods[key]))
        self.engine.wake(job.key)
        self.log.append({"t": self.now, "event": "arrive", "job": job.key, "pods": len(job.pods)})

    def _complete(self, job: Job) -> None:
        for key in job.pods:
            self.state.remove_pod(key)
        job.finished, job.running_since = self.now, None
        self.engine.changed()
        self.log.append({"t": self.now, "event": "complete", "job": job.key})

    def _schedule(self) -> None:
        """Engine passes until nothing is left to do at this instant: a preemption's victims go in one pass, its
        gang binds in the next, as in the operator."""
        for _ in range(MAX_PASSES_PER_INSTANT):
            effects = self.engine.step()
            for decision in self.engine.decisions:
                self._record(decision)
            for done in self.cluster.carry(effects):
                self.engine.done(done)
            self._show_statuses(effects)
            if not effects and not self.engine.outbox.effects:
                break
        for job in self.jobs.values():
            if job.running_since is None and job.finished is None:
                bound = sum(1 for k in job.pods if k in self.state.pods and self.state.pods[k].node)
                if bound >= job.min_count:
                    self._start(job)

    def _show_statuses(self, effects: list[Effect]) -> None:
        """What a watch would show: the PodGroup statuses the engine wrote."""
        for effect in effects:
            if isinstance(effect, WriteStatus) and (group := self.state.groups.get(effect.group)) is not None:
                status = PodGroupStatus.model_validate(effect.status)
                self.state.upsert_group(group.model_copy(update={"status": status}))

    def _record(self, decision: Decision) -> None:
        plan = decision.plan
        entry: dict[str, Any] = {
            "t": self.now,
            "unit": decision.unit.key,
            "reason": decision.reason.value,
            "seconds": decision.duration_s,
            "method": plan.method if plan else "",
            "status": plan.status.value if plan else "",
        }
        self.decisions.append(entry)
        if decision.reason is ScheduledReason.SCHEDULED:
            assert plan is not None
            self.log.append({"t": self.now, "event": "bind", "unit": decision.unit.key, "pods": len(plan.assignments)})
        elif decision.reason is ScheduledReason.WAITING_FOR_PREEMPTION and plan is not None:
            victims = list(plan.victim_pods)
            nodes = {self.state.pods[k].node for k in victims if k in self.state.pods}
            racks = sorted("/".join(path) for path in self._racks(nodes))
            self.log.append(
                {"t": self.now, "event": "preempt", "preemptor": decision.unit.key, "victims": victims, "racks": racks}
            )

    def _ask(self, ask: AskCapacity) -> None:
        self._provision(ask.decision.unit)

    def _provision(self, unit: Unit) -> None:
        """Fits nowhere, even with preemption: ask the autoscaler for the whole unit's capacity, once per wait."""
        if self.autoscaler is None or unit.gang is None or self._asked.get(unit.key, -1.0) > self.now:
            return
        nodes = self.autoscaler.plan(unit.gang, [dict(p.requests) for p in unit.pending])
        delay = self.autoscaler.spec.delay_seconds
        self._asked[unit.key] = self.now + max(delay, 1.0)  # its nodes have come (or it may try again) by then
        if nodes is None:
            self.log.append({"t": self.now, "event": "provision-failed", "unit": unit.key})
            return
        for node in nodes:
            self._nodes[node.metadata.name] = node
            self._seq += 1
            heapq.heappush(self.events, (self.now + delay, Kind.NODE_ADD, self._seq, node.metadata.name, 0))
        self.log.append({"t": self.now, "event": "provision", "unit": unit.key, "nodes": len(nodes)})

    def _evicted(self, pod: str, preemptor: str) -> None:
        self._interrupt(pod)
        self.engine.changed()

    def _interrupt(self, pod: str) -> None:
        """A running job that loses a pod stops; its work so far is lost."""
        job = self.job_of[pod]
        if job.running_since is not None:
            job.lost += (self.now - job.running_since) * self._usage(job)
            job.running_since = None
            job.epoch += 1
            job.interruptions += 1
            self.log.append({"t": self.now, "event": "interrupt", "job": job.key})

    def _start(self, job: Job) -> None:
        if job.started is None:
            job.started = self.now
            job.racks, job.blocks = self._spans({self.state.pods[k].node for k in job.pods if k in self.state.pods})
        job.running_since = self.now
        self._push(self.now + job.duration, Kind.COMPLETE, job)
        self.log.append({"t": self.now, "event": "start", "job": job.key})

    def _racks(self, nodes: set[str | None]) -> set[tuple[str, ...]]:
        """The domains of the narrowest level above the nodes (racks) that hold them, as label paths."""
        tree = self.state.nodes.tree()
        return {tuple(tree.nodes[tree.index[n]].labels.get(k, "") for k in tree.levels) for n in nodes if n}

    def _spans(self, nodes: set[str | None]) -> tuple[int, int]:
        """How many racks hold the nodes, and how many domains of the level above racks."""
        racks = self._racks(nodes)
        return len(racks), len({p[:-1] for p in racks})

    def _check(self) -> None:
        """Invariants after every step: no node over-committed; every arrived, unfinished job has each of its
        pods exactly once; a finished job has none; a running job has at least minCount pods bound."""
        capacity = self.state.capacity()
        over = (capacity.used > capacity.allocatable).any(axis=1)
        if over.any():
            names = [capacity.tree.nodes[int(i)].name for i in np.flatnonzero(over)]
            raise SimulationInvariantError(f"t={self.now}: nodes over-committed: {names}")
        for job in self.jobs.values():
            present = [k for k in job.pods if k in self.state.pods]
            arrived = job.arrival <= self.now
            if job.finished is not None and present:
                raise SimulationInvariantError(f"t={self.now}: finished job {job.key} still has pods")
            if job.finished is None and arrived and len(present) != len(job.pods):
                raise SimulationInvariantError(f"t={self.now}: job {job.key} lost pods")
            bound = sum(1 for k in present if self.state.pods[k].node)
            if job.running_since is not None and bound < job.min_count:
                raise SimulationInvariantError(f"t={self.now}: job {job.key} runs with {bound}/{job.min_count} pods")

    def _usage(self, job: Job) -> int:
        return sum(self.state.pods[k].requests.get(self.resource, 0) for k in job.pods if k in self.state.pods)

    def _sample(self) -> None:
        tree = self.state.nodes.tree()
        if self._offered[0] is not tree:
            self._offered = (tree, {r: sum(n.allocatable.get(r, 0) for n in tree.nodes) for r in self.resources})
        allocated = dict.fromkeys(self.resources, 0)
        running = dict.fromkeys(self.resources, 0)
        for info in self.state.pods.values():
            if not info.holds_capacity:
                continue
            job = self.job_of.get(info.key)
            runs = job is not None and job.running_since is not None
            for resource, amount in info.requests.items():
                if resource in allocated:
                    allocated[resource] += amount
                    if runs:
                        running[resource] += amount
        offered = self._offered[1]
        shares = {r: (offered[r], allocated[r], running[r]) for r in self.resources}
        capacity, used, held = shares.get(self.resource, (0, 0, 0))
        self.samples.append(Sample(self.now, capacity, used, held, used - held, shares))
        self.occupancy.record(self.now, self.state.capacity())


def _node_annotation(node: Node, key: str) -> float | None:
    raw = node.metadata.annotations.get(key)
    return None if raw is None else _seconds(raw, f"Node {node.metadata.name}", key)


def _annotation(pod: Pod, key: str, default: float) -> float:
    raw = pod.metadata.annotations.get(key)
    return default if raw is None else _seconds(raw, f"Pod {pod.metadata.namespace}/{pod.metadata.name}", key)


def _seconds(raw: str, owner: str, key: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not math.isfinite(value) or value < 0:
        raise ScenarioError(f"{owner}: annotation {key} must be a non-negative number of seconds, got {raw!r}")
    return value

"""The scheduling thread: apply watch events, decide, carry decisions out, and report.

It owns the cache. Each pass:
1. drain the inbox into the cache;
2. bind the gangs whose preemption victims are gone (nominations), give up on stale ones;
3. decide every pending unit (backing off units nothing has happened to since they failed);
4. evict the victims of new preemptions and reserve their nominated nodes; bind scheduled gangs;
5. write PodGroup status, pod conditions and events for what changed.
API failures are logged and reported as SchedulerError; the loop keeps going.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, replace
from typing import Any

import structlog
from kubernetes_asyncio import client

from scheduler.api.config import ProvisioningConfig
from scheduler.api.controllers import controller_of
from scheduler.api.podgroup import PodGroupPhase, ScheduledReason
from scheduler.api.provisioning import ProvisioningState
from scheduler.engine.cycle import Decision, EngineConfig, Scheduler
from scheduler.engine.executor import Executor
from scheduler.engine.state import ClusterState
from scheduler.engine.storage import claims_to_select
from scheduler.engine.units import Unit
from scheduler.kube.api import CONNECTION_ERRORS, RETRIABLE, KubeApi, SyncClusterApi, pod_group_ref
from scheduler.kube.cache import Invalid, apply
from scheduler.kube.inbox import Change, Inbox
from scheduler.kube.metrics import Metrics
from scheduler.kube.provisioning import Provisioner
from scheduler.kube.status import comparable, pod_group_status

log = structlog.get_logger(__name__)
MAX_BACKOFF_S = 60.0
STATUS_INTERVAL_S = 1.0  # per PodGroup, unless its phase changes
EVENT_INTERVAL_S = 10.0  # per object
RESYNC_S = 60.0  # statuses are written again at least this often
RELEASE_INTERVAL_S = 30.0  # a released gang's deletions get this long before it is released again
BIND_RETRY_S = 30.0  # failed bindings of a gang are retried (on their planned nodes) this long before re-planning
# Decisions worth a PodScheduled=False condition and a FailedScheduling event (not "waiting for pods 3/4").
EXPLAINED = frozenset({ScheduledReason.UNSCHEDULABLE, ScheduledReason.SCHEDULER_ERROR})


@dataclass
class Nomination:
    decision: Decision
    victims: frozenset[str]
    deadline: float


class SchedulingLoop(threading.Thread):
    def __init__(
        self,
        state: ClusterState,
        config: EngineConfig,
        kube: KubeApi,
        loop: asyncio.AbstractEventLoop,
        inbox: Inbox,
        metrics: Metrics | None = None,
        *,
        nomination_timeout_s: float = 300.0,
        provisioning: ProvisioningConfig | None = None,
    ) -> None:
        super().__init__(name="phalanx-scheduler", daemon=True)
        self.state, self.kube, self.loop, self.inbox = state, kube, loop, inbox
        self.api = SyncClusterApi(kube, loop)
        self.scheduler = Scheduler(state, config)
        self.executor = Executor(state, self.api)
        self.nomination_timeout_s = nomination_timeout_s
        self.nominations: dict[str, Nomination] = {}
        self.last: dict[str, Decision] = {}
        self.written: dict[str, dict[str, Any]] = {}
        self.written_at: dict[str, float] = {}
        self.status_seq: dict[str, int] = {}  # touched only on the event loop
        self.status_locks: dict[str, asyncio.Lock] = {}
        self.evented: dict[str, tuple[str, float]] = {}
        self.pod_messages: dict[str, str] = {}
        self.condition_writes: dict[str, asyncio.Future[Any]] = {}  # pod -> its PodScheduled=False write in flight
        self._unwritten: deque[tuple[str, str]] = deque()  # (pod, message) whose write failed: write again
        self.disrupted: dict[str, str] = {}  # PodGroup preempted whole -> why
        self.released: dict[str, float] = {}
        self.conflicts: frozenset[tuple[str, str]] = frozenset()  # (pod, node) in flight onto a full node
        self.invalid: dict[str, Invalid] = {}  # objects that do not parse, to say so on them (once per message)
        self.invalid_told: dict[str, str] = {}  # partial gangs whose bound pods were released -> when
        self.binding: dict[str, Decision] = {}  # gangs whose binding cycle is in flight
        self._stopping = threading.Event()
        self.active = threading.Event()  # set while this replica leads: only the leader decides and binds
        self.synced: Callable[[], bool] = lambda: True  # the operator says when the first listings are all in
        self.metrics = metrics or Metrics()
        self.metrics.set_time_limit(config.params.time_limit_s)
        self._skipped: list[Unit] = []
        self._resynced = time.monotonic()
        self._swept = 0.0  # when _report last looked at every group
        self._changes = 0  # bumps on anything that may help a waiting unit
        # unit -> (changes seen, or None to wait whatever changes; retry at; delay)
        self._backoff: dict[str, tuple[int | None, float, float]] = {}
        self.passes = 0
        self.provisioner = Provisioner(
            kube, provisioning or ProvisioningConfig(), state, self._spawn, self._group_event
        )

    def stop(self) -> None:
        self._stopping.set()
        self.inbox.wake.set()

    def run(self) -> None:
        while not self._stopping.is_set():
            self.inbox.wake.wait(timeout=1.0)
            self.inbox.wake.clear()
            try:
                if self.active.is_set() and self.synced():
                    self.step()
                else:  # a standby (or a leader still listing) keeps its cache warm and decides nothing
                    for change in self.inbox.drain():
                        apply(self.state, change)
            except Exception:
                log.exception("scheduling pass failed")
                time.sleep(0.5)

    def step(self) -> None:
        # 1. Cache.
        for change in self.inbox.drain():
            if change.kind == "rollback":
                self._rollback(change.body)
            elif change.kind == "provisioning":
                self._provisioning_changed(change)
            elif apply(self.state, change, self.invalid):
                self._changes += 1
        # 2. Nominations, capacity requests of groups that are gone, bindings overtaken by another scheduler.
        self._settle_nominations()
        self._find_conflicts()
        self.provisioner.prune()
        # 3-4. Decide and act.
        self._skipped = []
        decisions = self.scheduler.schedule_pending(skip=self._backing_off)
        for i, decision in enumerate(decisions):
            self._act(decision)
            if decision.reason is ScheduledReason.WAITING_FOR_PREEMPTION and decision.plan is not None:
                # A preemptor's nodes are reserved only now (_preempt admits it), so the units decided after it
                # did not see them: forget their reservations and decide them again at once, or two gangs could
                # be given the same room.
                for later in decisions[i + 1 :]:
                    for pod in later.plan.assignments if later.scheduled and later.plan else ():
                        self.state.forget(pod)
                decisions = decisions[: i + 1]
                self.inbox.wake.set()
                break
        self._gauge(decisions)
        # 5. Report.
        self._report({d.unit.key for d in decisions})
        self._report_invalid()
        self.passes += 1
        if self.passes % 100 == 0:
            self._prune()
        if time.monotonic() - self._resynced > RESYNC_S:
            self._resynced = time.monotonic()
            self.written.clear()  # re-assert every status now and then: the server's copy may have drifted

    def _backing_off(self, unit: Unit) -> bool:
        seen = self._backoff.get(unit.key)
        if seen is None:
            return False
        changes, retry_at, _ = seen
        skip = changes in (None, self._changes) and time.monotonic() < retry_at
        if skip:
            self._skipped.append(unit)
        return skip

    def _gauge(self, decisions: list[Decision]) -> None:
        waiting = [
            d.unit for d in decisions if not d.scheduled and d.reason is not ScheduledReason.WAITING_FOR_PREEMPTION
        ]
        self.metrics.pending_gangs.set(len(waiting) + len(self._skipped))
        self.metrics.pending_pods.labels("active").set(sum(len(u.pending) for u in waiting))
        self.metrics.pending_pods.labels("backoff").set(sum(len(u.pending) for u in self._skipped))

    def _act(self, decision: Decision) -> None:
        key = decision.unit.key
        self.last[key] = decision
        self.metrics.observe(decision)
        if decision.reason is ScheduledReason.WAITING_FOR_PREEMPTION and decision.plan is not None:
            self._preempt(decision)
            return
        if decision.reason is not ScheduledReason.SCHEDULED:
            if decision.reason is ScheduledReason.UNSCHEDULABLE:
                self._release_if_stranded(decision.unit)
                self.provisioner.want(decision)  # fits nowhere even with preemption: ask for capacity
            _, _, delay = self._backoff.get(key, (0, 0.0, 0.5))
            delay = min(MAX_BACKOFF_S, delay * 2)
            self._backoff[key] = (self._changes, time.monotonic() + delay, delay)
            return
        self._backoff.pop(key, None)
        self.disrupted.pop(key, None)
        self.provisioner.settle(key)
        self.binding[key] = decision
        self._spawn(self._bind(decision, self._selections(decision)))

    def _selections(self, decision: Decision) -> list[tuple[str, str]]:
        """(claim, node) for the WaitForFirstConsumer claims the gang's pods wait on: written before binding."""
        assert decision.plan is not None
        pairs = set()
        for pod, node in decision.plan.assignments.items():
            info = self.state.pods.get(pod)
            for claim in claims_to_select(self.state.storage, info.pod) if info is not None else ():
                pairs.add((claim, node))
        return sorted(pairs)

    async def _bind(self, decision: Decision, selections: list[tuple[str, str]] | None = None) -> None:
        """The binding cycle, on the event loop so the next decisions need not wait: bind the gang concurrently,
        then retry the bindings that failed, on the same nodes, until they succeed or BIND_RETRY_S is up.

        Pods already bound are never deleted to undo a gang: a pod nobody recreates (no controller) would be
        lost, and a bound pod may already be running. Every pod of the gang keeps its reservation meanwhile, so
        the nodes planned for the failed ones stay free for them, and a transient failure (throttling, a
        dropped connection, a server error) ends with the whole gang bound. What still fails is handed back to
        the scheduling thread, which forgets those pods' reservations and places them again: the gang's bound
        pods count toward its minCount there."""
        assert decision.plan is not None
        key = decision.unit.key
        pairs = sorted(decision.plan.assignments.items())
        started = time.monotonic()
        # A PodScheduled=False written after the binding (which sets it True) would mark a bound pod unschedulable.
        if writes := [self.condition_writes[p] for p, _ in pairs if p in self.condition_writes]:
            await asyncio.wait(writes)
        # kube-scheduler's PreBind: a claim to be provisioned learns its node before any pod of the gang binds.
        selections = selections or []
        errors = await self.kube.select_nodes(selections) if selections else []
        if refused := [(pair, e) for pair, e in zip(selections, errors, strict=False) if e is not None]:
            (claim, node), error = refused[0]
            message = f"writing selected node {node} on persistentvolumeclaim {claim} failed: {error}"
            self.inbox.put(Change("rollback", False, {"unit": key, "pods": [p for p, _ in pairs], "error": message}))
            return
        results = await self.kube.bind_many(pairs)
        failed = [(pair, error) for pair, error in zip(pairs, results, strict=True) if error is not None]
        delay = 0.5
        while failed and all(_transient(e) for _, e in failed) and time.monotonic() - started < BIND_RETRY_S:
            if conflicts := [(pod, node) for (pod, node), _ in failed if (pod, node) in self.conflicts]:
                # Another scheduler filled the node meanwhile: binding there would overcommit it (the server
                # would not refuse; only the kubelet would). Hand these back to be placed again instead.
                pod, node = conflicts[0]
                message = f"node {node} filled up (another scheduler's pod) while {pod} waited to bind there"
                log.warning("binding conflict", unit=key, why=message)
                self._group_event(key, "Warning", "BindConflict", message)
                self.inbox.put(
                    Change("rollback", False, {"unit": key, "pods": [p for (p, _), _ in failed], "error": message})
                )
                return
            self.metrics.bind_errors.inc(len(failed))
            (pod, node), error = failed[0]
            log.warning("bindings failed, retrying", unit=key, failed=len(failed), pod=pod, error=str(error)[:200])
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
            retried = [pair for pair, _ in failed]
            results = await self.kube.bind_many(retried)
            failed = [(pair, error) for pair, error in zip(retried, results, strict=True) if error is not None]
        if failed:
            self.metrics.bind_errors.inc(len(failed))
            (pod, node), error = failed[0]
            message = f"binding {pod} to {node} failed: {error}"
            pods = [p for (p, _), _ in failed]
            self.inbox.put(Change("rollback", False, {"unit": key, "pods": pods, "error": message}))
            return
        self.binding.pop(key, None)  # atomic under the GIL; the scheduling thread only reads it on rollback
        log.info(
            "gang bound",
            unit=key,
            pods=len(pairs),
            bind_seconds=round(time.monotonic() - started, 3),
            domain=decision.plan.domain,
            solver=decision.plan.status.value,
            seconds=round(decision.duration_s, 4),
        )
        await asyncio.gather(
            *(
                self.kube.post_event(_pod_ref(pod), "Normal", "Scheduled", f"Successfully assigned {pod} to {node}")
                for pod, node in pairs
            )
        )

    def _find_conflicts(self) -> None:
        """Pods whose binding is in flight, planned onto a node the fresh cache shows overcommitted: a second
        scheduler bound something there after the plan was made. Read by the binding cycle before each retry."""
        conflicts = set()
        for decision in list(self.binding.values()):
            assert decision.plan is not None
            for pod, node in decision.plan.assignments.items():
                info = self.state.pods.get(pod)
                if info is not None and info.assumed and self.state.overcommitted(node):
                    conflicts.add((pod, node))
        self.conflicts = frozenset(conflicts)  # one assignment: the event loop reads it without a lock

    def _provisioning_changed(self, change: Change) -> None:
        answer = self.provisioner.observe(change.body, change.deleted)
        if answer is None:
            return
        key, state = answer
        if state is ProvisioningState.PROVISIONED:
            self._changes += 1  # capacity is coming: retry the gangs waiting for it
        elif state is ProvisioningState.FAILED:
            # Ask again once the retry delay is over, whatever the unit's backoff had grown to meanwhile.
            wait = self.provisioner.config.retry_seconds + 0.1
            self._backoff[key] = (None, time.monotonic() + wait, wait)

    def _release_if_stranded(self, unit: Unit) -> None:
        """A gang left part-bound (a restart mid-binding, bindings that kept failing) whose rest can no longer
        join it: its bound pods hold capacity for a gang that cannot run, so release them, and the gang is
        placed whole again once they are back. Only pods a controller recreates are deleted (a bare pod would be
        lost: it stays, and the PodGroup says why). A gang that ran before (a member replaced) is never undone.
        """
        group = unit.group
        if group is None or not 0 < unit.bound < unit.min_count:
            return
        phase = group.status.phase if group.status else None
        if phase in (PodGroupPhase.RUNNING, PodGroupPhase.SUCCEEDED, PodGroupPhase.FAILED):
            return  # it ran: a lost member is replaced in place, the gang is not undone
        now = time.monotonic()
        if now - self.released.get(unit.key, -RELEASE_INTERVAL_S) < RELEASE_INTERVAL_S:
            return  # the deletions are on their way
        self.released[unit.key] = now
        bound = [m for m in self.state.members(unit.key) if m.node and not m.assumed and m.holds_capacity]
        owned = [m for m in bound if controller_of(m.pod.metadata) is not None]
        kept = len(bound) - len(owned)
        message = (
            f"{len(bound)} bound pod(s) of {unit.min_count} cannot be joined by the rest: releasing "
            f"{len(owned)} (their controllers recreate them)"
            + (f"; {kept} without a controller stay bound" if kept else "")
        )
        log.warning("partial gang released", unit=unit.key, released=len(owned), kept=kept)
        self._group_event(unit.key, "Warning", "GangReleased", message)
        for member in owned:
            self._spawn(self.kube.delete_pod(member.key))

    def _rollback(self, body: dict[str, Any]) -> None:
        key, error = body["unit"], body["error"]
        for pod in body["pods"]:
            self.state.forget(pod)
        decision = self.binding.pop(key, None)
        log.warning("bindings failed, placing those pods again", unit=key, pods=len(body["pods"]), error=error)
        if decision is not None:
            # The error is about the pods still unbound; the bound ones must not be marked unschedulable.
            failed = set(body["pods"])
            unit = replace(decision.unit, pending=tuple(p for p in decision.unit.pending if p.key in failed))
            self.last[key] = Decision(unit, ScheduledReason.SCHEDULER_ERROR, error, decision.plan)
        self._changes += 1
        # Not straight back to a binding that was just refused (a webhook, a missing right): that would be a hot
        # loop against the API server, and every status write of ours counts as a change.
        _, _, delay = self._backoff.get(key, (None, 0.0, 0.5))
        delay = min(MAX_BACKOFF_S, delay * 2)
        self._backoff[key] = (None, time.monotonic() + delay, delay)

    def _preempt(self, decision: Decision) -> None:
        assert decision.plan is not None
        key = decision.unit.key
        try:
            self.executor.evict(decision)
        except Exception as exc:
            log.warning("eviction failed", unit=key, error=str(exc))
            self.last[key] = Decision(decision.unit, ScheduledReason.SCHEDULER_ERROR, f"eviction failed: {exc}")
            return
        for group in {v for v in decision.plan.victims if v in self.state.groups}:
            message = f"preempted whole to make room for {key}"
            self.disrupted[group] = message
            self._event(pod_group_ref(group), "Normal", "Preempted", message)
        admitted = self.scheduler.admit(decision)  # reserve the nominated nodes while the victims terminate
        self.nominations[key] = Nomination(
            admitted, frozenset(decision.plan.victim_pods), time.monotonic() + self.nomination_timeout_s
        )
        log.info("preempting", unit=key, victims=len(decision.plan.victim_pods), units=list(decision.plan.victims))

    def _settle_nominations(self) -> None:
        for key, nomination in list(self.nominations.items()):
            if not any(v in self.state.pods for v in nomination.victims):
                del self.nominations[key]
                self._act(nomination.decision)
            elif time.monotonic() > nomination.deadline:
                del self.nominations[key]
                assert nomination.decision.plan is not None
                for pod in nomination.decision.plan.assignments:
                    self.state.forget(pod)
                message = "preempted pods did not terminate in time; trying again"
                self.last[key] = Decision(nomination.decision.unit, ScheduledReason.SCHEDULER_ERROR, message)

    def _report(self, decided: set[str]) -> None:
        """Status, conditions and events for what changed, throttled: a gang of 512 pods arriving one by one
        must not cost 512 status writes, nor a condition on every pod for every count.

        Every group is looked at once per STATUS_INTERVAL_S; in between only the units decided this pass are:
        with a thousand groups, recomputing each one's status on every pass kept the scheduling thread busy
        with bookkeeping while bindings waited.
        """
        now = time.monotonic()
        sweep = now - self._swept >= STATUS_INTERVAL_S
        if sweep:
            self._swept = now
        while self._unwritten:
            unwritten, message = self._unwritten.popleft()
            if self.pod_messages.get(unwritten) == message:
                del self.pod_messages[unwritten]  # its condition was not written: write it again below
        groups = self.state.groups
        looked_at = list(groups.items()) if sweep else [(k, groups[k]) for k in decided if k in groups]
        for key, group in looked_at:
            preempting = key in self.nominations
            status = pod_group_status(
                self.state,
                key,
                group,
                self.last.get(key),
                preempting,
                self.disrupted.get(key),
                self.provisioner.condition(key),
            )
            summary = comparable(status)
            previous = self.written.get(key)
            if previous == summary:
                continue
            phase_changed = previous is None or previous.get("phase") != summary.get("phase")
            if not phase_changed and now - self.written_at.get(key, 0.0) < STATUS_INTERVAL_S:
                continue  # a later pass writes the newest
            self.written[key], self.written_at[key] = summary, now
            self._spawn(self._write_status(key, status))
            decision = self.last.get(key)
            if decision is not None and decision.reason in EXPLAINED and self._due(key, decision.message, now):
                self._event(pod_group_ref(key, group.metadata.uid), "Warning", "FailedScheduling", decision.message)
        explained = self.last.items() if sweep else [(k, self.last[k]) for k in decided if k in self.last]
        for key, decision in explained:
            if decision.reason not in EXPLAINED or key in self.nominations:
                continue
            for pod in decision.unit.pending:
                if self.pod_messages.get(pod.key) == decision.message or pod.key not in self.state.pods:
                    continue
                self.pod_messages[pod.key] = decision.message
                reason = "SchedulerError" if decision.reason is ScheduledReason.SCHEDULER_ERROR else "Unschedulable"
                condition = {"type": "PodScheduled", "status": "False", "reason": reason, "message": decision.message}
                self._spawn(self._write_condition(pod.key, condition))
                if decision.unit.group is None and self._due(pod.key, decision.message, now):
                    self._event(_pod_ref(pod.key), "Warning", "FailedScheduling", decision.message)

    def _report_invalid(self) -> None:
        """Bad input is said on the object: a pod of ours gets PodScheduled=False and an event, a PodGroup an
        event; nothing is retried until the object changes."""
        for key in [k for k in self.invalid_told if k not in self.invalid]:
            del self.invalid_told[key]
        for key, bad in self.invalid.items():
            if self.invalid_told.get(key) == bad.message:
                continue
            self.invalid_told[key] = bad.message
            meta = bad.body.get("metadata", {})
            spec = bad.body.get("spec") or {}
            if bad.kind == "pod" and spec.get("schedulerName") == self.scheduler.config.name:
                if spec.get("nodeName"):
                    continue
                message = f"invalid pod, not scheduled until fixed: {bad.message}"
                condition = {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": message}
                self._spawn(self.kube.set_pod_condition(bad.key, condition))
                self._event(_pod_ref(bad.key), "Warning", "FailedScheduling", message)
            elif bad.kind == "podgroup":
                ref = pod_group_ref(bad.key, meta.get("uid"))
                self._event(ref, "Warning", "InvalidPodGroup", f"ignored until fixed: {bad.message}")

    def _prune(self) -> None:
        """Forget units, pods and objects that no longer exist, so a long-running scheduler stays small."""
        for key in [k for k in self.last if k not in self.state.groups and k not in self.state.pods]:
            del self.last[key]
        for book in (self.pod_messages, self.evented):
            for key in [k for k in book if k not in self.state.pods and k not in self.state.groups]:
                del book[key]
        for key in [k for k in self.released if k not in self.state.groups]:
            del self.released[key]
        for key in [k for k in self.written_at if k not in self.state.groups]:
            self.written.pop(key, None)
            self.written_at.pop(key, None)

    def _due(self, key: str, message: str, now: float) -> bool:
        """An event per object when its message changes, at most every EVENT_INTERVAL_S (kube aggregates too)."""
        last_message, last_time = self.evented.get(key, ("", 0.0))
        if message == last_message or now - last_time < EVENT_INTERVAL_S:
            return False
        self.evented[key] = (message, now)
        return True

    async def _write_condition(self, pod: str, condition: dict[str, Any]) -> None:
        """PodScheduled=False on a pod, in order with its other writes: a binding of the pod waits for it."""
        previous, task = self.condition_writes.get(pod), asyncio.current_task()
        assert task is not None
        self.condition_writes[pod] = task
        try:
            if previous is not None:
                await asyncio.wait([previous])
            await self.kube.set_pod_condition(pod, condition)
        except Exception:
            self._unwritten.append((pod, condition["message"]))  # the scheduling thread owns pod_messages
            raise
        finally:
            if self.condition_writes.get(pod) is task:
                del self.condition_writes[pod]

    async def _write_status(self, key: str, status: dict[str, Any]) -> None:
        """One write per PodGroup at a time, newest wins: a superseded write is dropped, and writes never
        overtake each other (a retried older status must not land after a newer one)."""
        seq = self.status_seq.get(key, 0) + 1
        self.status_seq[key] = seq
        lock = self.status_locks.setdefault(key, asyncio.Lock())
        async with lock:
            if self.status_seq.get(key) != seq:
                return  # a newer status is queued behind us
            try:
                await self.kube.patch_pod_group_status(key, status)
            except Exception as exc:
                self.written.pop(key, None)  # try again next pass
                log.warning("status not written", podgroup=key, error=str(exc))

    def _group_event(self, key: str, type_: str, reason: str, message: str) -> None:
        group = self.state.groups.get(key)
        self._event(pod_group_ref(key, group.metadata.uid if group else None), type_, reason, message)

    def _event(self, ref: dict[str, str], type_: str, reason: str, message: str) -> None:
        self._spawn(self.kube.post_event(ref, type_, reason, message))

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        """Fire and forget on the event loop: status and events must not slow scheduling down."""
        asyncio.run_coroutine_threadsafe(_quiet(coro), self.loop)


async def _quiet(coro: Coroutine[Any, Any, Any]) -> None:
    try:
        await coro
    except Exception as exc:
        log.warning("background api call failed", error=str(exc))


def _transient(error: BaseException) -> bool:
    """A failure that trying again may cure: throttling, server errors, conflicts, broken connections."""
    if isinstance(error, client.ApiException):
        return error.status in RETRIABLE or error.status == 409
    return isinstance(error, CONNECTION_ERRORS)


def _pod_ref(pod: str) -> dict[str, str]:
    namespace, name = pod.split("/", 1)
    return {"apiVersion": "v1", "kind": "Pod", "namespace": namespace, "name": name}

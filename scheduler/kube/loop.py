"""The scheduling thread: the engine's adapter to the API server. It owns the cache and the engine.

Each pass:
1. drain the inbox: watch events into the cache (waking the units they concern), effects' answers to the engine;
2. run the engine's pass (engine/driver.py), which decides everything;
3. carry its effects out on the event loop, concurrently (kube/effects.py), each answer back through the inbox.
API failures are classified there, once; the loop keeps going. A standby (or a leader still listing) keeps its
cache warm and decides nothing.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any

import structlog

from scheduler.api.config import ProvisioningConfig
from scheduler.api.provisioning import ProvisioningState
from scheduler.engine.cycle import EngineConfig
from scheduler.engine.driver import Backoff, Engine
from scheduler.engine.effects import AskCapacity, Done, Effect, SettleCapacity, group_ref, pod_ref
from scheduler.engine.state import ClusterState
from scheduler.kube.api import KubeApi
from scheduler.kube.cache import Invalid, apply
from scheduler.kube.effects import carry_out
from scheduler.kube.inbox import Change, Inbox
from scheduler.kube.metrics import Metrics
from scheduler.kube.provisioning import Provisioner

log = structlog.get_logger(__name__)
MAX_IDLE_S = 1.0  # a pass at least this often: retries, backoffs and deadlines come due without events
# Passes start at most this often. Each looks at every waiting unit, so under a flood of watch events, passes one
# after another (each for the few events that came in during the last) cost many times the work of one per gap
# for them all, and starve the event loop that reads the watches and sends the bindings. A unit waits this much
# longer at most.
MIN_PASS_GAP_S = 0.02
UNHEALTHY_PASSES = 5  # this many failed passes in a row and /healthz says so


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
        self.metrics = metrics or Metrics()
        self.metrics.set_time_limit(config.params.time_limit_s)
        self.provisioner = Provisioner(
            kube, provisioning or ProvisioningConfig(), state, self._spawn, self._group_event
        )
        self.engine = Engine(
            state,
            config,
            time.monotonic,
            self.metrics,
            nomination_timeout_s=nomination_timeout_s,
            capacity_condition=self.provisioner.condition,
        )
        self.invalid: dict[str, Invalid] = {}  # objects that do not parse, to say so on them (once per message)
        self.invalid_told: dict[str, str] = {}
        self._stopping = threading.Event()
        self.active = threading.Event()  # set while this replica leads: only the leader decides and binds
        self.synced: Callable[[], bool] = lambda: True  # the operator says when the first listings are all in
        self.failed_passes = 0
        self.passes = 0
        self._last_pass = float("-inf")

    def stop(self) -> None:
        self._stopping.set()
        self.inbox.wake.set()

    def healthy(self) -> bool:
        """False once passes keep failing: /healthz turns red and the kubelet restarts the container."""
        return self.is_alive() and self.failed_passes < UNHEALTHY_PASSES

    def run(self) -> None:
        while not self._stopping.is_set():
            due = self.engine.next_wakeup()
            wait = MAX_IDLE_S if due is None else min(MAX_IDLE_S, max(0.0, due - time.monotonic()))
            self.inbox.wake.wait(timeout=wait)
            if (gap := self._last_pass + MIN_PASS_GAP_S - time.monotonic()) > 0:
                self._stopping.wait(gap)  # what comes in meanwhile joins this pass
            self.inbox.wake.clear()
            try:
                if self.active.is_set() and self.synced():
                    self._last_pass = time.monotonic()
                    self.step()
                else:  # a standby (or a leader still listing) keeps its cache warm and decides nothing
                    for change in self.inbox.drain():
                        if change.kind not in ("done", "provisioning"):
                            apply(self.state, change)
                self.failed_passes = 0
            except Exception:
                self.failed_passes += 1
                log.exception("scheduling pass failed", failed_in_a_row=self.failed_passes)
                time.sleep(0.5)

    def step(self) -> None:
        # 1. Cache and answers.
        for change in self.inbox.drain():
            if change.kind == "done":
                self.engine.done(change.body["done"])
            elif change.kind == "provisioning":
                self._provisioning_changed(change)
            else:
                self._apply(change)
        self.provisioner.prune()
        # 2-3. The engine's pass, then its effects.
        self.submit(self.engine.step())
        self._report_invalid()
        self.passes += 1

    def _apply(self, change: Change) -> None:
        """A watch event into the cache; the units it may help are woken (all of them when capacity or the
        cluster changed, just its own unit when a pod or group changed)."""
        meta = change.body.get("metadata", {})
        key = f"{meta.get('namespace') or 'default'}/{meta.get('name')}"
        freed = apply(self.state, change, self.invalid)
        if freed:
            self.engine.changed()
        elif change.kind == "pod":
            info = self.state.pods.get(key)
            if info is not None and info.node is None:
                self.engine.wake(info.group_key or key)
        elif change.kind == "podgroup":
            self.engine.wake(key)

    def submit(self, effects: list[Effect]) -> None:
        for effect in effects:
            if isinstance(effect, AskCapacity):
                self.provisioner.want(effect.decision)
            elif isinstance(effect, SettleCapacity):
                self.provisioner.settle(effect.unit)
            else:
                self._spawn(self._carry(effect))

    async def _carry(self, effect: Effect) -> None:
        done: Done = await carry_out(self.kube, effect)
        self.inbox.put(Change("done", False, {"done": done}))

    def _provisioning_changed(self, change: Change) -> None:
        answer = self.provisioner.observe(change.body, change.deleted)
        if answer is None:
            return
        key, state = answer
        if state is ProvisioningState.PROVISIONED:
            self.engine.changed()  # capacity is coming: retry the gangs waiting for it
        elif state is ProvisioningState.FAILED:
            # Ask again once the retry delay is over, whatever the unit's backoff had grown to meanwhile.
            wait = self.provisioner.config.retry_seconds + 0.1
            self.engine.backoff[key] = Backoff(None, time.monotonic() + wait, wait)

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
            if bad.kind == "pod" and spec.get("schedulerName") == self.engine.config.name:
                if spec.get("nodeName"):
                    continue
                message = f"invalid pod, not scheduled until fixed: {bad.message}"
                condition = {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": message}
                self._spawn(self.kube.set_pod_condition(bad.key, condition))
                self._spawn(self.kube.post_event(pod_ref(bad.key), "Warning", "FailedScheduling", message))
            elif bad.kind == "podgroup":
                ref = group_ref(bad.key, meta.get("uid"))
                self._spawn(
                    self.kube.post_event(ref, "Warning", "InvalidPodGroup", f"ignored until fixed: {bad.message}")
                )

    def _group_event(self, key: str, type_: str, reason: str, message: str) -> None:
        group = self.state.groups.get(key)
        ref = group_ref(key, group.metadata.uid if group else None)
        self._spawn(self.kube.post_event(ref, type_, reason, message))

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        """Fire and forget on the event loop: API calls must not slow scheduling down."""
        asyncio.run_coroutine_threadsafe(_quiet(coro), self.loop)


async def _quiet(coro: Coroutine[Any, Any, Any]) -> None:
    try:
        await coro
    except Exception as exc:
        log.warning("background api call failed", error=str(exc))

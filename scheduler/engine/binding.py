"""The binding cycle's policy, one gang at a time: select nodes for claims, bind every pod, retry what failed
for a reason that may pass, and hand back what cannot be bound.

A gang's pods keep their reservations while its bindings are retried, so the nodes planned for the failed ones
stay free for them and a transient failure ends with the whole gang bound. A pod already bound is never
deleted to undo a gang: a pod nobody recreates would be lost. What fails for good, or for longer than the retry
window, goes back to be placed again beside the gang's bound pods; a gang that keeps failing is released
(driver.py). A retry onto a node another scheduler has filled meanwhile is not sent: the API server would
accept it, and only the kubelet would refuse the pod.
"""

from __future__ import annotations

from collections.abc import Container, Iterable
from dataclasses import dataclass, field

from scheduler.engine.cycle import Decision
from scheduler.engine.effects import Bind, Done, Effect, Outcome, SelectNode
from scheduler.engine.state import ClusterState

BIND_RETRY_S = 30.0  # failed bindings of a gang are retried (on their planned nodes) this long before re-planning
FIRST_RETRY_S = 0.5
MAX_RETRY_DELAY_S = 5.0


@dataclass
class Binding:
    """One gang's binding cycle in flight."""

    decision: Decision
    started: float
    selections: dict[SelectNode, Outcome | None] = field(default_factory=dict)
    waiting: dict[str, Bind] = field(default_factory=dict)  # pods whose Bind is not yet sent (or to resend)
    in_flight: dict[str, Bind] = field(default_factory=dict)
    bound: set[str] = field(default_factory=set)
    retry_at: float = 0.0
    delay: float = FIRST_RETRY_S
    failure: str = ""  # the last error, for the message if the gang is handed back
    selecting: bool = False  # the SelectNode effects are out

    @property
    def key(self) -> str:
        return self.decision.unit.key


@dataclass(frozen=True)
class Failed:
    """Pods of a gang that could not be bound: to forget and place again."""

    unit: str
    pods: tuple[str, ...]
    error: str
    permanent: bool
    conflict: bool = False  # another scheduler filled the node: said on the group as BindConflict


def start(decision: Decision, uids: dict[str, str], claims: list[tuple[str, str]], now: float) -> Binding:
    assert decision.plan is not None
    key = decision.unit.key
    binding = Binding(decision, now)
    binding.selections = {SelectNode(key, claim, node): None for claim, node in claims}
    for pod, node in sorted(decision.plan.assignments.items()):
        binding.waiting[pod] = Bind(key, pod, uids.get(pod, ""), node)
    return binding


def ready(binding: Binding, held: Container[str], now: float) -> list[Effect]:
    """Effects that may go now: the claims' selected nodes first, then every binding not held back (a pod
    whose PodScheduled=False write is still in flight must not have it land after its binding)."""
    if pending := [s for s, outcome in binding.selections.items() if outcome is None]:
        if binding.selecting:
            return []
        binding.selecting = True
        return list(pending)
    if binding.retry_at > now:
        return []
    out: list[Effect] = []
    for pod, bind in list(binding.waiting.items()):
        if pod in held:
            continue
        del binding.waiting[pod]
        binding.in_flight[pod] = bind
        out.append(bind)
    return out


def selected(binding: Binding, done: Done) -> Failed | None:
    assert isinstance(done.effect, SelectNode)
    binding.selections[done.effect] = done.outcome
    if done.outcome is Outcome.OK:
        return None
    claim, node = done.effect.claim, done.effect.node
    error = f"writing selected node {node} on persistentvolumeclaim {claim} failed: {done.error}"
    pods = tuple(sorted({*binding.waiting, *binding.in_flight}))
    return Failed(binding.key, pods, error, done.outcome is Outcome.PERMANENT)


def bound(binding: Binding, done: Done, now: float, conflicted: set[tuple[str, str]]) -> Failed | None:
    """Record one binding's answer; a failure the gang cannot wait out comes back as `Failed`."""
    assert isinstance(done.effect, Bind)
    bind = done.effect
    if binding.in_flight.get(bind.pod) != bind:
        return None  # an answer for an earlier attempt
    del binding.in_flight[bind.pod]
    if done.outcome is Outcome.OK:
        binding.bound.add(bind.pod)
        return None
    binding.failure = f"binding {bind.pod} to {bind.node} failed: {done.error}"
    if done.outcome is Outcome.PERMANENT:
        return Failed(binding.key, (bind.pod,), binding.failure, permanent=True)
    if (bind.pod, bind.node) in conflicted:
        message = f"node {bind.node} filled up (another scheduler's pod) while {bind.pod} waited to bind there"
        return Failed(binding.key, (bind.pod,), message, permanent=False, conflict=True)
    if now - binding.started >= BIND_RETRY_S:
        return Failed(binding.key, (bind.pod,), binding.failure, permanent=False)
    binding.waiting[bind.pod] = bind
    if binding.retry_at <= now:  # the first failure of a round sets its retry time; the others share it
        binding.retry_at = now + binding.delay
        binding.delay = min(binding.delay * 2, MAX_RETRY_DELAY_S)
    return None


def complete(binding: Binding) -> bool:
    return not binding.waiting and not binding.in_flight and all(o is Outcome.OK for o in binding.selections.values())


def overcommitted(bindings: Iterable[Binding], state: ClusterState) -> set[tuple[str, str]]:
    """(pod, node) of pods still only assumed there, on a node the fresh cache shows overcommitted."""
    conflicts = set()
    full: dict[str, bool] = {}  # per node, once a pass: thousands of bindings can be out at a time
    for binding in bindings:
        for pod, bind in [*binding.waiting.items(), *binding.in_flight.items()]:
            info = state.pods.get(pod)
            if info is None or not info.assumed:
                continue
            if (over := full.get(bind.node)) is None:
                over = full[bind.node] = bool(state.overcommitted(bind.node))
            if over:
                conflicts.add((pod, bind.node))
    return conflicts

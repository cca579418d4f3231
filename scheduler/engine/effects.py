"""What the engine asks of a cluster, and what the cluster answers: the engine's port, as typed messages.

The engine decides; an adapter carries each effect out and hands back one `Done` per effect, later, from
wherever it ran (the kube adapter on its event loop, the simulator at once). Errors are classified once, by the
adapter that saw them: `TRANSIENT` (throttling, a server error, a dropped connection: the same call may pass
later) or `PERMANENT` (refused: a conflict, a missing object, a forbidden call). The engine never sees an
exception type, so the policy for each outcome lives in one place.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from scheduler.api.workload import GROUP, VERSION


class Outcome(StrEnum):
    OK = "ok"
    TRANSIENT = "transient"
    PERMANENT = "permanent"


@dataclass(frozen=True)
class Bind:
    """pods/binding with the pod's UID: a pod recreated under the same name is not bound by a stale plan."""

    unit: str
    pod: str
    uid: str
    node: str


@dataclass(frozen=True)
class SelectNode:
    """volume.kubernetes.io/selected-node on a WaitForFirstConsumer claim, before its pod binds."""

    unit: str
    claim: str
    node: str


@dataclass(frozen=True)
class Evict:
    """DisruptionTarget condition, Preempted event, then delete with the pod's grace period."""

    unit: str  # the preemptor
    pod: str
    uid: str
    message: str


@dataclass(frozen=True)
class Release:
    """Delete a bound pod of a gang that can no longer run whole (its controller recreates it)."""

    unit: str
    pod: str
    uid: str
    message: str


@dataclass(frozen=True)
class Nominate:
    """status.nominatedNodeName of a preemptor's pod while its victims terminate ("" clears it)."""

    pod: str
    node: str


@dataclass(frozen=True)
class SetPodCondition:
    pod: str
    condition: Mapping[str, str]


@dataclass(frozen=True)
class WriteStatus:
    """Our status for a group. For a group of another API (`api_version` set) it is kept in an annotation,
    and `conditions`, when not None, is that API's own status.conditions to write."""

    group: str
    status: Mapping[str, Any]
    api_version: str = ""
    conditions: tuple[Mapping[str, Any], ...] | None = None


@dataclass(frozen=True)
class PostEvent:
    ref: Mapping[str, str]
    type: str
    reason: str
    message: str


@dataclass(frozen=True)
class AskCapacity:
    """A unit fits nowhere even with preemption: the capacity provisioner may ask for nodes (ProvisioningRequest)."""

    unit: str
    decision: Any  # engine.cycle.Decision (typed Any to keep this module free of the cycle)


@dataclass(frozen=True)
class SettleCapacity:
    """A unit got placed or is gone: its capacity request, if any, is withdrawn."""

    unit: str


Effect = (
    Bind
    | SelectNode
    | Evict
    | Release
    | Nominate
    | SetPodCondition
    | WriteStatus
    | PostEvent
    | AskCapacity
    | SettleCapacity
)


@dataclass(frozen=True)
class Done:
    effect: Effect
    outcome: Outcome = Outcome.OK
    error: str = ""


class ClusterPort(Protocol):
    """Carries effects out; every effect gets exactly one `Done`, through the engine's `done()`."""

    def submit(self, effects: Sequence[Effect]) -> None: ...


@dataclass
class Outbox:
    """Effects a pass produced, in order; the adapter submits them once the pass is over."""

    effects: list[Effect] = field(default_factory=list)

    def add(self, effect: Effect) -> None:
        self.effects.append(effect)

    def take(self) -> list[Effect]:
        out, self.effects = self.effects, []
        return out


def pod_ref(pod: str, uid: str | None = None) -> dict[str, str]:
    namespace, name = pod.split("/", 1)
    ref = {"apiVersion": "v1", "kind": "Pod", "namespace": namespace, "name": name}
    if uid:
        ref["uid"] = uid
    return ref


def group_ref(key: str, uid: str | None = None) -> dict[str, str]:
    namespace, name = key.split("/", 1)
    ref = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "PodGroup", "namespace": namespace, "name": name}
    if uid:
        ref["uid"] = uid
    return ref

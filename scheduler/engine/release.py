"""Releasing a gang left part-bound that can no longer be completed, so that it can be placed whole.

A gang left part-bound (a restart mid-binding, bindings that kept failing) whose rest can no longer join it
holds capacity for a gang that cannot run: its bound pods are released, and the gang is placed whole again once
they are back. Only pods a controller recreates are deleted (a bare pod would be lost: it stays, and the
PodGroup says why). A gang that ran before (a member replaced) is never undone.
"""

from __future__ import annotations

import structlog

from scheduler.api.controllers import controller_of
from scheduler.api.podgroup import PodGroupPhase
from scheduler.engine.effects import Effect, PostEvent, Release, group_ref
from scheduler.engine.state import ClusterState
from scheduler.engine.units import Unit

log = structlog.get_logger(__name__)


def stranded_release(state: ClusterState, unit: Unit, why: str, *, force: bool = False) -> list[Effect]:
    """The effects that release the gang (an event and its controller-owned bound pods), or none. `force`:
    release even a gang with its quorum bound (a member refused for good keeps the gang from running)."""
    group = unit.group
    if group is None or not (0 < unit.bound < unit.min_count or (force and unit.bound)):
        return []
    phase = group.status.phase if group.status else None
    if phase in (PodGroupPhase.RUNNING, PodGroupPhase.SUCCEEDED, PodGroupPhase.FAILED):
        return []  # it ran: a lost member is replaced in place, the gang is not undone
    bound = [m for m in state.members(unit.key) if m.node and not m.assumed and m.holds_capacity]
    owned = [m for m in bound if controller_of(m.pod.metadata) is not None]
    kept = len(bound) - len(owned)
    message = (
        f"{len(bound)} bound pod(s) of {unit.min_count} cannot be joined by the rest ({why}): releasing "
        f"{len(owned)} (their controllers recreate them)"
        + (f"; {kept} without a controller stay bound" if kept else "")
    )
    log.warning("partial gang released", unit=unit.key, released=len(owned), kept=kept)
    effects: list[Effect] = [PostEvent(group_ref(unit.key, group.metadata.uid), "Warning", "GangReleased", message)]
    effects += [Release(unit.key, m.key, m.uid, message) for m in owned]
    return effects

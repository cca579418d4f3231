"""When a unit that was decided and left waiting is decided again (the engine's backoff, driver.py).

A unit is decided again only when something that could change its answer happened:
- the cluster changed in a way that may help any unit (`Engine.changed()`: capacity freed, a node);
- what it is decided on of its own changed (`inputs`: a member arrived or was edited, its group's spec), which
  tells a real change from the watch echoing a status or condition we wrote;
- pods were placed after it failed and its pods are drawn to pods (required affinity, hard spread);
- or its delay ran out: doubling up to MAX_BACKOFF_S after an error, SAFETY_NET_S for a unit that waits (for
  room, for its pods), the safety net for changes no event tells of.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from scheduler.engine.units import Unit
from scheduler.solver.relations import Relations

MAX_BACKOFF_S = 60.0
# kube-scheduler 1.20 flushes its unschedulable queue every 60 s for the same reason.
SAFETY_NET_S = 60.0


@dataclass
class Backoff:
    changes: int | None  # the change count it failed at; None: wait whatever changes
    retry_at: float
    delay: float
    inputs: object = None  # what the unit was decided on (`inputs`), to tell a change of its own from an echo
    seq: int = 0  # decisions made before it: a placement made after it is news to it
    # Pods placed may help it: its required affinity may select them, its hard spread counts them. (They never
    # help otherwise: they only take room, and evicting a newcomer gives back the cluster it already failed on.)
    placements_help: bool = False

    def changed_for(self, unit: Unit) -> bool:
        """A change of the unit's own since it failed (never for a unit that waits whatever changes)."""
        return self.changes is not None and self.inputs != inputs(unit)

    def skips(self, now: float, changes: int) -> bool:
        """Nothing new to try: no change it waits for came, and its delay has not run out."""
        return self.changes in (None, changes) and now < self.retry_at


def inputs(unit: Unit) -> tuple[object, ...]:
    """What a unit's answer depends on of its own: the gang the solver sees (its pods' shapes and rules), why it
    waits if it does, its priority and policy, how many of its group are bound, and which pods these are. Equal
    inputs on an unchanged cluster give the same answer."""
    return (
        unit.gang,
        unit.waiting,
        unit.message,
        unit.priority,
        unit.min_count,
        unit.bound,
        unit.preemption,
        tuple(p.uid for p in unit.pending),
    )


def backoff_after(
    previous: Backoff | None, unit: Unit, now: float, changes: int | None, seq: int, *, waits: bool
) -> Backoff:
    """The backoff of a unit that failed at decision `seq`: `waits` for a unit left waiting (SAFETY_NET_S),
    else an error's doubling delay."""
    delay = SAFETY_NET_S if waits else min(MAX_BACKOFF_S, (previous.delay if previous else 0.5) * 2)
    helped = unit.gang is not None and any(_drawn_to_pods(s.signature.relations) for s in unit.gang.pod_sets)
    return Backoff(changes, now + delay, delay, inputs(unit), seq, helped)


def note_placements(backoffs: Iterable[Backoff], placed: int) -> None:
    """Units were placed up to decision `placed`: those that failed before it and that placed pods may help are
    decided on the next pass."""
    for seen in backoffs:
        if seen.placements_help and seen.changes is not None and seen.seq < placed:
            seen.changes = -1  # as if a change it waits for had come


def _drawn_to_pods(relations: Relations | None) -> bool:
    return relations is not None and bool(relations.affinity or any(rule.hard for rule in relations.spread))

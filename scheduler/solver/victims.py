"""Preemption candidates as the solver sees them: victim units, disruption budgets and the victim cost.

A *unit* is what is evicted atomically: one pod, or every pod of a PodGroup whose disruptionMode is PodGroup
(on every node, including nodes the preemptor does not use). Only units of strictly lower priority than the
preemptor are candidates.

The cost of a victim set follows kube-scheduler's ranking of preemption candidates, applied to the whole gang:
1. fewest PodDisruptionBudget violations, 2. lowest highest victim priority, 3. smallest sum of victim
priorities, 4. fewest victim pods. Priorities enter as *ranks* among the candidates' distinct priorities
(1 = lowest): the order of (2) is exact, and (3) weighs each victim pod by its rank, which keeps the model's
weights bounded whatever the raw priority values are (kube-scheduler offsets raw values by 2^31 instead).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property

VictimCost = tuple[int, int, int, int]  # (PDB violations, highest rank, sum of ranks per pod, pods)


@dataclass(frozen=True, slots=True)
class VictimPod:
    key: str
    node: str
    requests: Mapping[str, int]


@dataclass(frozen=True, slots=True)
class VictimUnit:
    key: str  # the pod key, or the PodGroup key for a unit evicted whole
    priority: int
    pods: tuple[VictimPod, ...]
    whole_group: bool = False

    def __post_init__(self) -> None:
        if not self.pods:
            raise ValueError(f"victim unit {self.key} has no pods")


@dataclass(frozen=True, slots=True)
class Budget:
    """A PodDisruptionBudget: how many of its pods may still be disrupted."""

    key: str
    allowed: int
    pods: frozenset[str]


@dataclass(frozen=True)
class Candidates:
    """The eligible units for one preemptor, with their priority ranks."""

    units: tuple[VictimUnit, ...]
    budgets: tuple[Budget, ...]
    rank: Mapping[str, int]  # unit key -> rank (1 = lowest priority among candidates)

    @cached_property
    def by_key(self) -> dict[str, VictimUnit]:
        return {u.key: u for u in self.units}

    @cached_property
    def by_node(self) -> dict[str, list[VictimUnit]]:
        """Units with a pod on each node (a whole-group unit appears under each of its nodes)."""
        out: dict[str, list[VictimUnit]] = {}
        for unit in self.units:
            for node in {p.node for p in unit.pods}:
                out.setdefault(node, []).append(unit)
        return out

    def cost(self, chosen: Iterable[str]) -> VictimCost:
        units = [self.by_key[k] for k in chosen]
        if not units:
            return (0, 0, 0, 0)
        pods = {p.key for u in units for p in u.pods}
        violations = sum(max(0, len(b.pods & pods) - b.allowed) for b in self.budgets)
        return (
            violations,
            max(self.rank[u.key] for u in units),
            sum(self.rank[u.key] * len(u.pods) for u in units),
            len(pods),
        )


def eligible(units: Sequence[VictimUnit], budgets: Sequence[Budget], preemptor_priority: int) -> Candidates:
    """Units of strictly lower priority, ranked; budgets kept only where they cover a candidate pod."""
    chosen = tuple(u for u in units if u.priority < preemptor_priority)
    levels = sorted({u.priority for u in chosen})
    rank = {u.key: levels.index(u.priority) + 1 for u in chosen}
    pods = {p.key for u in chosen for p in u.pods}
    relevant = tuple(b for b in budgets if b.pods & pods)
    return Candidates(chosen, relevant, rank)

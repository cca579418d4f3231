"""The result of one decision: where each pod goes (or why none does), and how good that is known to be.

Scores are lexicographic tuples, compared as tuples and reported as one weighted integer:

    (unplaced pods, domains spanned at each preferred level widest first, nodes used, packing cost)

fewer unplaced pods first (a gang above minCount places as many as fit), then locality, then fewer nodes
(fragmentation), then most-allocated packing (cost 0 on a full node, 100 on an empty one, per pod).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from scheduler.api.podgroup import SolverStatus
from scheduler.solver.filters import COST_SCALE

Score = tuple[int, ...]


def score_weights(gang_size: int, span_levels: int, per_pod: int = COST_SCALE) -> tuple[int, ...]:
    """Weights that make the weighted sum order exactly like the tuple (each term is bounded by the one below);
    `per_pod` bounds the last term per pod (packing, plus preferences scaled above it)."""
    weights = [1]  # preferences and packing: at most per_pod per pod
    bound = per_pod * gang_size
    for _ in range(span_levels):  # spans and nodes used: at most one per pod each
        weights.append(bound + 1)
        bound = weights[-1] * (gang_size + 1) - 1
    weights.append(bound + 1)  # unplaced pods
    return tuple(reversed(weights))


def weighted(score: Score, weights: tuple[int, ...]) -> int:
    return sum(w * s for w, s in zip(weights, score, strict=True))


@dataclass(frozen=True)
class Plan:
    gang: str
    status: SolverStatus
    assignments: Mapping[str, str] = field(default_factory=dict)  # pod key -> node name
    score: Score | None = None
    objective: int | None = None
    bound: int | None = None
    method: str = ""  # "greedy" (no model) | "bound" (greedy, proven optimal by a bound) | "cp-sat" (model ran)
    # | "single" (one pod: filter and score, solver/single.py)
    explanation: str = ""
    placement: tuple[tuple[str, str], ...] = ()  # narrowest domain holding every placed pod, widest level first
    duration_s: float = 0.0
    # Preemption: victim units evicted for this plan (pods, or PodGroups evicted whole), their pods, and the
    # cost of that set (solver/victims.py). `assignments` are then the nominated nodes, free once victims go.
    victims: tuple[str, ...] = ()
    victim_pods: tuple[str, ...] = ()
    victim_cost: tuple[int, ...] | None = None

    @property
    def placed(self) -> bool:
        return bool(self.assignments)

    @property
    def gap(self) -> float | None:
        """Relative distance to the proven lower bound: 0 when optimal, None when nothing is known."""
        if self.objective is None or self.bound is None:
            return None
        return max(0.0, (self.objective - self.bound) / max(1, abs(self.objective)))

    @property
    def domain(self) -> str:
        return self.placement[-1][1] if self.placement else ""

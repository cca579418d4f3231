"""Upstream's preemption, applied to a whole gang: the baseline, the hint and the fallback.

kube-scheduler (and upstream workload-aware preemption) removes every lower-priority pod from the candidate
nodes, checks the preemptor fits, then *reprieves* victims one by one, most important first, keeping each one
whose return still leaves room. Victims that would violate a PodDisruptionBudget are offered a reprieve first.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping

import numpy as np

from scheduler.solver.problem import Gang
from scheduler.solver.victims import Candidates, VictimUnit
from scheduler.topology.capacity import Capacity, IntArray


def placement_load(capacity: Capacity, gang: Gang, assignments: Mapping[str, str]) -> dict[int, IntArray]:
    """Per node index, the requests of the gang's pods placed there."""
    requests = {p: s.signature.request_map for s in gang.pod_sets for p in s.pods}
    load: dict[int, IntArray] = defaultdict(lambda: np.zeros(len(capacity.resources), dtype=np.int64))
    for pod, node in assignments.items():
        load[capacity.tree.index[node]] += capacity.vector(
            {r: a for r, a in requests[pod].items() if r in capacity.column}
        )
    return load


def fits_after(capacity: Capacity, load: Mapping[int, IntArray], evicted: list[VictimUnit]) -> bool:
    """Whether the placement's load fits once exactly these units are evicted."""
    freed: dict[int, IntArray] = defaultdict(lambda: np.zeros(len(capacity.resources), dtype=np.int64))
    for unit in evicted:
        for pod in unit.pods:
            i = capacity.tree.index.get(pod.node)
            if i is not None and i in load:
                freed[i] += capacity.vector({r: a for r, a in pod.requests.items() if r in capacity.column})
    for i, need in load.items():
        room = capacity.allocatable[i] - capacity.used[i] + freed[i]
        if (need > room).any():
            return False
    return True


def reprieve(
    capacity: Capacity,
    gang: Gang,
    candidates: Candidates,
    assignments: Mapping[str, str],
    start: list[VictimUnit] | None = None,
) -> list[VictimUnit] | None:
    """Victims for a fixed placement: `start` (default: every candidate unit on its nodes), then reprieve all
    that can stay. Also the minimality pass over any solver's victims. None when `start` leaves no room.
    """
    load = placement_load(capacity, gang, assignments)
    used_nodes = {capacity.tree.nodes[i].name for i in load}
    evicted = start if start is not None else [u for u in candidates.units if any(p.node in used_nodes for p in u.pods)]
    if not fits_after(capacity, load, evicted):
        return None
    protected = {p for b in candidates.budgets for p in b.pods}

    def order(unit: VictimUnit) -> tuple[bool, int, int, str]:
        guarded = any(p.key in protected for p in unit.pods)
        return (not guarded, -unit.priority, -len(unit.pods), unit.key)

    for unit in sorted(evicted, key=order):
        remaining = [u for u in evicted if u is not unit]
        if fits_after(capacity, load, remaining):
            evicted = remaining
    return sorted(evicted, key=lambda u: u.key)

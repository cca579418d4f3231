"""Upstream's preemption, applied to a whole gang: the baseline, the hint and the fallback.

kube-scheduler (and upstream workload-aware preemption) removes every lower-priority pod from a candidate,
checks the preemptor fits, then *reprieves* victims one by one, most important first, keeping each one whose
return still leaves room; it does that for every candidate node and keeps the cheapest. For a gang the
candidate is a domain that satisfies its Required topology (solver/preemption.py tries each). Victims that
would violate a PodDisruptionBudget are offered a reprieve first.
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
        known = {r: a for r, a in requests[pod].items() if r in capacity.column}
        load[capacity.tree.index[node]] += capacity.vector(known)
    return load


def reprieve(
    capacity: Capacity,
    gang: Gang,
    candidates: Candidates,
    assignments: Mapping[str, str],
    start: list[VictimUnit] | None = None,
    keep: set[str] | None = None,
) -> list[VictimUnit] | None:
    """Victims for a fixed placement: `start` (default: every candidate unit on its nodes), then reprieve all
    that can stay. Also the minimality pass over any solver's victims. None when `start` leaves no room.
    `keep`: units the placement needs gone whatever they free (inter-pod rules): never reprieved.

    Incremental: returning a unit only re-checks the nodes it runs on.
    """
    load = placement_load(capacity, gang, assignments)
    used_nodes = {capacity.tree.nodes[i].name for i in load}
    if start is None:
        on_nodes = {u.key: u for node in used_nodes for u in candidates.by_node.get(node, ())}
        on_nodes.update({k: candidates.by_key[k] for k in keep or () if k in candidates.by_key})
        start = sorted(on_nodes.values(), key=lambda u: u.key)
    elif keep:
        present = {u.key for u in start}
        start = [*start, *(candidates.by_key[k] for k in sorted(keep - present) if k in candidates.by_key)]
    evicted = start
    # Per loaded node: room left after the gang's pods, counting what the evicted units free there.
    slack: dict[int, IntArray] = {i: capacity.allocatable[i] - capacity.used[i] - need for i, need in load.items()}
    freed_by: dict[str, dict[int, IntArray]] = {}
    for unit in evicted:
        freed_by[unit.key] = _freed(capacity, unit, slack)
        for i, amount in freed_by[unit.key].items():
            slack[i] = slack[i] + amount
    if any((room < 0).any() for room in slack.values()):
        return None
    protected = {p for b in candidates.budgets for p in b.pods}

    def order(unit: VictimUnit) -> tuple[bool, int, int, str]:
        guarded = bool(protected) and any(p.key in protected for p in unit.pods)
        return (not guarded, -unit.priority, -len(unit.pods), unit.key)

    kept: set[str] = set()
    for unit in sorted(evicted, key=order):
        if keep and unit.key in keep:
            continue
        freed = freed_by[unit.key]
        if all(((slack[i] - amount) >= 0).all() for i, amount in freed.items()):
            for i, amount in freed.items():
                slack[i] = slack[i] - amount
            kept.add(unit.key)
    return sorted((u for u in evicted if u.key not in kept), key=lambda u: u.key)


def _freed(capacity: Capacity, unit: VictimUnit, loaded: Mapping[int, IntArray]) -> dict[int, IntArray]:
    """What evicting a unit frees on the loaded nodes (elsewhere it frees nothing the gang uses)."""
    freed: dict[int, IntArray] = {}
    for pod in unit.pods:
        i = capacity.tree.index.get(pod.node)
        if i is None or i not in loaded:
            continue
        known = {r: a for r, a in pod.requests.items() if r in capacity.column}
        freed[i] = freed.get(i, np.zeros(len(capacity.resources), dtype=np.int64)) + capacity.vector(known)
    return freed

"""The single-pod fast path: filter, then score a sample of the feasible nodes, as kube-scheduler does; no model,
no regions, no bounds.

A unit of one pod and no topology rules has nothing to decide jointly: its best placement is the feasible node
of least cost. The filters and the cost are the full path's own (`fit_gang`: static filters, inter-pod rules,
free capacity, preferences over packing; `compile_joint` for what a pod's rules ask of itself: the first pod of a
self-affine group, its spread as a per-node filter), so both paths accept and refuse the same nodes, and the
independent validator checks this plan as any other.

What is scored follows kube-scheduler's `percentageOfNodesToScore` left at its default (adaptive): in a cluster
of n nodes, the scan stops once max(100, n * max(5, 50 - n / 125) %) feasible nodes are found (all of them below
100 nodes). Upstream starts each scan where the last one stopped; a pure function has no last scan, so the start
is derived from the pod's key, which spreads consecutive pods over the cluster in the same way. When the sample
holds every feasible node the choice is the full path's optimum (status Optimal); otherwise it is the best of the
sample (status Feasible), and the plan's bound is the least cost over every feasible node, so the gap says what
sampling gave up.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

from scheduler.api.podgroup import SolverStatus
from scheduler.solver.filters import COST_SCALE, FilterCache, fit_gang
from scheduler.solver.joint import compile_joint
from scheduler.solver.neighbours import Neighbours
from scheduler.solver.plan import Score, score_weights, weighted
from scheduler.solver.problem import Gang
from scheduler.topology.capacity import Capacity
from scheduler.topology.tree import HOSTNAME, TopologyTree

# kube-scheduler's defaults (pkg/scheduler: minFeasibleNodesToFind, minFeasibleNodesPercentageToFind and the
# adaptive base of percentageOfNodesToScore).
MIN_NODES_TO_FIND = 100
MIN_PERCENTAGE = 5
BASE_PERCENTAGE = 50
NODES_PER_PERCENT = 125


@dataclass(frozen=True)
class SingleChoice:
    """Where the pod goes, the full path's score of it, and what is known of how good it is."""

    node: int
    score: Score
    objective: int
    bound: int
    status: SolverStatus
    scored: int  # feasible nodes in the sample
    feasible: int  # feasible nodes in the cluster


def is_single(gang: Gang) -> bool:
    """One pod, and no topology rule to honour: the fast path decides it exactly as the full path would."""
    return gang.size == 1 and not gang.topology


def nodes_to_score(total: int) -> int:
    """How many feasible nodes kube-scheduler looks for before it stops filtering (numFeasibleNodesToFind)."""
    if total < MIN_NODES_TO_FIND:
        return total
    percentage = max(MIN_PERCENTAGE, BASE_PERCENTAGE - total // NODES_PER_PERCENT)
    return max(MIN_NODES_TO_FIND, total * percentage // 100)


def place_single(
    capacity: Capacity, gang: Gang, cache: FilterCache, neighbours: Neighbours | None
) -> SingleChoice | None:
    """The best node of the sample for the gang's one pod, or None when no node can take it (the caller then
    runs the full path, whose explanation says why)."""
    if not is_single(gang):
        raise ValueError(f"gang {gang.name}: the single-pod path takes one pod without topology rules")
    tree = capacity.tree
    fits = fit_gang(capacity, cache, gang, neighbours)
    if fits[0].signature.relations is not None:
        # For one pod the joint rules are per-node filters: its hard spread, and the first-pod rule, which
        # closes every node when the pod does not match its own affinity (relation_fit keeps only nodes that
        # carry the terms' keys).
        _, fits = compile_joint(tree, neighbours or Neighbours(), fits)
    feasible = np.flatnonzero(fits[0].cap > 0)
    if not len(feasible):
        return None
    cost = fits[0].cost
    start = zlib.crc32(gang.pod_sets[0].pods[0].encode()) % len(tree)
    scan = np.concatenate([feasible[feasible >= start], feasible[feasible < start]])
    sample = scan[: nodes_to_score(len(tree))]
    node = int(sample[np.lexsort((sample, cost[sample]))[0]])  # least cost, then tree order
    weights = score_weights(1, 1, max(COST_SCALE, int(cost.max(initial=0))))
    score: Score = (0, 1, int(cost[node]))
    best = int(cost[feasible].min())
    complete = len(sample) == len(feasible)
    return SingleChoice(
        node=node,
        score=score,
        objective=weighted(score, weights),
        bound=weighted((0, 1, best), weights),
        status=SolverStatus.OPTIMAL if complete or best == score[-1] else SolverStatus.FEASIBLE,
        scored=len(sample),
        feasible=len(feasible),
    )


def single_path(tree: TopologyTree, node: int) -> tuple[tuple[str, str], ...]:
    """The placement path of one pod: its node's labels at every level, widest first, then the node."""
    labels = tree.nodes[node].labels
    path: list[tuple[str, str]] = []
    for key in tree.levels:
        if value := labels.get(key, ""):  # a level the node lacks says nothing, as in placement_path
            path.append((key, value))
    return (*path, (HOSTNAME, tree.nodes[node].name))

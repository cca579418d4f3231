"""The CP-SAT gang placement model over a small set of nodes (shortlisted regions, not the cluster).

Nodes that are interchangeable for the model (one pod shape; same domains, cap and packing cost) are merged
into groups with an integer "nodes used" variable: that removes the symmetry that otherwise keeps CP-SAT from
proving optimality on half-loaded clusters, and shrinks a 512-node block to a few dozen variables. With several
shapes every node is its own group, since shapes share a node's capacity.

Constraint families, one method each, as the CP-SAT primer recommends; the objective is the weighted form of
the lexicographic score in `plan.py`.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from ortools.sat.python import cp_model

from scheduler.api.podgroup import SolverStatus
from scheduler.solver.budget import Budget
from scheduler.solver.context import GangContext
from scheduler.solver.greedy import Counts
from scheduler.solver.joint_model import add_joint
from scheduler.solver.problem import SolverParams
from scheduler.topology.capacity import IntArray


@dataclass(frozen=True)
class ModelResult:
    status: SolverStatus
    counts: Counts | None
    objective: int | None
    bound: int | None  # best proven lower bound on the weighted objective inside the model
    variables: int
    wall_s: float


class PlacementModel:
    def __init__(self, ctx: GangContext, nodes: Sequence[int], scope_of: dict[int, int], free: IntArray) -> None:
        self.ctx = ctx
        self.model = cp_model.CpModel()
        self.groups = self._group(nodes, scope_of)
        self.scope_of = scope_of
        self.x: dict[tuple[int, int], cp_model.IntVar] = {}  # (signature, group) -> pods
        self.y: list[cp_model.IntVar] = []  # group -> nodes used
        self.span_vars: list[dict[int, cp_model.IntVar]] = []
        self._variables()
        self._node_capacity(free)
        self._pod_counts()
        self._one_scope()
        self._spans()
        self._joint()
        self._objective()

    def _group(self, nodes: Sequence[int], scope_of: dict[int, int]) -> list[list[int]]:
        if len(self.ctx.fits) > 1 or self.ctx.joint.active:
            return [[n] for n in nodes]
        index = np.asarray(nodes, dtype=np.int64)
        if not len(index):
            return []
        keys = _class_keys(self.ctx, index, scope_of)
        _, label = np.unique(np.stack([*keys, self.ctx.cost[0, index]], axis=1), axis=0, return_inverse=True)
        order = np.argsort(label.ravel(), kind="stable")
        bounds = np.flatnonzero(np.diff(label.ravel()[order])) + 1
        return [index[chunk].tolist() for chunk in np.split(order, bounds)]

    def _variables(self) -> None:
        """x[s, g]: pods of signature s on group g; y[g]: nodes of group g that hold any pod."""
        for g, members in enumerate(self.groups):
            first = members[0]
            for s in range(len(self.ctx.fits)):
                cap = int(self.ctx.cap[s, first]) * len(members)
                if cap > 0:
                    self.x[(s, g)] = self.model.new_int_var(0, min(cap, int(self.ctx.counts[s])), f"x{s}_{g}")
            self.y.append(self.model.new_int_var(0, len(members), f"y{g}"))
            per_node = sum(int(self.ctx.cap[s, first]) for s in range(len(self.ctx.fits)))
            pods = [var for (s, h), var in self.x.items() if h == g]
            self.model.add(sum(pods) <= per_node * self.y[g])

    def _node_capacity(self, free: IntArray) -> None:
        """Shapes sharing a node share its free capacity (one shape alone is bounded by its cap)."""
        for g, members in enumerate(self.groups):
            sigs = [s for s in range(len(self.ctx.fits)) if (s, g) in self.x]
            if len(sigs) < 2:
                continue
            n = members[0]
            for r in range(len(self.ctx.capacity.resources)):
                worst = sum(int(self.ctx.cap[s, n] * self.ctx.requests[s, r]) for s in sigs)
                if worst > free[n, r]:
                    expr = sum(int(self.ctx.requests[s, r]) * self.x[(s, g)] for s in sigs)
                    self.model.add(expr <= int(free[n, r]))

    def _pod_counts(self) -> None:
        """No more pods of a shape than exist; at least minCount in all."""
        per_sig: dict[int, list[cp_model.IntVar]] = defaultdict(list)
        for (s, _), var in self.x.items():
            per_sig[s].append(var)
        for s, variables in per_sig.items():
            self.model.add(sum(variables) <= int(self.ctx.counts[s]))
        self.placed = sum(self.x.values())
        self.model.add(self.placed >= self.ctx.need)

    def _one_scope(self) -> None:
        """Required topology: every pod inside one scope (a domain at the narrowest required level)."""
        scopes = sorted({self.scope_of[m[0]] for m in self.groups})
        if len(scopes) < 2:
            return
        chosen = {k: self.model.new_bool_var(f"scope{k}") for k in scopes}
        self.model.add_exactly_one(chosen.values())
        members: dict[int, list[tuple[int, int]]] = defaultdict(list)
        for key in self.x:
            members[self.scope_of[self.groups[key[1]][0]]].append(key)
        for k, keys in members.items():
            self.model.add(sum(self.x[key] for key in keys) <= self._room(keys) * chosen[k])

    def _spans(self) -> None:
        """For each preferred level, a flag per domain that holds any pod (nodes used come from y)."""
        for depth in self.ctx.span_depths:
            if depth == self.ctx.leaf:
                continue
            members: dict[int, list[tuple[int, int]]] = defaultdict(list)
            for key in self.x:
                members[int(self.ctx.tree.domain_of[depth][self.groups[key[1]][0]])].append(key)
            used: dict[int, cp_model.IntVar] = {}
            for unit, keys in members.items():
                used[unit] = self.model.new_bool_var(f"used{depth}_{unit}")
                # The unit's real capacity, not the gang size: it keeps the LP relaxation (and so the proof) tight.
                self.model.add(sum(self.x[k] for k in keys) <= self._room(keys) * used[unit])
            self.span_vars.append(used)

    def _joint(self) -> None:
        """Constraints among the gang's own pods (anti-affinity, affinity, spread, shared host ports)."""
        if self.ctx.joint.active:
            per_node = {(s, self.groups[g][0]): var for (s, g), var in self.x.items()}
            add_joint(self.model, self.ctx.tree, self.ctx.joint, per_node, self.ctx.total)

    def _room(self, keys: list[tuple[int, int]]) -> int:
        """Most pods the given variables could hold together."""
        per_sig: dict[int, int] = defaultdict(int)
        for s, g in keys:
            per_sig[s] += int(self.ctx.cap[s, self.groups[g][0]]) * len(self.groups[g])
        return min(self.ctx.total, sum(min(v, int(self.ctx.counts[s])) for s, v in per_sig.items()))

    def _objective(self) -> None:
        w = self.ctx.weights
        terms = [w[0] * (self.ctx.total - self.placed)]
        for weight, used in zip(w[1:-2], self.span_vars, strict=True):
            terms.append(weight * sum(used.values()))
        terms.append(w[-2] * sum(self.y))
        terms.append(sum(int(self.ctx.cost[s, self.groups[g][0]]) * var for (s, g), var in self.x.items()))
        self.model.minimize(sum(terms))

    def hint(self, counts: Counts) -> None:
        group_of = {n: g for g, members in enumerate(self.groups) for n in members}
        pods: dict[tuple[int, int], int] = defaultdict(int)
        nodes_used: dict[int, set[int]] = defaultdict(set)
        for (s, n), k in counts.items():
            if n in group_of and k > 0:
                pods[(s, group_of[n])] += k
                nodes_used[group_of[n]].add(n)
        for key, var in self.x.items():
            self.model.add_hint(var, pods.get(key, 0))
        for g, var in enumerate(self.y):
            self.model.add_hint(var, len(nodes_used.get(g, ())))
        depths = [d for d in self.ctx.span_depths if d != self.ctx.leaf]
        for depth, used in zip(depths, self.span_vars, strict=True):
            units = {int(self.ctx.tree.domain_of[depth][n]) for ns in nodes_used.values() for n in ns}
            for unit, var in used.items():
                self.model.add_hint(var, unit in units)

    def _counts(self, solver: cp_model.CpSolver) -> Counts:
        """Spread each group's pods over its nodes, filling one node before the next."""
        counts: Counts = {}
        for (s, g), var in self.x.items():
            left = int(solver.value(var))
            for n in self.groups[g]:
                if left == 0:
                    break
                k = min(left, int(self.ctx.cap[s, n]))
                counts[(s, n)] = k
                left -= k
        return counts

    def solve(self, params: SolverParams, time_limit_s: float, budget: Budget | None = None) -> ModelResult:
        """`budget`: the decision's, charged with this solve (None: one of its own)."""
        budget = budget or Budget.of(params, time_limit_s)
        solver = cp_model.CpSolver()
        workers = params.large_model_workers if len(self.x) >= params.large_model_vars else params.num_workers
        budget.limit(solver, time_limit_s, workers)
        workers = solver.parameters.num_workers
        solver.parameters.random_seed = params.seed
        solver.parameters.relative_gap_limit = params.relative_gap
        # The full LP relaxation is what proves span and nodes-used terms optimal; the default single-worker
        # search (linearization 1) found the optimum of a 512-pod gang but no useful bound in 3 s, level 2 proved
        # it in ~0.2 s. With several workers, name the LP-heavy subsolvers instead of the default portfolio.
        solver.parameters.linearization_level = 2
        if workers > 1:
            solver.parameters.subsolvers.extend(["max_lp", "core"])
        started = time.perf_counter()
        status = solver.solve(self.model)
        wall = time.perf_counter() - started
        budget.charge(solver)
        if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            return ModelResult(
                SolverStatus.OPTIMAL if status == cp_model.OPTIMAL else SolverStatus.FEASIBLE,
                self._counts(solver),
                round(solver.objective_value),
                round(solver.best_objective_bound),
                len(self.x),
                wall,
            )
        if status == cp_model.INFEASIBLE:
            return ModelResult(SolverStatus.INFEASIBLE, None, None, None, len(self.x), wall)
        return ModelResult(SolverStatus.TIMEOUT, None, None, None, len(self.x), wall)


def _class_keys(ctx: GangContext, index: IntArray, scope_of: dict[int, int]) -> list[IntArray]:
    """What makes two nodes interchangeable for one pod shape apart from their packing cost: scope, domain at
    every preferred level, and how many pods fit."""
    keys = [np.fromiter((scope_of[int(n)] for n in index), dtype=np.int64, count=len(index))]
    keys += [ctx.tree.domain_of[d][index].astype(np.int64) for d in ctx.span_depths if d != ctx.leaf]
    keys.append(ctx.cap[0, index])
    return keys


def prune_dominated(ctx: GangContext, nodes: IntArray, scope_of: dict[int, int]) -> IntArray:
    """Drop nodes no optimal placement needs (one pod shape only): among nodes of one class (same scope,
    domains and cap), at most ceil(pods / cap) can hold pods, and a cheaper one always serves at least as well,
    so only that many of the cheapest are kept. Exact: it removes no optimum, and shrinks 5,000 candidate nodes
    of a small gang to a few dozen."""
    if len(ctx.fits) > 1 or ctx.joint.active or not len(nodes):
        return nodes
    keys = _class_keys(ctx, nodes, scope_of)
    cost = ctx.cost[0, nodes]
    order = np.lexsort((nodes, cost, *reversed(keys)))
    stacked = np.stack([k[order] for k in keys], axis=1)
    starts = np.ones(len(order), dtype=np.bool_)
    starts[1:] = (stacked[1:] != stacked[:-1]).any(axis=1)
    group_start = np.maximum.accumulate(np.where(starts, np.arange(len(order)), 0))
    rank = np.arange(len(order)) - group_start
    cap = ctx.cap[0, nodes[order]]
    useful = -(-ctx.total // np.maximum(cap, 1))
    return np.sort(nodes[order][rank < useful])

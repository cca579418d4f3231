"""The CP-SAT gang placement model over a small set of nodes (shortlisted regions, not the cluster).

Variables are pod counts per (signature, node), so a 512-pod gang of one shape on 256 nodes is 256 integers.
Constraint families, one method each, as the CP-SAT primer recommends; the objective is the weighted form of
the lexicographic score in `plan.py`.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from ortools.sat.python import cp_model

from scheduler.api.podgroup import SolverStatus
from scheduler.solver.context import GangContext
from scheduler.solver.greedy import Counts
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
        self.x: dict[tuple[int, int], cp_model.IntVar] = {}
        self.span_vars: list[dict[int, cp_model.IntVar]] = []
        self._variables(nodes)
        self._node_capacity(free)
        self._pod_counts()
        self._one_scope(scope_of)
        self._spans()
        self._objective()

    def _variables(self, nodes: Sequence[int]) -> None:
        """x[s, n]: pods of signature s on node n, bounded by what fits there alone."""
        for n in nodes:
            for s in range(len(self.ctx.fits)):
                cap = int(self.ctx.cap[s, n])
                if cap > 0:
                    self.x[(s, n)] = self.model.new_int_var(0, cap, f"x{s}_{n}")

    def _node_capacity(self, free: IntArray) -> None:
        """Signatures sharing a node share its free capacity (one signature alone is bounded by its cap)."""
        by_node: dict[int, list[int]] = defaultdict(list)
        for s, n in self.x:
            by_node[n].append(s)
        for n, sigs in by_node.items():
            if len(sigs) < 2:
                continue
            for r in range(len(self.ctx.capacity.resources)):
                worst = sum(int(self.ctx.cap[s, n] * self.ctx.requests[s, r]) for s in sigs)
                if worst > free[n, r]:
                    expr = sum(int(self.ctx.requests[s, r]) * self.x[(s, n)] for s in sigs)
                    self.model.add(expr <= int(free[n, r]))

    def _pod_counts(self) -> None:
        """No more pods of a signature than exist; at least minCount in all."""
        per_sig: dict[int, list[cp_model.IntVar]] = defaultdict(list)
        for (s, _), var in self.x.items():
            per_sig[s].append(var)
        for s, variables in per_sig.items():
            if sum(int(self.ctx.cap[s, n]) for (t, n) in self.x if t == s) > self.ctx.counts[s]:
                self.model.add(sum(variables) <= int(self.ctx.counts[s]))
        self.placed = sum(self.x.values())
        self.model.add(self.placed >= self.ctx.need)

    def _one_scope(self, scope_of: dict[int, int]) -> None:
        """Required topology: every pod inside one scope (a domain at the narrowest required level)."""
        scopes = sorted(set(scope_of.values()))
        if len(scopes) < 2:
            return
        chosen = {k: self.model.new_bool_var(f"scope{k}") for k in scopes}
        self.model.add_exactly_one(chosen.values())
        members: dict[int, list[cp_model.IntVar]] = defaultdict(list)
        for (_, n), var in self.x.items():
            members[scope_of[n]].append(var)
        for k, variables in members.items():
            self.model.add(sum(variables) <= self.ctx.total * chosen[k])

    def _spans(self) -> None:
        """For each span level (preferred levels, then nodes), a flag per domain that holds any pod."""
        for depth in self.ctx.span_depths:
            members: dict[int, list[tuple[cp_model.IntVar, int]]] = defaultdict(list)
            for (s, n), var in self.x.items():
                unit = n if depth == self.ctx.leaf else int(self.ctx.tree.domain_of[depth][n])
                members[unit].append((var, int(self.ctx.cap[s, n])))
            used: dict[int, cp_model.IntVar] = {}
            for unit, pairs in members.items():
                used[unit] = self.model.new_bool_var(f"used{depth}_{unit}")
                bound = min(self.ctx.total, sum(cap for _, cap in pairs))
                self.model.add(sum(var for var, _ in pairs) <= bound * used[unit])
            self.span_vars.append(used)

    def _objective(self) -> None:
        w = self.ctx.weights
        terms = [w[0] * (self.ctx.total - self.placed)]
        for weight, used in zip(w[1:-1], self.span_vars, strict=True):
            terms.append(weight * sum(used.values()))
        terms.append(sum(int(self.ctx.cost[s, n]) * var for (s, n), var in self.x.items()))
        self.model.minimize(sum(terms))

    def hint(self, counts: Counts) -> None:
        for key, var in self.x.items():
            self.model.add_hint(var, counts.get(key, 0))
        nodes_used = {n for (_, n), k in counts.items() if k > 0}
        for depth, used in zip(self.ctx.span_depths, self.span_vars, strict=True):
            units = {n if depth == self.ctx.leaf else int(self.ctx.tree.domain_of[depth][n]) for n in nodes_used}
            for unit, var in used.items():
                self.model.add_hint(var, unit in units)

    def solve(self, params: SolverParams, time_limit_s: float) -> ModelResult:
        solver = cp_model.CpSolver()
        solver.parameters.max_time_in_seconds = max(0.001, time_limit_s)
        large = len(self.x) >= params.large_model_vars
        solver.parameters.num_workers = params.large_model_workers if large else params.num_workers
        solver.parameters.random_seed = params.seed
        started = time.perf_counter()
        status = solver.solve(self.model)
        wall = time.perf_counter() - started
        if status in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            counts = {key: int(solver.value(var)) for key, var in self.x.items() if solver.value(var) > 0}
            return ModelResult(
                SolverStatus.OPTIMAL if status == cp_model.OPTIMAL else SolverStatus.FEASIBLE,
                counts,
                round(solver.objective_value),
                round(solver.best_objective_bound),
                len(self.x),
                wall,
            )
        if status == cp_model.INFEASIBLE:
            return ModelResult(SolverStatus.INFEASIBLE, None, None, None, len(self.x), wall)
        return ModelResult(SolverStatus.TIMEOUT, None, None, None, len(self.x), wall)

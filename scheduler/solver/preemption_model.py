"""The joint preemption model: where the gang goes and which victim units make room for it, in one CP-SAT model.

Solved in two stages so the weights stay bounded: first (budget violations, highest victim rank), then, with
those fixed at their optimum, (sum of victim ranks, victim pods, domains spanned per preferred level, nodes).
The gang places exactly the pods it needs: preemption never evicts for pods above minCount.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from ortools.sat.python import cp_model

from scheduler.api.podgroup import SolverStatus
from scheduler.solver.budget import Budget
from scheduler.solver.context import GangContext
from scheduler.solver.greedy import Counts
from scheduler.solver.joint_model import add_joint
from scheduler.solver.problem import SolverParams
from scheduler.solver.victims import Candidates, VictimUnit
from scheduler.topology.capacity import IntArray


@dataclass(frozen=True)
class PreemptionResult:
    status: SolverStatus
    counts: Counts | None
    victims: tuple[str, ...]
    bound: int | None  # lower bound on the stage-two objective (valid globally only if stage one is optimal)
    objective: int | None
    wall_s: float


class PreemptionModel:
    def __init__(
        self,
        ctx: GangContext,
        nodes: Sequence[int],
        scope_of: dict[int, int],
        free: IntArray,
        candidates: Candidates,
        *,
        allow_violations: bool,
        blockers: dict[tuple[int, int], set[str]] | None = None,
    ) -> None:
        """`ctx` is built on the cluster with every candidate evicted (its caps are upper bounds); `free` is
        today's free capacity, before any eviction."""
        self.ctx, self.nodes, self.scope_of, self.free = ctx, list(nodes), scope_of, free
        self.candidates = candidates
        self.model = cp_model.CpModel()
        self.x: dict[tuple[int, int], cp_model.IntVar] = {}
        self.v: dict[str, cp_model.IntVar] = {}
        self.stage_one: tuple[int, int] = (0, 0)  # (violations, highest rank) once stage one is solved
        self._placement()
        self._victims()
        self._capacity()
        self._budgets(allow_violations)
        self._topology()
        self._relations(blockers or {})

    def _placement(self) -> None:
        """x[s, n]: pods of shape s on node n; exactly the pods the gang needs."""
        for n in self.nodes:
            for s in range(len(self.ctx.fits)):
                cap = int(self.ctx.cap[s, n])
                if cap > 0:
                    self.x[(s, n)] = self.model.new_int_var(0, cap, f"x{s}_{n}")
        for s in range(len(self.ctx.fits)):
            self.model.add(sum(v for (t, _), v in self.x.items() if t == s) <= int(self.ctx.counts[s]))
        self.model.add(sum(self.x.values()) == self.ctx.need)

    def _victims(self) -> None:
        """v[u]: unit u is evicted (all of its pods, wherever they run)."""
        in_model = {self.ctx.tree.nodes[n].name: n for n in self.nodes}
        self.on_node: dict[int, list[tuple[VictimUnit, dict[str, int]]]] = defaultdict(list)
        for unit in self.candidates.units:
            freed: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
            for pod in unit.pods:
                if pod.node in in_model:
                    for resource, amount in pod.requests.items():
                        freed[in_model[pod.node]][resource] += amount
            if freed:
                self.v[unit.key] = self.model.new_bool_var(f"v_{unit.key}")
                for n, amounts in freed.items():
                    self.on_node[n].append((unit, dict(amounts)))
        ranks = self.candidates.rank
        self.highest = self.model.new_int_var(0, max(ranks.values(), default=0), "highest")
        for key, var in self.v.items():
            self.model.add(self.highest >= ranks[key] * var)

    def _capacity(self) -> None:
        """On each node, the gang's requests fit in today's free capacity plus what evicted units free."""
        column = self.ctx.capacity.column
        for n in self.nodes:
            sigs = [s for s in range(len(self.ctx.fits)) if (s, n) in self.x]
            if not sigs:
                continue
            for resource, c in column.items():
                if not any(self.ctx.requests[s, c] for s in sigs):
                    continue
                demand = sum(int(self.ctx.requests[s, c]) * self.x[(s, n)] for s in sigs)
                freed = sum(amounts.get(resource, 0) * self.v[u.key] for u, amounts in self.on_node[n])
                self.model.add(demand <= int(self.free[n, c]) + freed)

    def _budgets(self, allow_violations: bool) -> None:
        """Violations per PodDisruptionBudget: evicted pods it covers beyond what it allows."""
        self.violations: list[cp_model.IntVar] = []
        for budget in self.candidates.budgets:
            terms = [
                len({p.key for p in u.pods} & budget.pods) * self.v[u.key]
                for u in self.candidates.units
                if u.key in self.v and any(p.key in budget.pods for p in u.pods)
            ]
            if not terms:
                continue
            if not allow_violations:
                self.model.add(sum(terms) <= budget.allowed)
                continue
            violation = self.model.new_int_var(0, len(budget.pods), f"pdb_{budget.key}")
            self.model.add(violation >= sum(terms) - budget.allowed)
            self.violations.append(violation)

    def _topology(self) -> None:
        """Required scope, a flag per domain at each preferred level, and a flag per node used."""
        scopes = sorted({self.scope_of[n] for n in self.nodes})
        if len(scopes) > 1:
            chosen = {k: self.model.new_bool_var(f"scope{k}") for k in scopes}
            self.model.add_exactly_one(chosen.values())
            for (_, n), var in self.x.items():
                self.model.add(var <= int(self.ctx.total) * chosen[self.scope_of[n]])
        self.spans: list[list[cp_model.IntVar]] = []
        for depth in self.ctx.span_depths:
            members: dict[int, list[cp_model.IntVar]] = defaultdict(list)
            for (_, n), var in self.x.items():
                members[n if depth == self.ctx.leaf else int(self.ctx.tree.domain_of[depth][n])].append(var)
            flags = []
            for unit, variables in members.items():
                flag = self.model.new_bool_var(f"span{depth}_{unit}")
                self.model.add(sum(variables) <= self.ctx.need * flag)
                flags.append(flag)
            self.spans.append(flags)

    def _relations(self, blockers: dict[tuple[int, int], set[str]]) -> None:
        """A pod lands where a candidate repels it, it repels one, or one holds its ports only if that
        candidate goes; and the constraints among the gang's own pods hold as in placement."""
        for key, var in self.x.items():
            for unit in blockers.get(key, ()):
                if unit not in self.candidates.rank or unit not in self.candidates.by_key:
                    self.model.add(var == 0)  # blocked by a pod that is not (or no longer) offered
                    continue
                flag = self.v.get(unit)
                if flag is None:
                    flag = self.v[unit] = self.model.new_bool_var(f"v_{unit}")
                    self.model.add(self.highest >= self.candidates.rank[unit] * flag)
                self.model.add(var <= int(self.ctx.cap[key]) * flag)
        if self.ctx.joint.active:
            add_joint(self.model, self.ctx.tree, self.ctx.joint, self.x, self.ctx.need)

    def _stage_two_weights(self) -> tuple[int, int, list[int]]:
        """Weights of (sum of ranks, victim pods, spans per level widest first) in the stage-two objective."""
        need = self.ctx.need
        span_weights = [(need + 1) ** i for i in reversed(range(len(self.spans)))]
        count_weight = (need + 1) ** len(self.spans)
        # Over every candidate, not just this model's: batches of one decision share the same weights.
        sum_weight = count_weight * (sum(len(u.pods) for u in self.candidates.units) + 1)
        return sum_weight, count_weight, span_weights

    def stage_two_value(self, victims: list[VictimUnit], spans: tuple[int, ...]) -> int:
        """The stage-two objective of any plan (victims, spans per span level), to compare with the bound."""
        sum_weight, count_weight, span_weights = self._stage_two_weights()
        rank_sum = sum(self.candidates.rank[u.key] * len(u.pods) for u in victims)
        pods = sum(len(u.pods) for u in victims)
        return (
            sum_weight * rank_sum + count_weight * pods + sum(w * n for w, n in zip(span_weights, spans, strict=True))
        )

    def hint(self, counts: Counts, victims: set[str]) -> None:
        self.model.clear_hints()  # type: ignore[no-untyped-call]
        for key, var in self.x.items():
            self.model.add_hint(var, counts.get(key, 0))
        for unit_key, flag in self.v.items():
            self.model.add_hint(flag, unit_key in victims)

    def _solver(self, params: SolverParams, seconds: float, budget: Budget) -> cp_model.CpSolver:
        solver = cp_model.CpSolver()
        budget.limit(solver, seconds, params.large_model_workers)
        solver.parameters.random_seed = params.seed
        solver.parameters.linearization_level = 2
        if solver.parameters.num_workers > 1:
            solver.parameters.subsolvers.extend(["max_lp", "core"])
        return solver

    def solve(
        self,
        params: SolverParams,
        seconds: float,
        stage_one: tuple[int, int] | None = None,
        budget: Budget | None = None,
    ) -> PreemptionResult:
        """Both stages; with `stage_one` (violations, highest rank) already proven by the caller, only the second.
        `budget`: the decision's, charged with these solves (None: one of their own)."""
        started = time.perf_counter()
        share = budget.within(seconds) if budget is not None else Budget.of(params, seconds)
        ranks = self.candidates.rank
        first_optimal = True
        if stage_one is None:
            # Stage one: budget violations, then the highest victim rank.
            top = max(ranks.values(), default=0) + 1
            self.model.minimize(top * sum(self.violations) + self.highest)
            solver = self._solver(params, seconds, share)
            status = solver.solve(self.model)
            share.charge(solver)
            if status == cp_model.INFEASIBLE:
                return PreemptionResult(SolverStatus.INFEASIBLE, None, (), None, None, time.perf_counter() - started)
            if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
                return PreemptionResult(SolverStatus.TIMEOUT, None, (), None, None, time.perf_counter() - started)
            first_optimal = status == cp_model.OPTIMAL
            stage_one = (int(sum(solver.value(v) for v in self.violations)), int(solver.value(self.highest)))
            self.model.clear_hints()  # type: ignore[no-untyped-call]
            for var in [*self.x.values(), *self.v.values()]:
                self.model.add_hint(var, int(solver.value(var)))
        self.stage_one = stage_one
        self.model.add(sum(self.violations) <= stage_one[0])
        self.model.add(self.highest <= stage_one[1])
        # Stage two: sum of ranks per victim pod, victim pods, then topology (spans, nodes).
        sum_weight, count_weight, span_weights = self._stage_two_weights()
        pods_of = {u.key: len(u.pods) for u in self.candidates.units}
        victim_pods = sum(pods_of[k] * var for k, var in self.v.items())
        rank_sum = sum(ranks[k] * pods_of[k] * var for k, var in self.v.items())
        topology = sum(w * sum(flags) for w, flags in zip(span_weights, self.spans, strict=True))
        self.model.minimize(sum_weight * rank_sum + count_weight * victim_pods + topology)
        solver = self._solver(params, share.left(), share)
        status = solver.solve(self.model)
        share.charge(solver)
        wall = time.perf_counter() - started
        if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
            return PreemptionResult(SolverStatus.TIMEOUT, None, (), None, None, wall)
        counts = {key: int(solver.value(var)) for key, var in self.x.items() if solver.value(var) > 0}
        victims = tuple(sorted(k for k, var in self.v.items() if solver.value(var)))
        proven = first_optimal and status == cp_model.OPTIMAL
        return PreemptionResult(
            SolverStatus.OPTIMAL if proven else SolverStatus.FEASIBLE,
            counts,
            victims,
            round(solver.best_objective_bound) if first_optimal else None,
            round(solver.objective_value),
            wall,
        )

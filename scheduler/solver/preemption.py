"""Workload-aware preemption for one gang: the cheapest victim set and the placement it makes room for.

1. Candidates: units of strictly lower priority (solver/victims.py).
2. Feasibility: place the gang on the cluster with every candidate evicted. If it does not fit even then,
   nothing is touched and the explanation says so.
3. Baseline: upstream's remove-all-then-reprieve on that placement (solver/reprieve.py).
4. CP-SAT: placement and victims chosen jointly (solver/preemption_model.py), hinted with the baseline.
5. The cheaper plan wins — (budget violations, highest victim priority, sum of victim priorities, victim pods,
   then topology) — after a last reprieve pass that drops any victim the placement does not need.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from scheduler.api.podgroup import SolverStatus
from scheduler.solver.context import GangContext, score_counts
from scheduler.solver.filters import FilterCache, fit_gang
from scheduler.solver.greedy import Counts
from scheduler.solver.placement import place_gang, placement_path
from scheduler.solver.plan import Plan
from scheduler.solver.preemption_model import PreemptionModel
from scheduler.solver.problem import Gang, SolverParams
from scheduler.solver.reprieve import reprieve
from scheduler.solver.victims import Candidates, VictimUnit
from scheduler.topology.capacity import Capacity

Key = tuple[int, ...]


def preempt_gang(
    capacity: Capacity,
    gang: Gang,
    candidates: Candidates,
    params: SolverParams | None = None,
    cache: FilterCache | None = None,
    *,
    allow_violations: bool = True,
    greedy_only: bool = False,
) -> Plan:
    params = params or SolverParams()
    started = time.perf_counter()
    tree = capacity.tree
    cache = cache if cache is not None and cache.tree is tree else FilterCache(tree)

    def finish(status: SolverStatus, **fields: object) -> Plan:
        return Plan(gang=gang.name, status=status, duration_s=time.perf_counter() - started, **fields)  # type: ignore[arg-type]

    # 1-2. Would the gang fit with every candidate gone?
    everything = [(p.node, p.requests) for u in candidates.units for p in u.pods]
    emptied = capacity.without(everything)
    base = place_gang(emptied, gang, params, cache)
    pods = sum(len(u.pods) for u in candidates.units)
    if not base.placed:
        why = (
            f"even with all {pods} lower-priority pods evicted, {base.explanation}"
            if pods
            else f"no running pod has a lower priority; {base.explanation}"
        )
        return finish(SolverStatus.INFEASIBLE, explanation=f"preemption cannot help: {why}")
    ctx = GangContext(tree, emptied, gang, fit_gang(emptied, cache, gang))
    need = ctx.need
    # 3. Baseline on the base placement, trimmed to the pods the gang needs.
    assignments = _trim(ctx, base.assignments, need)
    options: list[tuple[Key, dict[str, str], list[VictimUnit], str]] = []
    victims = reprieve(capacity, gang, candidates, assignments)
    if victims is not None and (allow_violations or candidates.cost(u.key for u in victims)[0] == 0):
        options.append((_key(ctx, candidates, assignments, victims), assignments, victims, "reprieve"))
    # 4. The joint model.
    status = SolverStatus.FEASIBLE
    if params.use_cp_sat and not greedy_only:
        nodes, scope_of, complete = _model_nodes(ctx, assignments, params.max_model_nodes)
        model = PreemptionModel(ctx, nodes, scope_of, capacity.free, candidates, allow_violations=allow_violations)
        if options:
            model.hint(_counts(ctx, options[0][1]), {u.key for u in options[0][2]})
        result = model.solve(params, params.time_limit_s - (time.perf_counter() - started))
        if result.counts is not None:
            found = _assign(ctx, result.counts)
            chosen = [candidates.by_key[k] for k in result.victims]
            kept = reprieve(capacity, gang, candidates, found, start=chosen)
            if kept is not None:
                options.append((_key(ctx, candidates, found, kept), found, kept, "cp-sat"))
                if result.status is SolverStatus.OPTIMAL and complete:
                    status = SolverStatus.OPTIMAL
        elif result.status is SolverStatus.INFEASIBLE and complete and not options:
            return finish(
                SolverStatus.INFEASIBLE,
                explanation="preemption cannot help without violating a PodDisruptionBudget",
            )
    if not options:
        reason = "no victim set leaves room" + ("" if allow_violations else " without violating a PodDisruptionBudget")
        return finish(SolverStatus.INFEASIBLE, explanation=f"preemption: {reason}")
    # 5. The cheapest plan.
    key, assignments, victims, method = min(options, key=lambda o: o[0])
    if method == "reprieve" and status is SolverStatus.OPTIMAL and key > options[-1][0]:
        status = SolverStatus.FEASIBLE
    after = capacity.without((p.node, p.requests) for u in victims for p in u.pods)
    after_ctx = GangContext(tree, after, gang, fit_gang(after, cache, gang))
    counts = _counts(after_ctx, assignments)
    score = score_counts(after_ctx, counts)
    victim_pods = tuple(sorted(p.key for u in victims for p in u.pods))
    cost = candidates.cost(u.key for u in victims)
    return finish(
        status,
        assignments=assignments,
        score=score,
        objective=after_ctx.scalar(score),
        method=method,
        placement=placement_path(after_ctx, counts),
        victims=tuple(u.key for u in victims),
        victim_pods=victim_pods,
        victim_cost=cost,
        explanation=_explain(len(assignments), victims, cost),
    )


def _key(ctx: GangContext, candidates: Candidates, assignments: Mapping[str, str], victims: list[VictimUnit]) -> Key:
    score = score_counts(ctx, _counts(ctx, assignments))
    return (*candidates.cost(u.key for u in victims), *score[1:-1])


def _counts(ctx: GangContext, assignments: Mapping[str, str]) -> Counts:
    signature_of = {pod: s for s, fit in enumerate(ctx.fits) for pod in fit.pods}
    counts: Counts = {}
    for pod, node in assignments.items():
        key = (signature_of[pod], ctx.tree.index[node])
        counts[key] = counts.get(key, 0) + 1
    return counts


def _assign(ctx: GangContext, counts: Counts) -> dict[str, str]:
    assignments: dict[str, str] = {}
    for s, fit in enumerate(ctx.fits):
        pods = iter(fit.pods)
        for (sig, n), k in sorted(counts.items()):
            if sig == s:
                for _ in range(k):
                    assignments[next(pods)] = ctx.tree.nodes[n].name
    return assignments


def _trim(ctx: GangContext, assignments: Mapping[str, str], need: int) -> dict[str, str]:
    """Keep `need` pods, dropping from the nodes placed last: preemption makes room for minCount only."""
    ordered = sorted(assignments.items(), key=lambda kv: (ctx.tree.index[kv[1]], kv[0]))
    return dict(ordered[:need])


def _model_nodes(
    ctx: GangContext, assignments: Mapping[str, str], budget: int
) -> tuple[list[int], dict[int, int], bool]:
    """Nodes for the model: every feasible scope if they fit the budget, else the baseline's scope first, then
    the roomiest scopes. Returns whether the model sees every candidate node (so its optimum is global)."""
    scopes, ubs = ctx.scopes()
    feasible = [i for i in range(len(scopes)) if ubs[i] >= ctx.need]
    home = {ctx.tree.index[n] for n in assignments.values()}
    feasible.sort(key=lambda i: (not any(scopes[i][0] <= n < scopes[i][1] for n in home), -int(ubs[i]), i))
    nodes: list[int] = []
    scope_of: dict[int, int] = {}
    for i in feasible:
        a, b = scopes[i]
        usable = [n for n in range(a, b) if ctx.node_ub[n] > 0]
        if nodes and len(nodes) + len(usable) > budget:
            return nodes, scope_of, False
        nodes.extend(usable)
        scope_of.update({n: i for n in usable})
    return nodes, scope_of, True


def _explain(placed: int, victims: list[VictimUnit], cost: tuple[int, ...]) -> str:
    groups = [u.key for u in victims if u.whole_group]
    pods = sum(len(u.pods) for u in victims)
    parts = [f"preempting {pods} pod(s) in {len(victims)} unit(s)"]
    if groups:
        parts.append(f"whole PodGroup(s) {', '.join(groups)}")
    if cost[0]:
        parts.append(f"{cost[0]} PodDisruptionBudget violation(s)")
    return "; ".join(parts) + f" frees room for {placed} pod(s)"

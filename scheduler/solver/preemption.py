"""Workload-aware preemption for one gang: the cheapest victim set and the placement it makes room for.

1. Candidates: units of strictly lower priority (solver/victims.py).
2. Feasibility: place the gang on the cluster with every candidate evicted. If it does not fit even then,
   nothing is touched and the explanation says so.
3. Without PodDisruptionBudgets in play, binary search over priority ranks finds the lowest highest victim
   priority exactly; that proves the model's first stage and drops every pricier candidate.
4. Baseline: upstream's remove-all-then-reprieve, in each candidate domain (solver/reprieve.py).
5. CP-SAT: placement and victims chosen jointly (solver/preemption_model.py), hinted with the baseline.
6. The cheaper plan wins — (budget violations, highest victim priority, sum of victim priorities, victim pods,
   then topology) — after a last reprieve pass that drops any victim the placement does not need.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Mapping

from scheduler.api.podgroup import SolverStatus
from scheduler.solver.budget import Budget
from scheduler.solver.context import GangContext, assign_pods, score_counts
from scheduler.solver.filters import FilterCache
from scheduler.solver.greedy import Counts, greedy_counts
from scheduler.solver.interpod import blockers
from scheduler.solver.neighbours import Neighbours
from scheduler.solver.placement import gang_context, place_gang, placement_path
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
    neighbours: Neighbours | None = None,
) -> Plan:
    """`neighbours`: the placed pods, for the gang's inter-pod rules. Candidates its spread rules count or its
    affinity selects are not offered (evicting them could break the rule they satisfy); candidates that repel
    it, that it repels or that hold its host ports are evicted wherever the plan needs their nodes."""
    params = params or SolverParams()
    started = time.perf_counter()
    budget = Budget.of(params)
    tree = capacity.tree
    cache = cache if cache is not None and cache.tree is tree else FilterCache(tree)
    related = neighbours is not None and any(s.signature.relations is not None for s in gang.pod_sets)
    if related:
        assert neighbours is not None
        candidates = _offerable(candidates, gang, neighbours)
    around = neighbours.without(p.key for u in candidates.units for p in u.pods) if neighbours is not None else None

    def finish(status: SolverStatus, **fields: object) -> Plan:
        return Plan(gang=gang.name, status=status, duration_s=time.perf_counter() - started, **fields)  # type: ignore[arg-type]

    # 1-2. Would the gang fit with every candidate gone? (Greedy first; the model only to confirm a "no".)
    everything = [(p.node, p.requests) for u in candidates.units for p in u.pods]
    emptied = capacity.without(everything)
    base = place_gang(emptied, gang, params, cache, greedy_only=True, neighbours=around)
    if not base.placed:
        base = place_gang(emptied, gang, params, cache, neighbours=around)
    pods = sum(len(u.pods) for u in candidates.units)
    if not base.placed:
        # The placement explanation said what filtered the nodes; only its topology verdict is new here.
        verdict = base.explanation.rsplit("; ", 1)[-1]
        why = (
            f"even with all {pods} lower-priority pods evicted, {verdict}"
            if pods
            else "no running pod has a lower priority"
        )
        return finish(SolverStatus.INFEASIBLE, explanation=f"preemption cannot help: {why}")
    ctx = gang_context(emptied, gang, cache, around)
    required = _blocking(ctx, neighbours, candidates) if related and neighbours is not None else {}
    # 3. Without budgets, the lowest highest victim priority is found by search: the smallest rank whose
    #    candidates, all evicted, make room. That proves the model's first stage and shrinks it. (Not for the
    #    baseline run: upstream has no such step.)
    stage_one: tuple[int, int] | None = None
    if not candidates.budgets and not greedy_only:
        highest, emptied_k = _lowest_sufficient_rank(capacity, gang, candidates, params, cache, neighbours)
        if highest is not None and emptied_k is not None:
            stage_one = (0, highest)
            units = tuple(u for u in candidates.units if candidates.rank[u.key] <= highest)
            candidates = Candidates(units, candidates.budgets, candidates.rank)
            gone = _view(neighbours, candidates)
            narrowed = place_gang(emptied_k, gang, params, cache, greedy_only=True, neighbours=gone)
            if not narrowed.placed:  # the search proved it fits: the model finds where greedy did not
                narrowed = place_gang(emptied_k, gang, params, cache, neighbours=gone)
            if narrowed.placed:
                base = narrowed
            ctx = gang_context(emptied_k, gang, cache, gone)
    # 4. Baseline: remove-all-then-reprieve in each candidate domain (as kube-scheduler tries each node).
    options: list[tuple[Key, dict[str, str], list[VictimUnit], str]] = []
    for assignments in _baseline_placements(ctx, candidates, base.assignments):
        needed = _needed(ctx, required, assignments)
        if not needed <= candidates.by_key.keys():
            continue  # a pod that blocks this placement is no longer offered (above the proven rank)
        victims = reprieve(capacity, gang, candidates, assignments, keep=needed)
        if victims is not None and (allow_violations or candidates.cost(u.key for u in victims)[0] == 0):
            options.append((_key(ctx, candidates, assignments, victims), assignments, victims, "reprieve"))
    options.sort(key=lambda o: o[0])
    options = options[:1]
    # 5. The joint model, batch by batch of candidate domains (each batch proves a bound for its domains).
    bounds: list[tuple[tuple[int, int], int]] = []  # per batch: (stage one, stage-two bound)
    proven = complete = False
    last: PreemptionModel | None = None
    if params.use_cp_sat and not greedy_only:
        home = options[0][1] if options else _trim(ctx, base.assignments, ctx.need)
        batches = _batches(ctx, candidates, home, params.max_model_nodes)
        complete = proven = True
        for index, (nodes, scope_of) in enumerate(batches):
            left = budget.left()
            if left <= 0:
                complete = False
                break
            model = last = PreemptionModel(
                ctx, nodes, scope_of, capacity.free, candidates, allow_violations=allow_violations, blockers=required
            )
            if options and index == 0:
                model.hint(_counts(ctx, options[0][1]), {u.key for u in options[0][2]})
            result = model.solve(params, left / (len(batches) - index), stage_one, budget)
            if result.status is SolverStatus.INFEASIBLE:
                continue  # no room in these domains: they bound nothing
            proven &= result.status is SolverStatus.OPTIMAL
            if result.bound is None:
                complete = False
            else:
                bounds.append((model.stage_one, result.bound))
            if result.counts is not None:
                found = assign_pods(ctx, result.counts)
                start = [candidates.by_key[k] for k in result.victims]
                needed = _needed(ctx, required, found)
                kept = reprieve(capacity, gang, candidates, found, start=start, keep=needed)
                if kept is not None:
                    options.append((_key(ctx, candidates, found, kept), found, kept, "cp-sat"))
        if complete and not bounds and not options:
            return finish(
                SolverStatus.INFEASIBLE,
                explanation="preemption cannot help without violating a PodDisruptionBudget",
            )
    if not options:
        reason = "no victim set leaves room" + ("" if allow_violations else " without violating a PodDisruptionBudget")
        return finish(SolverStatus.INFEASIBLE, explanation=f"preemption: {reason}")
    # 6. The cheapest plan; optimal when every batch was solved to optimality and it meets the best bound.
    key, assignments, victims, method = min(options, key=lambda o: o[0])
    cost = candidates.cost(u.key for u in victims)
    objective = bound = None
    status = SolverStatus.FEASIBLE
    if last is not None and complete and bounds:
        floor_stage, floor_value = min(bounds)
        objective = last.stage_two_value(victims, key[4:])
        if (cost[0], cost[1]) == floor_stage:
            bound = min(floor_value, objective)
            if proven and objective <= floor_value:
                status = SolverStatus.OPTIMAL
    after = capacity.without((p.node, p.requests) for u in victims for p in u.pods)
    after_ctx = gang_context(after, gang, cache, _view(neighbours, Candidates(tuple(victims), (), {})))
    counts = _counts(after_ctx, assignments)
    score = score_counts(after_ctx, counts)
    victim_pods = tuple(sorted(p.key for u in victims for p in u.pods))
    return finish(
        status,
        assignments=assignments,
        score=score,
        objective=objective,
        bound=bound,
        method=method,
        placement=placement_path(after_ctx, counts),
        victims=tuple(u.key for u in victims),
        victim_pods=victim_pods,
        victim_cost=cost,
        explanation=_explain(len(assignments), victims, cost),
    )


def _lowest_sufficient_rank(
    capacity: Capacity,
    gang: Gang,
    candidates: Candidates,
    params: SolverParams,
    cache: FilterCache,
    neighbours: Neighbours | None,
) -> tuple[int | None, Capacity | None]:
    """Binary search over priority ranks: the smallest k such that evicting every candidate of rank <= k lets
    the gang fit (greedy proves "fits"; only a "no" runs the placement model). Feasibility grows with k."""
    ranks = [0, *sorted(set(candidates.rank.values()))]  # 0: no eviction at all
    low, high = 0, len(ranks) - 1
    found: tuple[int | None, Capacity | None] = (None, None)
    while low <= high:
        middle = (low + high) // 2
        k = ranks[middle]
        below = [u for u in candidates.units if candidates.rank[u.key] <= k]
        emptied = capacity.without((p.node, p.requests) for u in below for p in u.pods)
        gone = _view(neighbours, Candidates(tuple(below), (), {}))
        fits = place_gang(emptied, gang, params, cache, greedy_only=True, neighbours=gone).placed
        if not fits:
            fits = place_gang(emptied, gang, params, cache, neighbours=gone).placed
        if fits:
            found, high = (k, emptied), middle - 1
        else:
            low = middle + 1
    return found


def _view(neighbours: Neighbours | None, candidates: Candidates) -> Neighbours | None:
    """The placed pods once the given candidates are gone."""
    return neighbours.without(p.key for u in candidates.units for p in u.pods) if neighbours is not None else None


def _offerable(candidates: Candidates, gang: Gang, neighbours: Neighbours) -> Candidates:
    """Candidates minus the units whose pods the gang's spread rules count or its required affinity selects."""
    spared: set[str] = set()
    for pod_set in gang.pod_sets:
        rel = pod_set.signature.relations
        if rel is None:
            continue
        for rule in rel.spread:
            spared |= {p.key for p in neighbours.counted(rule.selector, rel.namespace)}
        for term in rel.affinity:
            spared |= {p.key for p in neighbours.selected(term)}
    if not spared:
        return candidates
    units = tuple(u for u in candidates.units if not any(p.key in spared for p in u.pods))
    return Candidates(units, candidates.budgets, candidates.rank)


def _blocking(ctx: GangContext, neighbours: Neighbours, candidates: Candidates) -> dict[tuple[int, int], set[str]]:
    """Per (signature, node index), the candidate units that must be evicted for the gang's pod to go there."""
    pods_of = {p.key: u.key for u in candidates.units for p in u.pods}
    found: dict[tuple[int, int], set[str]] = {}
    for s, fit in enumerate(ctx.fits):
        if fit.signature.relations is not None:
            for n, units in blockers(ctx.tree, neighbours, fit.signature.relations, pods_of).items():
                found[(s, n)] = units
    return found


def _needed(ctx: GangContext, required: dict[tuple[int, int], set[str]], assignments: Mapping[str, str]) -> set[str]:
    """The units the placement's nodes need gone, whatever capacity they free."""
    if not required:
        return set()
    return {u for key in _counts(ctx, assignments) for u in required.get(key, ())}


def _cheapest_scopes(ctx: GangContext, candidates: Candidates) -> list[tuple[int, int]]:
    """Domains of the narrowest Required level that could hold the gang once emptied, cheapest victims first
    (by the sum of the candidates' ranks on their nodes); the whole cluster when nothing is required."""
    scopes, ubs = ctx.scopes()
    weight: dict[int, int] = defaultdict(int)
    for unit in candidates.units:
        for pod in unit.pods:
            i = ctx.tree.index.get(pod.node)
            if i is not None:
                weight[i] += candidates.rank[unit.key]
    feasible = [i for i in range(len(scopes)) if ubs[i] >= ctx.need]
    feasible.sort(key=lambda i: (sum(weight[n] for n in range(*scopes[i])), i))
    return [scopes[i] for i in feasible]


def _baseline_placements(
    ctx: GangContext, candidates: Candidates, base: Mapping[str, str], limit: int = 16
) -> list[dict[str, str]]:
    """Greedy placements, trimmed to the pods the gang needs: the base one, and one in each of the `limit`
    cheapest candidate domains when the gang has a Required level."""
    placements = [_trim(ctx, base, ctx.need)]
    if ctx.scope_depth is None:
        return placements
    for start, end in _cheapest_scopes(ctx, candidates)[:limit]:
        counts = greedy_counts(ctx, start, end, ctx.free)
        if counts is not None:
            placements.append(_trim(ctx, assign_pods(ctx, counts), ctx.need))
    return placements


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


def _trim(ctx: GangContext, assignments: Mapping[str, str], need: int) -> dict[str, str]:
    """Keep `need` pods, dropping from the nodes placed last: preemption makes room for minCount only. Not
    with constraints among the gang's pods: a dropped pod may be what keeps a spread even or an affinity met."""
    if ctx.joint.active:
        return dict(assignments)
    ordered = sorted(assignments.items(), key=lambda kv: (ctx.tree.index[kv[1]], kv[0]))
    return dict(ordered[:need])


def _batches(
    ctx: GangContext, candidates: Candidates, assignments: Mapping[str, str], budget: int
) -> list[tuple[list[int], dict[int, int]]]:
    """Every feasible domain, packed into model batches of at most `budget` nodes (a larger domain is a batch
    of its own): the best baseline's domain first, then the cheapest victims first."""
    home = {ctx.tree.index[n] for n in assignments.values()}
    scopes = _cheapest_scopes(ctx, candidates)
    scopes.sort(key=lambda r: not any(r[0] <= n < r[1] for n in home))
    batches: list[tuple[list[int], dict[int, int]]] = []
    nodes: list[int] = []
    scope_of: dict[int, int] = {}
    for index, (a, b) in enumerate(scopes):
        usable = [n for n in range(a, b) if ctx.node_ub[n] > 0]
        if nodes and len(nodes) + len(usable) > budget:
            batches.append((nodes, scope_of))
            nodes, scope_of = [], {}
        nodes.extend(usable)
        scope_of.update({n: index for n in usable})
    if nodes:
        batches.append((nodes, scope_of))
    return batches


def _explain(placed: int, victims: list[VictimUnit], cost: tuple[int, ...]) -> str:
    groups = [u.key for u in victims if u.whole_group]
    pods = sum(len(u.pods) for u in victims)
    parts = [f"preempting {pods} pod(s) in {len(victims)} unit(s)"]
    if groups:
        parts.append(f"whole PodGroup(s) {', '.join(groups)}")
    if cost[0]:
        parts.append(f"{cost[0]} PodDisruptionBudget violation(s)")
    return "; ".join(parts) + f" frees room for {placed} pod(s)"

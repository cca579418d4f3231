"""Gang placement: filter → scopes → regions → greedy → bound → CP-SAT → plan.

0. A single pod without topology rules takes the fast path (single.py): filter and score, no model.
1. Filter nodes per signature (static part cached per tree generation, capacity vectorised).
2. Scopes: domains satisfying every Required rule; drop those that cannot hold minCount pods.
3. Regions: inside each scope, the narrowest units that can hold the gang alone, each with a lower bound.
4. Greedy best-fit over regions in bound order (branch and bound: stop once no region can do better).
5. If the greedy score equals the global lower bound it is optimal: no model is built.
6. Otherwise CP-SAT over the best regions (up to `max_model_nodes` nodes), hinted with the greedy plan.
7. The better of the two becomes the plan, with its status, objective, bound and explanation.
"""

from __future__ import annotations

import time

import numpy as np

from scheduler.api.podgroup import SolverStatus
from scheduler.solver.budget import Budget
from scheduler.solver.context import GangContext, Region, assign_pods, score_counts
from scheduler.solver.cpsat import PlacementModel, prune_dominated
from scheduler.solver.explain import infeasible_explanation, together_explanation, unknown_keys_explanation
from scheduler.solver.filters import FilterCache, fit_gang
from scheduler.solver.greedy import Counts, fewest_nodes_counts, greedy_counts
from scheduler.solver.joint import compile_joint
from scheduler.solver.neighbours import Neighbours
from scheduler.solver.plan import Plan, Score
from scheduler.solver.problem import Gang, SolverParams
from scheduler.solver.single import is_single, place_single, single_path
from scheduler.topology.capacity import Capacity
from scheduler.topology.tree import HOSTNAME

REGION_LIMIT = 8  # regions with an exact bound per scope
# Scopes with an exact bound: past it the rest share a weak one, which proves nothing (a 65,536-node cluster
# has 128 blocks; their bounds cost about 0.2 ms each).
SCOPE_LIMIT = 512


def place_gang(
    capacity: Capacity,
    gang: Gang,
    params: SolverParams | None = None,
    cache: FilterCache | None = None,
    *,
    greedy_only: bool = False,
    neighbours: Neighbours | None = None,
    single: bool = True,
) -> Plan:
    """Decide where every pod of `gang` goes on the snapshot `capacity`, all or nothing; `neighbours` are the
    pods already placed, for inter-pod affinity, spread and host ports (None: pods that relate to nothing).
    `single` off sends a single pod down the full path too (to compare the two)."""
    params = params or SolverParams()
    started = time.perf_counter()
    budget = Budget.of(params)
    tree = capacity.tree
    cache = cache if cache is not None and cache.tree is tree else FilterCache(tree)

    def finish(status: SolverStatus, **fields: object) -> Plan:
        return Plan(gang=gang.name, status=status, duration_s=time.perf_counter() - started, **fields)  # type: ignore[arg-type]

    if single and is_single(gang):
        # 0. One pod: filter and score (solver/single.py); the full path below only explains a pod that fits nowhere.
        choice = place_single(capacity, gang, cache, neighbours)
        if choice is not None:
            assignments = {gang.pod_sets[0].pods[0]: tree.nodes[choice.node].name}
            placement = single_path(tree, choice.node)
            return finish(
                choice.status,
                assignments=assignments,
                score=choice.score,
                objective=choice.objective,
                bound=choice.bound,
                method="single",
                placement=placement,
                explanation=f"placed 1/1 pods on 1 node(s) in hostname {placement[-1][1]}",
            )
    ctx = gang_context(capacity, gang, cache, neighbours)

    required_unknown = [r.key for r in gang.topology if r.required and r.key in ctx.unknown_keys]
    if required_unknown:
        return finish(SolverStatus.INFEASIBLE, explanation=unknown_keys_explanation(ctx, required_unknown))

    # 2. Scopes that could hold minCount pods.
    scopes, scope_ubs = ctx.scopes()
    feasible = [i for i in range(len(scopes)) if scope_ubs[i] >= ctx.need]
    if not feasible:
        return finish(SolverStatus.INFEASIBLE, explanation=infeasible_explanation(ctx, scope_ubs))

    # 3. Regions, best bound first, and a bound on everything outside them. Constraints among the gang's pods
    #    (spread, anti-affinity) can forbid the narrowest units that would hold it by capacity: whole scopes.
    if ctx.joint.active:
        regions, others = [Region(*scopes[i], i, ctx.lower_bound(*scopes[i])) for i in feasible], None
    else:
        regions, others = ctx.regions([scopes[i] for i in feasible], scope_ubs[feasible], REGION_LIMIT, SCOPE_LIMIT)
    free = ctx.free

    # 4. Greedy, branch and bound over regions; whole scopes if no region works (bounds can be loose).
    best: Counts | None = None
    best_score: Score | None = None
    method = "greedy"
    for region in regions:
        if best_score is not None and region.bound >= best_score:
            break
        counts = greedy_counts(ctx, region.start, region.end, free)
        if counts is not None and (best_score is None or score_counts(ctx, counts) < best_score):
            best, best_score = counts, score_counts(ctx, counts)
        if not greedy_only and (best_score is None or region.bound < best_score):
            # Best fit by capacity can miss the fewest nodes; the nodes-used bound's own plan often meets it.
            witness = fewest_nodes_counts(ctx, region.start, region.end, free)
            if witness is not None and (best_score is None or score_counts(ctx, witness) < best_score):
                best, best_score = witness, score_counts(ctx, witness)
    usable = sum(int(np.count_nonzero(ctx.node_ub[a:b])) for a, b in (scopes[i] for i in feasible))
    small = usable <= params.max_model_nodes
    by_fit = sorted(feasible, key=lambda i: int(scope_ubs[i]))
    scope_regions = (
        [Region(*scopes[i], i, ctx.lower_bound(*scopes[i])) for i in by_fit] if best is None or small else []
    )
    if best is None:
        for region in scope_regions:
            counts = greedy_counts(ctx, region.start, region.end, free)
            if counts is not None:
                best, best_score = counts, score_counts(ctx, counts)
                break

    # 5. A greedy plan that meets the global lower bound is optimal.
    floor = min([r.bound for r in regions] + ([others] if others is not None else []))
    lower = ctx.scalar(floor)
    status = SolverStatus.FEASIBLE
    if best_score is not None and best_score <= floor:
        status, method = SolverStatus.OPTIMAL, "bound"
    elif best_score is not None and _within_gap(ctx.scalar(best_score), lower, params.relative_gap):
        pass  # proven good enough: no model (the gap is reported)
    elif params.use_cp_sat and not greedy_only:
        # 6. CP-SAT over the most promising regions; with no plan yet, over whole scopes, batch by batch.
        # Small enough: the model sees every candidate node, so its optimum is the global one.
        pending = scope_regions if best is None or small else regions
        excluded: list[Region] = []
        floors: list[int] = []  # proven bounds on every part of the search space the models saw
        while True:
            chosen, excluded = _shortlist(ctx, pending, best_score, params.max_model_nodes)
            if not chosen:
                break  # nothing left could improve the plan
            candidates = np.concatenate([np.arange(r.start, r.end) for r in chosen])
            scopes_of = np.concatenate([np.full(r.end - r.start, r.scope) for r in chosen])
            usable = ctx.node_ub[candidates] > 0
            candidates, scopes_of = candidates[usable], scopes_of[usable]
            scope_of = dict(zip(candidates.tolist(), scopes_of.tolist(), strict=True))
            nodes = prune_dominated(ctx, candidates, scope_of).tolist()
            model = PlacementModel(ctx, nodes, {n: scope_of[n] for n in nodes}, free)
            if best is not None:
                model.hint(best)
            left = budget.left()
            improve = params.improve_budget(ctx.total)
            result = model.solve(params, min(left, improve) if best is not None else left, budget)
            method = "cp-sat"  # the model either improved the plan or is what proves (or bounds) it
            if result.counts is not None:
                score = score_counts(ctx, result.counts)
                if best_score is None or score < best_score:
                    best, best_score = result.counts, score
            if result.status is not SolverStatus.INFEASIBLE:
                # The model's own bound, or the regions' where those are tighter (a model stopped early proves
                # less than the cheap bounds already do).
                floors.append(max(result.bound or lower, ctx.scalar(min(r.bound for r in chosen))))
            elif best is None and excluded and budget.left() > 0:
                pending = excluded  # nothing fits here: the next batch
                continue
            break
        remaining = [r.bound for r in excluded] + ([others] if others is not None and pending is regions else [])
        floors += [ctx.scalar(b) for b in remaining]
        if best is None and not floors:
            return finish(
                SolverStatus.INFEASIBLE,
                explanation=infeasible_explanation(ctx, scope_ubs[feasible]) + "; " + together_explanation(ctx),
            )
        if best_score is not None:
            lower = min(floors, default=ctx.scalar(best_score))
            if ctx.scalar(best_score) <= lower:
                status = SolverStatus.OPTIMAL
        else:
            status = SolverStatus.TIMEOUT

    if best is None or best_score is None:
        if status is SolverStatus.TIMEOUT:
            return finish(status, explanation="no placement found within the time limit")
        explanation = infeasible_explanation(ctx, scope_ubs[feasible])
        if ctx.joint.active:
            explanation += "; " + together_explanation(ctx)
        return finish(SolverStatus.INFEASIBLE, explanation=explanation)
    objective = ctx.scalar(best_score)
    assignments = assign_pods(ctx, best)
    placement = placement_path(ctx, best)
    return finish(
        status,
        assignments=assignments,
        score=best_score,
        objective=objective,
        bound=min(lower, objective),
        method=method,
        placement=placement,
        explanation=_success(ctx, assignments, placement),
    )


def _within_gap(objective: int, bound: int, gap: float) -> bool:
    return gap > 0 and objective - bound <= gap * max(1, abs(objective))


def gang_context(capacity: Capacity, gang: Gang, cache: FilterCache, neighbours: Neighbours | None) -> GangContext:
    """Filters per signature, then the joint constraints among the gang's pods (which may tighten the caps)."""
    fits = fit_gang(capacity, cache, gang, neighbours)
    joint = None
    if any(f.signature.relations is not None for f in fits):
        joint, fits = compile_joint(capacity.tree, neighbours or Neighbours(), fits)
    return GangContext(capacity.tree, capacity, gang, fits, joint)


def _shortlist(
    ctx: GangContext, regions: list[Region], best: Score | None, budget: int
) -> tuple[list[Region], list[Region]]:
    """Regions for the model, best bound first, within the node budget (at least one), and those left out.

    Regions whose bound is no better than the best plan so far cannot improve it and are dropped.
    """
    candidates = sorted((r for r in regions if best is None or r.bound < best), key=lambda r: (r.bound, r.start))
    chosen: list[Region] = []
    used = 0
    for i, region in enumerate(candidates):
        size = int(np.count_nonzero(ctx.node_ub[region.start : region.end]))
        if chosen and used + size > budget:
            return chosen, candidates[i:]
        chosen.append(region)
        used += size
    return chosen, []


def placement_path(ctx: GangContext, counts: Counts) -> tuple[tuple[str, str], ...]:
    """The narrowest domain holding every placed pod, as (level, value) pairs from the widest level."""
    names = [ctx.tree.nodes[n].name for n in sorted({n for (_, n), k in counts.items() if k > 0})]
    # An unlabelled domain says nothing about where the pods are: it is left out, the levels below it are not.
    path = [(d.key, d.value) for d in ctx.tree.common_path(names) if d.labelled]
    if len(names) == 1:
        path.append((HOSTNAME, names[0]))
    return tuple(path)


def _success(ctx: GangContext, assignments: dict[str, str], placement: tuple[tuple[str, str], ...]) -> str:
    nodes = len(set(assignments.values()))
    where = f" in {placement[-1][0].rsplit('/', 1)[-1]} {placement[-1][1]}" if placement else ""
    return f"placed {len(assignments)}/{ctx.total} pods on {nodes} node(s){where}"

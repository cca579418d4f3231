"""A solver-independent check of every plan: plain loops over pods and nodes, none of the solver's arrays,
filters or constraint code (its node and inter-pod rules are its own: check_nodes.py, check_relations.py).

`validate_plan` lists violations (empty means valid); `evaluate` recomputes the score from the definition in
`plan.py`, so a solver that reports a better objective than its plan achieves is caught too.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence

from scheduler.api.podgroup import SolverStatus
from scheduler.solver.check_nodes import node_problem
from scheduler.solver.check_relations import relation_problems
from scheduler.solver.check_scores import preference_penalties
from scheduler.solver.neighbours import Neighbours
from scheduler.solver.plan import Plan, Score
from scheduler.solver.problem import Gang, Signature
from scheduler.solver.victims import Budget, VictimUnit
from scheduler.topology.capacity import Capacity
from scheduler.topology.nodes import NodeInfo
from scheduler.topology.tree import HOSTNAME

# The packing cost's definition (plan.py): 0 on a full node, this on an empty one, per pod.
PACKING_SCALE = 100


def validate_plan(
    capacity: Capacity,
    gang: Gang,
    plan: Plan,
    *,
    check_score: bool = True,
    neighbours: Neighbours | None = None,
) -> list[str]:
    """Every constraint, always; and, with `check_score`, that the reported score is the real one (O(nodes):
    the property tests check it on every plan, the scheduler's hot path skips it). `neighbours`: the pods
    already placed, for inter-pod rules (None: there are none)."""
    tree = capacity.tree
    signature_of = {pod: s.signature for s in gang.pod_sets for pod in s.pods}
    # Only the nodes the plan uses: a lookup table of the whole cluster per decision would dominate it.
    nodes = {n: tree.nodes[tree.index[n]] for n in set(plan.assignments.values()) if n in tree.index}
    problems: list[str] = []
    if plan.status in (SolverStatus.INFEASIBLE, SolverStatus.TIMEOUT) and plan.assignments:
        problems.append(f"status {plan.status.value} but {len(plan.assignments)} pods assigned")
    if plan.status in (SolverStatus.OPTIMAL, SolverStatus.FEASIBLE) and not plan.assignments:
        problems.append(f"status {plan.status.value} but no pod assigned")
    if not plan.assignments:
        return problems
    need = 1 if gang.basic else gang.min_count
    if len(plan.assignments) < need:
        problems.append(f"only {len(plan.assignments)} pods placed, minCount is {need}")
    load: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for pod, node_name in plan.assignments.items():
        if pod not in signature_of:
            problems.append(f"pod {pod} is not in the gang")
            continue
        node = nodes.get(node_name)
        if node is None:
            problems.append(f"pod {pod} placed on unknown node {node_name}")
            continue
        if (reason := node_problem(node, signature_of[pod])) is not None:
            problems.append(f"pod {pod} on {node_name}: {reason}")
        for resource, amount in signature_of[pod].requests:
            load[node_name][resource] += amount
    for node_name, used in load.items():
        free = _free(capacity, nodes[node_name])
        for resource, amount in used.items():
            if amount > free.get(resource, 0):
                problems.append(f"node {node_name}: {resource} {amount} requested, {free.get(resource, 0)} free")
    # A domain is identified by its path (rack r0 of block b1 is not rack r0 of block b0), as in Kueue.
    levels = list(tree.levels)
    for rule in gang.topology:
        if not rule.required:
            continue
        placed_nodes = [nodes[n] for n in plan.assignments.values() if n in nodes]
        if rule.key == HOSTNAME:
            paths: set[tuple[str, ...]] = {(n.name,) for n in placed_nodes}
        elif rule.key in levels:
            upto = levels[: levels.index(rule.key) + 1]
            paths = {tuple(n.labels.get(k, "") for k in upto) for n in placed_nodes}
        else:
            problems.append(f"required topology {rule.key} is not a level of the cluster topology")
            continue
        if any(not path[-1] for path in paths):
            problems.append(f"required topology {rule.key}: a pod is on a node without that label")
        elif len(paths) > 1:
            problems.append(f"required topology {rule.key}: pods span {sorted('/'.join(p) for p in paths)}")
    if any(s.signature.relations is not None for s in gang.pod_sets):
        relevant = nodes if neighbours is None else {n.name: n for n in tree.nodes}
        problems.extend(relation_problems(relevant, gang, plan.assignments, neighbours or Neighbours()))
    if check_score and plan.score is not None and not problems:
        actual = evaluate(capacity, gang, plan.assignments, neighbours)
        if actual != plan.score:
            problems.append(f"reported score {plan.score} but the plan scores {actual}")
    return problems


def evaluate(
    capacity: Capacity, gang: Gang, assignments: Mapping[str, str], neighbours: Neighbours | None = None
) -> Score:
    """The score of a placement, straight from its definition; preferences (check_scores.py) weigh above
    packing, (100 - score) * (PACKING_SCALE + 1) per pod."""
    tree = capacity.tree
    levels = list(tree.levels)
    nodes = {n.name: n for n in tree.nodes}
    depth = {key: levels.index(key) for key in levels}
    required = [depth[r.key] for r in gang.topology if r.required and r.key in depth]
    floor = max(required) if required else -1
    if any(r.required and r.key == HOSTNAME for r in gang.topology):
        floor = len(levels)
    spans = sorted({depth[r.key] for r in gang.topology if not r.required and r.key in depth and depth[r.key] > floor})
    used = [nodes[n] for n in set(assignments.values())]
    score = [gang.size - len(assignments)]
    for d in spans:
        score.append(len({tuple(n.labels.get(k, "") for k in levels[: d + 1]) for n in used}))
    score.append(len(used))
    signature_of = {pod: s.signature for s in gang.pod_sets for pod in s.pods}
    packing = _Packing(capacity)
    placed = neighbours.present() if neighbours is not None else []
    penalties = {s.signature: preference_penalties(tree.nodes, s.signature, placed) for s in gang.pod_sets}
    total = 0
    for pod, node in assignments.items():
        total += packing.cost(nodes[node], signature_of[pod])
        found = penalties[signature_of[pod]]
        if found is not None:
            total += found[node] * (PACKING_SCALE + 1)
    score.append(total)
    return tuple(score)


def _free(capacity: Capacity, node: NodeInfo) -> dict[str, int]:
    i = capacity.tree.index[node.name]
    return {r: max(0, int(capacity.allocatable[i, c] - capacity.used[i, c])) for r, c in capacity.column.items()}


class _Packing:
    """Per-pod packing cost from its definition: for each requested resource, the node's free share and, for
    every level above it, the usable free capacity of its domain (nodes sharing its label path) relative to the
    level's largest domain, averaged over the levels; then averaged over the resources. Domain sums are built
    once per capacity, in plain Python."""

    def __init__(self, capacity: Capacity) -> None:
        self.capacity = capacity
        self.levels = list(capacity.tree.levels)
        self.free: list[dict[tuple[str, ...], dict[str, int]]] = []
        self.alloc: list[dict[tuple[str, ...], dict[str, int]]] = []
        for depth in range(len(self.levels)):
            free: dict[tuple[str, ...], dict[str, int]] = defaultdict(lambda: defaultdict(int))
            alloc: dict[tuple[str, ...], dict[str, int]] = defaultdict(lambda: defaultdict(int))
            for node in capacity.tree.nodes:
                path = self._path(node, depth)
                node_free = _free(capacity, node)
                for resource in capacity.column:
                    alloc[path][resource] += _alloc(capacity, [node], resource)
                    if _usable(node):
                        free[path][resource] += node_free.get(resource, 0)
            self.free.append(free)
            self.alloc.append(alloc)
        self._memo: dict[tuple[str, Signature], int] = {}

    def _path(self, node: NodeInfo, depth: int) -> tuple[str, ...]:
        return tuple(node.labels.get(k, "") for k in self.levels[: depth + 1])

    def cost(self, node: NodeInfo, signature: Signature) -> int:
        key = (node.name, signature)
        if key not in self._memo:
            self._memo[key] = self._compute(node, signature)
        return self._memo[key]

    def _compute(self, node: NodeInfo, signature: Signature) -> int:
        fractions = []
        for resource, amount in signature.requests:
            if amount == 0 or resource == "pods":
                continue
            own = _free(self.capacity, node).get(resource, 0) if _usable(node) else 0
            total = _ratio(own, _alloc(self.capacity, [node], resource))
            for depth in range(len(self.levels)):
                path = self._path(node, depth)
                largest = max(domain.get(resource, 0) for domain in self.alloc[depth].values())
                total += _ratio(self.free[depth][path].get(resource, 0), largest)
            fractions.append(total / (len(self.levels) + 1))
        mean = sum(fractions) / len(fractions) if fractions else 1.0
        return round(mean * PACKING_SCALE)


def _usable(node: NodeInfo) -> bool:
    return node.ready and not node.unschedulable


def _alloc(capacity: Capacity, nodes: list[NodeInfo], resource: str) -> int:
    column = capacity.column.get(resource)
    if column is None:
        return 0
    return sum(int(capacity.allocatable[capacity.tree.index[n.name], column]) for n in nodes)


def _ratio(free: int, alloc: int) -> float:
    return free / alloc if alloc > 0 else 1.0


def validate_preemption(
    capacity: Capacity,
    gang: Gang,
    plan: Plan,
    units: Sequence[VictimUnit],
    budgets: Sequence[Budget],
    preemptor_priority: int,
    *,
    never: bool = False,
    allow_violations: bool = True,
    check_score: bool = True,
    neighbours: Neighbours | None = None,
) -> list[str]:
    """Every victim has lower priority; whole-group units go whole; after the evictions the gang fits; a Never
    preemptor evicts nothing; no victim could be spared; the reported budget violations are the real ones."""
    gone = (
        neighbours.without(p.key for key in plan.victims for u in units if u.key == key for p in u.pods)
        if neighbours
        else None
    )
    problems: list[str] = []
    by_key = {u.key: u for u in units}
    if never and plan.victims:
        problems.append("a preemptor with preemptionPolicy Never evicted pods")
    chosen: list[VictimUnit] = []
    for key in plan.victims:
        unit = by_key.get(key)
        if unit is None:
            problems.append(f"victim {key} is not a running pod or group")
            continue
        if unit.priority >= preemptor_priority:
            problems.append(f"victim {key} has priority {unit.priority} >= the preemptor's {preemptor_priority}")
        chosen.append(unit)
    evicted = set(plan.victim_pods)
    if evicted != {p.key for u in chosen for p in u.pods}:
        problems.append("victim pods are not exactly the pods of the victim units")
    for unit in units:
        if unit.whole_group and 0 < len(evicted & {p.key for p in unit.pods}) < len(unit.pods):
            problems.append(f"PodGroup {unit.key} is split: only part of it is evicted")
    if problems:
        return problems
    after = capacity.without((p.node, p.requests) for u in chosen for p in u.pods)
    problems.extend(validate_plan(after, gang, plan, check_score=check_score, neighbours=gone))
    related = gone is not None and any(s.signature.relations is not None for s in gang.pod_sets)
    for unit in chosen:
        spared = capacity.without((p.node, p.requests) for u in chosen if u is not unit for p in u.pods)
        if not _overloaded(spared, gang, plan.assignments) and not (
            related and _blocks(after, gang, plan, neighbours, units, unit)
        ):
            problems.append(f"victim {unit.key} is not needed: the gang fits without evicting it")
    violations = sum(max(0, len(b.pods & evicted) - b.allowed) for b in budgets)
    if plan.victim_cost is not None and plan.victim_cost[0] != violations:
        problems.append(f"reported {plan.victim_cost[0]} budget violations, actual {violations}")
    if not allow_violations and violations:
        problems.append(f"{violations} PodDisruptionBudget violations although they are forbidden")
    return problems


def _blocks(
    capacity: Capacity,
    gang: Gang,
    plan: Plan,
    neighbours: Neighbours | None,
    units: Sequence[VictimUnit],
    unit: VictimUnit,
) -> bool:
    """Would keeping this victim break an inter-pod rule of the plan (anti-affinity, host ports)?"""
    assert neighbours is not None
    kept = {p.key for p in unit.pods}
    others = [p.key for key in plan.victims for u in units if u.key == key and u is not unit for p in u.pods]
    view = neighbours.without(k for k in others if k not in kept)
    nodes = {n.name: n for n in capacity.tree.nodes}
    return bool(relation_problems(nodes, gang, plan.assignments, view))


def _overloaded(capacity: Capacity, gang: Gang, assignments: Mapping[str, str]) -> bool:
    signature_of = {pod: s.signature for s in gang.pod_sets for pod in s.pods}
    load: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for pod, node in assignments.items():
        for resource, amount in signature_of[pod].requests:
            load[node][resource] += amount
    nodes = {n.name: n for n in capacity.tree.nodes}
    return any(
        amount > _free(capacity, nodes[node]).get(resource, 0)
        for node, used in load.items()
        for resource, amount in used.items()
    )

"""The joint constraints (solver/joint.py) as CP-SAT constraint families over per-node pod counts.

Shared by the placement and the preemption model: both hand in `x[(signature, node index)]`. Domains outside
the model still count where upstream counts them: a spread rule's minimum runs over every eligible domain of
the cluster, the ones without model nodes at their running counts.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping

import numpy as np
from ortools.sat.python import cp_model

from scheduler.solver.joint import Joint, Spread, ids_of
from scheduler.topology.tree import TopologyTree

Vars = Mapping[tuple[int, int], cp_model.IntVar]


def add_joint(model: cp_model.CpModel, tree: TopologyTree, joint: Joint, x: Vars, total: int) -> None:
    """Every family of `joint`, over the variables `x`; `total` bounds the pods in any domain."""
    for cap in joint.caps:
        for domain, variables in _by_domain(tree, cap.key, x, cap.members).items():
            if domain >= 0:
                model.add(sum(variables) <= cap.limit)
    for apart in joint.apart:
        a = _by_domain(tree, apart.key, x, (apart.a,))
        b = _by_domain(tree, apart.key, x, (apart.b,))
        for domain in a.keys() & b.keys():
            if domain < 0:
                continue
            side = model.new_bool_var(f"apart_{apart.a}_{apart.b}_{domain}")
            model.add(sum(a[domain]) <= total * side)
            model.add(sum(b[domain]) <= total * (1 - side))
    for index, group in enumerate(joint.together):
        members = _by_domain(tree, group.key, x, group.members)
        anchors = _by_domain(tree, group.key, x, group.anchors)
        flags = []
        for domain, variables in members.items():
            if domain < 0:
                for var in variables:
                    model.add(var == 0)
                continue
            flag = model.new_bool_var(f"together{index}_{domain}")
            model.add(sum(variables) <= total * flag)
            model.add(sum(anchors.get(domain, [])) >= flag)
            flags.append(flag)
        model.add_at_most_one(flags)
    for index, rule in enumerate(joint.spread):
        _spread(model, tree, rule, x, total, index)


def _by_domain(tree: TopologyTree, key: str, x: Vars, sigs: tuple[int, ...]) -> dict[int, list[cp_model.IntVar]]:
    ids = ids_of(tree, key)
    found: dict[int, list[cp_model.IntVar]] = defaultdict(list)
    for (s, n), var in x.items():
        if s in sigs:
            found[int(ids[n])].append(var)
    return found


def _spread(model: cp_model.CpModel, tree: TopologyTree, rule: Spread, x: Vars, total: int, index: int) -> None:
    """n_d = running + placed matching pods; m <= n_d over eligible domains; receiving d: n_d - m <= maxSkew."""
    counted = _by_domain(tree, rule.key, x, rule.counted)
    receiving = _by_domain(tree, rule.key, x, (rule.constrained,))
    for var in receiving.get(-1, []):
        model.add(var == 0)  # a node without the key never takes the pod (the filter says so too)
    top = int(rule.existing.max(initial=0)) + total
    low = model.new_int_var(0, top, f"spread{index}_min")
    if rule.floor_zero:
        model.add(low == 0)
    outside = [int(rule.existing[d]) for d in np.flatnonzero(rule.eligible) if d not in counted]
    if outside:
        model.add(low <= min(outside))
    count: dict[int, cp_model.LinearExpr] = {}
    for domain in set(counted) | set(receiving):
        if domain < 0:
            continue
        count[domain] = cp_model.LinearExpr.sum(counted.get(domain, [])) + int(rule.existing[domain])
        if rule.eligible[domain]:
            model.add(low <= count[domain])
    for domain, variables in receiving.items():
        if domain < 0:
            continue
        flag = model.new_bool_var(f"spread{index}_recv_{domain}")
        model.add(sum(variables) <= total * flag)
        model.add(count[domain] - low <= rule.max_skew + top * (1 - flag))

"""Explanations a user can act on: what filtered the nodes out, and what the topology could not offer."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from scheduler.api.quantity import format_scheduler_units
from scheduler.solver.context import GangContext
from scheduler.solver.filters import format_reasons
from scheduler.solver.joint import NODE, ids_of
from scheduler.topology.capacity import IntArray
from scheduler.topology.tree import HOSTNAME


def describe_requests(requests: Sequence[tuple[str, int]]) -> str:
    shown = [f"{name}: {format_scheduler_units(name, amount)}" for name, amount in requests if name != "pods"]
    return "{" + ", ".join(shown) + "}"


def filter_summary(ctx: GangContext) -> list[str]:
    """One line per pod shape: `8 pods {cpu: 12, nvidia.com/gpu: 4}: 0/5000 nodes fit: 3200 Insufficient …`."""
    lines = []
    for fit in ctx.fits:
        shape = describe_requests(fit.signature.requests)
        limits = "".join(f", {limit}" for limit in fit.limits)
        lines.append(
            f"{fit.count} pod(s) {shape}: {format_reasons(len(ctx.tree), fit.feasible_nodes, fit.reasons)}{limits}"
        )
    return lines


def topology_summary(ctx: GangContext, scope_ubs: IntArray) -> str:
    need = ctx.need
    if ctx.scope_depth is None:
        room = int(scope_ubs.max()) if len(scope_ubs) else 0
        return f"the cluster has room for {room} of the {need} pods needed"
    level = "node" if ctx.scope_depth == ctx.leaf else ctx.tree.levels[ctx.scope_depth].rsplit("/", 1)[-1]
    if not len(scope_ubs):
        return f"no node carries the {level} label required by the topology constraint"
    return f"no {level} has room for {need} pods (largest free: {int(scope_ubs.max())})"


def infeasible_explanation(ctx: GangContext, scope_ubs: IntArray) -> str:
    return "; ".join([*filter_summary(ctx), topology_summary(ctx, scope_ubs)])


def unknown_keys_explanation(ctx: GangContext, keys: Sequence[str]) -> str:
    levels = ", ".join(ctx.tree.levels) or "none"
    return f"required topology key(s) {', '.join(keys)} are not levels of the cluster topology (levels: {levels})"


def together_explanation(ctx: GangContext) -> str:
    """What the constraints among the gang's own pods ask, with the room the cluster has for them."""
    parts: list[str] = []
    tree = ctx.tree
    for cap in ctx.joint.caps:
        pods = int(ctx.counts[list(cap.members)].sum())
        ids = ids_of(tree, cap.key)
        open_domains = {int(d) for m in cap.members for d in ids[ctx.cap[m] > 0] if d >= 0}
        parts.append(
            f"anti-affinity on {cap.key}: {pods} pods need {-(-pods // cap.limit)} {_short(cap.key)}(s), "
            f"{len(open_domains)} can take one"
        )
    for group in ctx.joint.together:
        pods = int(ctx.counts[list(group.members)].sum())
        ids = ids_of(tree, group.key)
        room: dict[int, int] = {}
        for m in group.members:
            for d, c in zip(ids.tolist(), np.minimum(ctx.cap[m], ctx.counts[m]).tolist(), strict=True):
                if d >= 0:
                    room[d] = room.get(d, 0) + c
        parts.append(
            f"pod affinity on {group.key}: {pods} pods must share one {_short(group.key)} "
            f"(largest room: {max(room.values(), default=0)})"
        )
    for rule in ctx.joint.spread:
        domains = int(np.count_nonzero(rule.eligible))
        parts.append(
            f"topology spread on {rule.key} (maxSkew {rule.max_skew}): {domains} eligible "
            f"{_short(rule.key)}(s), most matching pods in one: {int(rule.existing.max(initial=0))}"
        )
    if ctx.joint.apart:
        parts.append(f"{len(ctx.joint.apart)} pair(s) of pod shapes may not share a domain (anti-affinity, host ports)")
    summary = "; ".join(parts) if parts else "constraints among the gang's pods"
    return f"the pods do not fit together in any candidate domain: {summary}"


def _short(key: str) -> str:
    return "node" if key in (NODE, HOSTNAME) else key.rsplit("/", 1)[-1]

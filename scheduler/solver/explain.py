"""Explanations a user can act on: what filtered the nodes out, and what the topology could not offer."""

from __future__ import annotations

from collections.abc import Sequence

from scheduler.api.quantity import format_scheduler_units
from scheduler.solver.context import GangContext
from scheduler.solver.filters import format_reasons
from scheduler.topology.capacity import IntArray


def describe_requests(requests: Sequence[tuple[str, int]]) -> str:
    shown = [f"{name}: {format_scheduler_units(name, amount)}" for name, amount in requests if name != "pods"]
    return "{" + ", ".join(shown) + "}"


def filter_summary(ctx: GangContext) -> list[str]:
    """One line per pod shape: `8 pods {cpu: 12, nvidia.com/gpu: 4}: 0/5000 nodes fit: 3200 Insufficient …`."""
    lines = []
    for fit in ctx.fits:
        shape = describe_requests(fit.signature.requests)
        lines.append(f"{fit.count} pod(s) {shape}: {format_reasons(len(ctx.tree), fit.feasible_nodes, fit.reasons)}")
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

"""From the cache to the solver's victim candidates: units (pods, or PodGroups evicted whole) and budgets.

Priority is cluster-wide, so pods of other schedulers are candidates too, as in kube-scheduler, unless the
configuration limits victims to our own pods.
"""

from __future__ import annotations

from collections import defaultdict

from scheduler.api.core import PodDisruptionBudget
from scheduler.api.policy import DisruptionMode
from scheduler.api.priority import group_priority, pod_priority
from scheduler.engine.state import ClusterState, PodInfo
from scheduler.solver.victims import Budget, VictimPod, VictimUnit


def victim_units(
    state: ClusterState, *, own_only: str | None = None, exclude: str | None = None, gangs: bool = True
) -> list[VictimUnit]:
    """Every running pod as a unit, grouped whole where its PodGroup's disruptionMode is PodGroup.

    `own_only` names our scheduler when victims are limited to its pods; `exclude` is the preemptor's group;
    with `gangs` off every pod is its own unit (kube-scheduler's pod-by-pod preemption).
    """
    whole: dict[str, list[PodInfo]] = defaultdict(list)
    units: list[VictimUnit] = []
    for info in state.pods.values():
        if not info.holds_capacity or info.assumed or info.node is None:
            continue
        if own_only is not None and info.scheduler_name != own_only:
            continue
        if exclude is not None and info.group_key == exclude:
            continue
        group = state.groups.get(info.group_key) if info.group_key else None
        if gangs and group is not None and group.spec.disruption_mode is DisruptionMode.POD_GROUP:
            whole[info.group_key or ""].append(info)
            continue
        priority = _priority(state, info, gangs)
        units.append(VictimUnit(info.key, priority, (_victim_pod(info),)))
    for key, members in whole.items():
        group = state.groups[key]
        resolved = group_priority(group.spec, state.priority_classes, [m.pod for m in members])
        units.append(
            VictimUnit(
                key,
                resolved if resolved is not None else 0,
                tuple(_victim_pod(m) for m in sorted(members, key=lambda m: m.key)),
                whole_group=True,
            )
        )
    return sorted(units, key=lambda u: u.key)


def budgets(state: ClusterState, pdbs: list[PodDisruptionBudget]) -> list[Budget]:
    out = []
    for pdb in pdbs:
        covered = frozenset(k for k, info in state.pods.items() if info.holds_capacity and pdb.covers(info.pod))
        if covered:
            key = f"{pdb.metadata.namespace or 'default'}/{pdb.metadata.name}"
            out.append(Budget(key, max(0, pdb.status.disruptions_allowed), covered))
    return out


def _priority(state: ClusterState, info: PodInfo, gangs: bool = True) -> int:
    group = state.groups.get(info.group_key) if info.group_key and gangs else None
    if group is not None:
        priority = group_priority(group.spec, state.priority_classes, [info.pod])
        if priority is not None:
            return priority
    return pod_priority(info.pod, state.priority_classes) or 0


def _victim_pod(info: PodInfo) -> VictimPod:
    return VictimPod(info.key, info.node or "", dict(info.requests))

"""Which PodGroup a pod belongs to, and the PodGroups a Workload stamps out."""

from __future__ import annotations

from scheduler.api.core import Pod
from scheduler.api.meta import ObjectMeta, OwnerReference
from scheduler.api.podgroup import (
    COSCHEDULING_POD_GROUP_LABEL,
    POD_GROUP_LABEL,
    PodGroup,
    PodGroupSpec,
    WorkloadReference,
)
from scheduler.api.policy import policy_fields
from scheduler.api.workload import API_VERSION, Workload


def pod_group_of(pod: Pod) -> str | None:
    """The name of the pod's PodGroup (same namespace), or None for a pod scheduled on its own.

    Upstream's `spec.schedulingGroup` comes first: it is what the upstream Job, JobSet and LeaderWorkerSet
    integrations write, and a pod they grouped must never also be folded into a gang of ours by its owner
    chain. Then our label, which wins over scheduler-plugins' when a pod carries both, so a user migrating
    can override.
    """
    group = pod.spec.scheduling_group
    if group is not None and group.pod_group_name:
        return group.pod_group_name
    labels = pod.metadata.labels
    return labels.get(POD_GROUP_LABEL) or labels.get(COSCHEDULING_POD_GROUP_LABEL) or None


def stamp_pod_groups(workload: Workload) -> list[PodGroup]:
    """The PodGroups a Workload owns, as the operator creates them (owner reference, template fields)."""
    owner = (
        [
            OwnerReference(
                api_version=API_VERSION,
                kind=Workload.KIND,
                name=workload.metadata.name,
                uid=workload.metadata.uid,
                controller=True,
                block_owner_deletion=True,
            )
        ]
        if workload.metadata.uid
        else []
    )
    groups = []
    for template, name in workload.pod_group_names():
        metadata = ObjectMeta(
            name=name,
            namespace=workload.metadata.namespace,
            labels={"scheduling.phalanx.dev/workload": workload.metadata.name},
            owner_references=owner,
        )
        spec = PodGroupSpec(
            workload_ref=WorkloadReference(workload_name=workload.metadata.name, template_name=template.name),
            **policy_fields(template),
        )
        groups.append(PodGroup(metadata=metadata, spec=spec))
    return groups

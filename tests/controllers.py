"""Job, JobSet and LeaderWorkerSet objects, and their pods, made the way their controllers make them.

Tests that request the `controller_manager` fixture get the real Job, StatefulSet, garbage-collector and disruption
controllers, and create only the Job (its pods come from the Job controller). No JobSet or LeaderWorkerSet
controller exists here, so these builders stand in for them: they reproduce what those controllers would create
(the owner references, the labels upstream puts on pods, the names). `job_pods` stands in for the Job controller
where none runs (e.g. on the least-privilege server).
"""

from __future__ import annotations

import uuid
from typing import Any

SCHEDULER = "phalanx"


def pod_template(gpus: int = 1, pool: str | None = None, scheduler: str = SCHEDULER) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "schedulerName": scheduler,
        "restartPolicy": "Never",
        "containers": [
            {"name": "main", "image": "example.invalid/app:1", "resources": {"limits": {"nvidia.com/gpu": str(gpus)}}}
        ],
    }
    if pool:
        spec["nodeSelector"] = {"pool": pool}
    return {"metadata": {}, "spec": spec}


def job_body(
    name: str,
    parallelism: int | None,
    *,
    indexed: bool = True,
    completions: int | None = None,
    annotations: dict[str, str] | None = None,
    template: dict[str, Any] | None = None,
    owner: dict[str, Any] | None = None,
    labels: dict[str, str] | None = None,
) -> dict[str, Any]:
    spec: dict[str, Any] = {"template": template or pod_template()}
    if parallelism is not None:
        spec["parallelism"] = parallelism
    if completions is not None or indexed:
        spec["completions"] = completions if completions is not None else parallelism
    if indexed:
        spec["completionMode"] = "Indexed"
    meta: dict[str, Any] = {"name": name, "uid": str(uuid.uuid4()), "annotations": annotations or {}}
    if owner:
        meta["ownerReferences"] = [owner]
    if labels:
        meta["labels"] = labels
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": meta, "spec": spec}


def jobset_body(
    name: str, replicated: list[tuple[str, int, int]], *, annotations: dict[str, str] | None = None
) -> dict[str, Any]:
    """`replicated`: (replicated job name, replicas, pods per job)."""
    jobs = [
        {
            "name": rj,
            "replicas": replicas,
            "template": {"spec": {"parallelism": pods, "completions": pods, "template": pod_template()}},
        }
        for rj, replicas, pods in replicated
    ]
    return {
        "apiVersion": "jobset.x-k8s.io/v1alpha2",
        "kind": "JobSet",
        "metadata": {"name": name, "uid": str(uuid.uuid4()), "annotations": annotations or {}},
        "spec": {"replicatedJobs": jobs},
    }


def lws_body(
    name: str,
    replicas: int,
    size: int,
    *,
    startup: str = "LeaderCreated",
    annotations: dict[str, str] | None = None,
) -> dict[str, Any]:
    return {
        "apiVersion": "leaderworkerset.x-k8s.io/v1",
        "kind": "LeaderWorkerSet",
        "metadata": {"name": name, "uid": str(uuid.uuid4()), "annotations": annotations or {}},
        "spec": {
            "replicas": replicas,
            "startupPolicy": startup,
            "leaderWorkerTemplate": {"size": size, "workerTemplate": pod_template()},
        },
    }


def owner_ref(body: dict[str, Any]) -> dict[str, Any]:
    meta = body["metadata"]
    return {
        "apiVersion": body["apiVersion"],
        "kind": body["kind"],
        "name": meta["name"],
        "uid": meta["uid"],
        "controller": True,
    }


def job_pods(job: dict[str, Any], count: int | None = None) -> list[dict[str, Any]]:
    """The pods the Job controller creates (`<job>-<index>-<suffix>` for Indexed Jobs), with its labels."""
    meta, spec = job["metadata"], job["spec"]
    count = count if count is not None else spec.get("parallelism", 1)
    pods = []
    for index in range(count):
        labels = {
            "controller-uid": meta["uid"],
            "job-name": meta["name"],
            **spec["template"]["metadata"].get("labels", {}),
        }
        pods.append(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {
                    "name": f"{meta['name']}-{index}-{uuid.uuid4().hex[:5]}",
                    "labels": labels,
                    "annotations": {"batch.kubernetes.io/job-completion-index": str(index)},
                    "ownerReferences": [owner_ref(job)],
                },
                "spec": spec["template"]["spec"],
            }
        )
    return pods


def jobset_children(jobset: dict[str, Any]) -> list[dict[str, Any]]:
    """The child Jobs the JobSet controller creates (`<jobset>-<replicated job>-<index>`), owned by it."""
    name = jobset["metadata"]["name"]
    jobs = []
    for rj in jobset["spec"]["replicatedJobs"]:
        for index in range(rj["replicas"]):
            labels = {
                "jobset.sigs.k8s.io/jobset-name": name,
                "jobset.sigs.k8s.io/replicatedjob-name": rj["name"],
                "jobset.sigs.k8s.io/job-index": str(index),
            }
            template = {
                "metadata": {"labels": labels},
                "spec": rj["template"]["spec"]["template"]["spec"],
            }
            pods = rj["template"]["spec"]["parallelism"]
            jobs.append(
                job_body(
                    f"{name}-{rj['name']}-{index}",
                    pods,
                    template=template,
                    owner=owner_ref(jobset),
                    labels=labels,
                )
            )
    return jobs


def lws_objects(lws: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(StatefulSets, pods) the LWS controller creates: a leader set `<lws>` owned by the LWS, leader pods
    `<lws>-<g>` owned by it, a worker set `<lws>-<g>` owned by each leader pod, workers `<lws>-<g>-<w>`."""
    name = lws["metadata"]["name"]
    size = lws["spec"]["leaderWorkerTemplate"]["size"]
    template = lws["spec"]["leaderWorkerTemplate"]["workerTemplate"]
    leader_set = _statefulset(name, owner_ref(lws))
    sets, pods = [leader_set], []
    for group in range(lws["spec"]["replicas"]):
        labels = {"leaderworkerset.sigs.k8s.io/name": name, "leaderworkerset.sigs.k8s.io/group-index": str(group)}
        leader = _pod(f"{name}-{group}", {**labels, "leaderworkerset.sigs.k8s.io/worker-index": "0"}, template)
        leader["metadata"]["ownerReferences"] = [owner_ref(leader_set)]
        worker_set = _statefulset(f"{name}-{group}", owner_ref(leader))
        sets.append(worker_set)
        pods.append(leader)
        for worker in range(1, size):
            pod = _pod(
                f"{name}-{group}-{worker}",
                {**labels, "leaderworkerset.sigs.k8s.io/worker-index": str(worker)},
                template,
            )
            pod["metadata"]["ownerReferences"] = [owner_ref(worker_set)]
            pods.append(pod)
    return sets, pods


def _statefulset(name: str, owner: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": name, "uid": str(uuid.uuid4()), "ownerReferences": [owner]},
        "spec": {
            # Zero: the LWS stand-in creates the pods itself; nothing else may add pods to its sets.
            "replicas": 0,
            "serviceName": name,
            "selector": {"matchLabels": {"set": name}},
            "template": {
                "metadata": {"labels": {"set": name}},
                "spec": {"containers": [{"name": "main", "image": "example.invalid/app:1"}]},
            },
        },
    }


def _pod(name: str, labels: dict[str, str], template: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "uid": str(uuid.uuid4()), "labels": labels},
        "spec": template["spec"],
    }

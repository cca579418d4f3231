"""`phalanx run`: kopf embedded, so our main owns logging, configuration and shutdown.

Watches go through `kopf.on.event` only: no cause handlers, so no finalizers or annotations on anyone's
pods. The handlers hand changes to the scheduling thread (kube/loop.py); Workloads are reconciled here, on
the event loop, because that is only API work.
"""

from __future__ import annotations

import asyncio
import gc
import os
import threading
from dataclasses import dataclass, field
from typing import Any

import kopf
import structlog
from kubernetes_asyncio import client

from scheduler.api import provisioning
from scheduler.api import upstream as upstream_api
from scheduler.api.config import DEFAULT_LEVELS, ProvisioningConfig, SchedulerConfig
from scheduler.engine.cycle import EngineConfig
from scheduler.engine.state import ClusterState
from scheduler.kube.api import KubeApi
from scheduler.kube.connection import load_connection, skip_environment_lookups
from scheduler.kube.discovery import VersionedWatcher
from scheduler.kube.health import serve
from scheduler.kube.inbox import Change, Inbox, Kind
from scheduler.kube.integrations import FOLLOWED, Integrations
from scheduler.kube.leader import LeaderElector
from scheduler.kube.loop import SchedulingLoop
from scheduler.kube.metrics import Metrics
from scheduler.kube.watch import ResourceWatcher
from scheduler.kube.workloads import reconcile_workload
from scheduler.solver.problem import SolverParams

log = structlog.get_logger(__name__)

# Everything a decision reads comes through kube/watch.py's lean list-and-watch, never kopf: the scheduling
# loop must know when each first listing is in, to decide nothing on half a cluster. kopf's ready flag goes up
# before its watchers have listed anything, so a restarted leader could split a disruptionMode PodGroup gang it
# had not seen yet, or ignore PDBs and priority classes.
WATCHED: tuple[tuple[Kind, str, tuple[str, str, str]], ...] = (
    ("podgroup", "PodGroup", ("scheduling.phalanx.dev", "v1alpha1", "podgroups")),
    ("priorityclass", "PriorityClass", ("scheduling.k8s.io", "v1", "priorityclasses")),
    # policy/v1 where served (1.21+), v1beta1 where served (up to 1.24): whichever is absent counts as listed.
    ("pdb", "PodDisruptionBudget", ("policy", "v1", "poddisruptionbudgets")),
    ("pdb", "PodDisruptionBudget", ("policy", "v1beta1", "poddisruptionbudgets")),
)


@dataclass(frozen=True)
class OperatorConfig:
    scheduler_name: str = "phalanx"
    levels: tuple[str, ...] = DEFAULT_LEVELS
    kubeconfig: str | None = None
    context: str | None = None
    params: SolverParams = field(default_factory=SolverParams)
    preemption: bool = True
    allow_pdb_violations: bool = True
    victims_own_pods_only: bool = False
    qps: float = 500.0
    burst: int = 1000
    bind_concurrency: int = 64
    metrics_host: str = "0.0.0.0"
    metrics_port: int = 8080  # 0: no metrics/health server
    leader_election: bool = True
    lease_namespace: str = field(default_factory=lambda: os.environ.get("POD_NAMESPACE", "default"))
    lease_seconds: float = 15.0
    renew_deadline_seconds: float = 10.0
    retry_seconds: float = 2.0
    # Controller kinds whose objects become gangs (kube/integrations.py); StatefulSets link LWS pods to theirs.
    integrations: tuple[str, ...] = ("Job", "JobSet", "LeaderWorkerSet")
    provisioning: ProvisioningConfig = field(default_factory=ProvisioningConfig)


def build_registry(
    inbox: Inbox, kube_ref: list[KubeApi], connection_info: kopf.ConnectionInfo
) -> kopf.OperatorRegistry:
    registry = kopf.OperatorRegistry()

    @kopf.on.login(registry=registry)
    def login(**_: Any) -> kopf.ConnectionInfo:
        return connection_info

    @kopf.on.event("scheduling.phalanx.dev", "v1alpha1", "workloads", registry=registry)
    async def workloads(event: kopf.RawEvent, **_: Any) -> None:
        body: dict[str, Any] = dict(event.get("object") or {})
        deleted = event.get("type") == "DELETED"
        try:
            await reconcile_workload(kube_ref[0], body, deleted)
        except Exception as exc:
            name = body.get("metadata", {}).get("name")
            log.warning("workload not reconciled", workload=name, error=str(exc))

    return registry


# Read for volume-aware placement (engine/storage.py) and namespaceSelectors: lean watches, so the scheduling
# loop waits for their first listing too (a pod must not be placed before its claim is known).
STORAGE_WATCHED: tuple[tuple[Kind, str, tuple[str, str, str]], ...] = (
    ("pvc", "PersistentVolumeClaim", ("", "v1", "persistentvolumeclaims")),
    ("pv", "PersistentVolume", ("", "v1", "persistentvolumes")),
    ("storageclass", "StorageClass", ("storage.k8s.io", "v1", "storageclasses")),
    ("namespace", "Namespace", ("", "v1", "namespaces")),
)


def _feeding(
    api: client.ApiClient,
    inbox: Inbox,
    change: Kind,
    kind: str,
    resource: tuple[str, str, str],
    optional: bool = True,
    *,
    report_served: bool = False,
) -> ResourceWatcher:
    """A lean list-and-watch whose every event goes to the scheduling thread's inbox as `change` (and, with
    `report_served`, whether the resource can be listed at all, as a "served" change)."""

    def served(on: bool) -> None:
        if report_served:
            inbox.put(Change("served", False, {"kind": kind, "served": on}))

    return ResourceWatcher(
        api,
        kind,
        *resource,
        on_event=lambda deleted, body: inbox.put(Change(change, deleted, body)),
        on_served=served,
        optional=optional,
    )


def foreign_pod_groups(api: client.ApiClient, inbox: Inbox) -> list[ResourceWatcher]:
    """Upstream's PodGroups in the newest version served (1.36+), and coscheduling's where installed; both are
    optional, and looked for again now and then, so installing them later needs no restart."""
    put = lambda deleted, body: inbox.put(Change("podgroup", deleted, body))  # noqa: E731
    upstream = VersionedWatcher(
        api, "PodGroup", upstream_api.UPSTREAM_GROUP, upstream_api.UPSTREAM_VERSIONS, "podgroups", put
    )
    coscheduling = ResourceWatcher(
        api, "PodGroup", upstream_api.COSCHEDULING_GROUP, upstream_api.COSCHEDULING_VERSION, "podgroups", put
    )
    return [upstream, coscheduling]


def default_metrics_host() -> str:
    """Every address in a pod (the kubelet probes its IP), loopback elsewhere."""
    return "0.0.0.0" if os.environ.get("KUBERNETES_SERVICE_HOST") else "127.0.0.1"


def operator_config(settings: SchedulerConfig, kubeconfig: str | None, context: str | None) -> OperatorConfig:
    """The validated configuration document, as the operator runs it."""
    lease = settings.leader_election
    return OperatorConfig(
        scheduler_name=settings.scheduler_name,
        levels=tuple(settings.topology_levels),
        kubeconfig=kubeconfig,
        context=context,
        params=SolverParams(
            time_limit_s=settings.solver.time_limit_seconds,
            improve_time_s=settings.solver.improve_seconds,
            num_workers=settings.solver.num_workers,
            large_model_workers=settings.solver.large_model_workers,
            max_model_nodes=settings.solver.max_model_nodes,
            relative_gap=settings.solver.relative_gap,
            seed=settings.solver.seed,
        ),
        preemption=settings.preemption.enabled,
        allow_pdb_violations=settings.preemption.allow_pdb_violations,
        victims_own_pods_only=settings.preemption.own_pods_only,
        qps=settings.client.qps,
        burst=settings.client.burst,
        bind_concurrency=settings.client.bind_concurrency,
        metrics_port=settings.metrics_port,
        metrics_host=settings.metrics_host or default_metrics_host(),
        leader_election=lease.enabled,
        lease_namespace=lease.lease_namespace or os.environ.get("POD_NAMESPACE", "default"),
        lease_seconds=lease.lease_seconds,
        renew_deadline_seconds=lease.lease_seconds * 2 / 3,
        retry_seconds=max(0.2, lease.lease_seconds / 7.5),
        integrations=tuple(
            kind
            for kind, on in (
                ("Job", settings.integrations.jobs),
                ("JobSet", settings.integrations.job_sets),
                ("LeaderWorkerSet", settings.integrations.leader_worker_sets),
            )
            if on
        ),
        provisioning=settings.provisioning,
    )


def engine_config(config: OperatorConfig) -> EngineConfig:
    return EngineConfig(
        name=config.scheduler_name,
        params=config.params,
        preemption=config.preemption,
        allow_pdb_violations=config.allow_pdb_violations,
        victims_own_pods_only=config.victims_own_pods_only,
    )


async def run_operator(config: OperatorConfig, stop: threading.Event | asyncio.Event | None = None) -> None:
    connection = load_connection(config.kubeconfig, config.context)
    inbox = Inbox()
    api_client = client.ApiClient(connection.client_configuration())
    skip_environment_lookups(api_client)
    metrics = Metrics()
    kube = KubeApi(
        api_client, qps=config.qps, burst=config.burst, concurrency=config.bind_concurrency, observe=metrics.api_request
    )
    registry = build_registry(inbox, [kube], connection.kopf_info())
    settings = kopf.OperatorSettings()
    settings.posting.enabled = False  # our events are ours; kopf's handler logs would be noise on user objects
    settings.watching.server_timeout = 300
    # kopf waits this long for more events of one object before handling them; our handlers only record the
    # change, so waiting buys nothing and delays every decision.
    settings.batching.batch_window = 0.01
    # No live watch of CRDs and namespaces: resources are discovered once at start (the CRDs are installed with
    # the operator), which spares the role a cluster-wide right to list CustomResourceDefinitions.
    settings.scanning.disabled = True
    # The cache keeps hundreds of thousands of long-lived objects; CPython's full collections walk all of them
    # and stopped the scheduling thread for 0.8-2 s at 5,000 pods (decisions over their time limit). Young
    # collections less often, and the objects alive once the caches are synced frozen out of the walk.
    gc.set_threshold(50_000, 20, 1000)
    state = ClusterState(config.levels)
    event_loop = asyncio.get_running_loop()
    loop = SchedulingLoop(
        state, engine_config(config), kube, event_loop, inbox, metrics, provisioning=config.provisioning
    )
    loop.start()
    watcher = _feeding(api_client, inbox, "pod", "Pod", ("", "v1", "pods"), optional=False)
    nodes = _feeding(api_client, inbox, "node", "Node", ("", "v1", "nodes"), optional=False)
    kinds = set(config.integrations) | ({"StatefulSet"} if "LeaderWorkerSet" in config.integrations else set())
    integrations = Integrations(api_client, kube, inbox, config.scheduler_name)
    if config.integrations:
        try:
            await integrations.load()
        except Exception as exc:  # not fatal: stale Workloads are only cleaned up later, by GC or on change
            log.warning("integration workloads not listed", error=str(exc))
    owner_watchers = integrations.watchers(tuple(f for f in FOLLOWED if f.kind in kinds))
    if config.integrations:
        owner_watchers.append(integrations.upstream_workloads())
    if config.provisioning.enabled:
        api = (provisioning.GROUP, provisioning.VERSION, provisioning.PLURAL)
        owner_watchers.append(_feeding(api_client, inbox, "provisioning", "ProvisioningRequest", api))
    storage = [_feeding(api_client, inbox, *w, report_served=True) for w in STORAGE_WATCHED]
    read = [_feeding(api_client, inbox, *w) for w in WATCHED]
    read += foreign_pod_groups(api_client, inbox)
    watchers = (watcher, nodes, *read, *storage, *owner_watchers)
    for w in watchers:
        metrics.follow(w)  # restarts and relists, per kind
    background = [asyncio.create_task(w.run(), name=f"watch-{w.kind}") for w in watchers]

    async def freeze_when_synced() -> None:
        await watcher.synced.wait()
        await asyncio.sleep(2.0)  # the listed objects are in the cache by now
        gc.freeze()

    background.append(asyncio.create_task(freeze_when_synced(), name="gc-freeze"))
    stop_flag = stop or asyncio.Event()

    def synced() -> bool:
        """Every first listing is in the inbox: before that, a decision could overcommit a node whose pods are
        not known yet, or release a gang's pods because the nodes they need have not been seen."""
        return all(w.synced.is_set() for w in watchers)

    loop.synced = synced
    lost = asyncio.Event()

    def lead() -> None:
        metrics.leader.set(1)
        loop.active.set()
        inbox.wake.set()

    def step_down() -> None:
        # Stop scheduling at once, then leave: a replica without the lease must not bind anything.
        loop.active.clear()
        metrics.leader.set(0)
        lost.set()
        stop_flag.set()

    runner = None
    if config.metrics_port:
        runner = await serve(
            config.metrics_host,
            config.metrics_port,
            metrics,
            alive=loop.is_alive,
            healthy=loop.healthy,
            synced=synced,
            leading=loop.active.is_set,
        )
    election: asyncio.Task[None] | None = None
    if config.leader_election:
        elector = LeaderElector(
            api_client,
            config.lease_namespace,
            config.scheduler_name,
            lease_seconds=config.lease_seconds,
            renew_deadline_seconds=config.renew_deadline_seconds,
            retry_seconds=config.retry_seconds,
        )
        election = asyncio.create_task(elector.run(lead, step_down), name="leader-election")
    else:
        lead()
    log.info("phalanx starting", scheduler=config.scheduler_name, levels=list(config.levels), server=connection.server)
    try:
        await kopf.operator(
            registry=registry,
            settings=settings,
            clusterwide=True,
            standalone=True,
            stop_flag=stop_flag,
        )
    finally:
        for task in (election, *background):
            if task is not None:
                task.cancel()
        loop.stop()
        loop.join(timeout=10)
        if runner is not None:
            await runner.cleanup()
        await api_client.close()
        log.info("phalanx stopped")
    if lost.is_set():
        raise LeadershipLostError(f"lost the lease {config.lease_namespace}/{config.scheduler_name}")


class LeadershipLostError(RuntimeError):
    """This replica no longer holds the lease; the process exits so its supervisor restarts it as a standby."""

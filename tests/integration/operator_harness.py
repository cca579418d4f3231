"""An operator process and a simulated kubelet for integration tests against the real API server."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

from kubernetes_asyncio import client, config

from scheduler.kube.connection import skip_environment_lookups
from tests.integration.apiserver import free_port, stop_process

RACK = "network.phalanx.dev/rack"
NODE_GPUS = 8  # what make_nodes gives a node unless told
GROUP, VERSION = "scheduling.phalanx.dev", "v1alpha1"


class OperatorProcess:
    """`phalanx run` in a subprocess, logging to a file; stopped with SIGTERM (then SIGKILL)."""

    def __init__(self, kubeconfig: Path, log_path: Path, *extra: str) -> None:
        self.log_path = log_path
        port = free_port()  # never the default 8080: several operators may run side by side
        self.metrics_url = f"http://127.0.0.1:{port}"
        command = [sys.executable, "-m", "scheduler.cli.main", "run", "--kubeconfig", str(kubeconfig)]
        command += ["--log-format", "console", "--metrics-port", str(port), *extra]
        self._log = log_path.open("wb")
        self.proc = subprocess.Popen(command, stdout=self._log, stderr=subprocess.STDOUT, env={**os.environ})

    def wait_for(self, marker: str, within: float = 60.0) -> float:
        """Seconds until `marker` appears in the log (the process must stay up meanwhile)."""
        started = time.monotonic()
        while time.monotonic() - started < within:
            if self.proc.poll() is not None:
                raise RuntimeError(f"operator exited with {self.proc.returncode}:\n{self.log_tail()}")
            if marker in self.log_path.read_text(errors="replace"):
                return time.monotonic() - started
            time.sleep(0.1)
        raise TimeoutError(f"operator never logged {marker!r}:\n{self.log_tail()}")

    def wait_ready(self, within: float = 60.0) -> None:
        """Leading, and every first listing in (/readyz): from then on it decides on the whole cluster."""
        started = time.monotonic()
        self.wait_for("became leader", within)
        while http_status(f"{self.metrics_url}/readyz") != 200:
            if time.monotonic() - started > within or self.proc.poll() is not None:
                raise TimeoutError(f"operator never ready:\n{self.log_tail()}")
            time.sleep(0.05)

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        stop_process(self.proc)
        self._log.close()


def http_status(url: str) -> int:
    """The status of a GET; 0 when nothing answers yet."""
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


def http_text(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:
        return str(response.read().decode())


@contextlib.asynccontextmanager
async def kubelet(
    api: client.ApiClient, namespace: str, finalize: Callable[[], bool] = lambda: True
) -> AsyncIterator[None]:
    """What kubelets would do for a namespace: bound pods start Running; deleted pods go away at once (while
    `finalize()` says so: a test may hold victims in Terminating)."""
    core: Any = client.CoreV1Api(api)

    async def loop() -> None:
        while True:
            pods = await core.list_namespaced_pod(namespace)
            for pod in pods.items:
                if pod.metadata.deletion_timestamp is not None:
                    if not finalize():
                        continue
                    with contextlib.suppress(client.ApiException):
                        await core.delete_namespaced_pod(pod.metadata.name, namespace, grace_period_seconds=0)
                elif pod.spec.node_name and (pod.status.phase or "Pending") == "Pending":
                    body = {"status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}}
                    with contextlib.suppress(client.ApiException):
                        await core.patch_namespaced_pod_status(pod.metadata.name, namespace, body)
            await asyncio.sleep(0.2)

    task = asyncio.create_task(loop())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@contextlib.asynccontextmanager
async def api_client_for(kubeconfig: Path) -> AsyncIterator[client.ApiClient]:
    """A kubernetes-asyncio client authenticated by a kubeconfig file (closed on exit)."""
    cfg = client.Configuration()
    await config.load_kube_config(config_file=str(kubeconfig), client_configuration=cfg)
    async with client.ApiClient(cfg) as api:
        skip_environment_lookups(api)  # as the operator does: the load generators' own cost, a lookup per request
        yield api


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


async def make_nodes(
    api: client.ApiClient,
    pool: str,
    racks: int,
    per_rack: int,
    gpus: int = NODE_GPUS,
    concurrency: int = 32,
    existing_ok: bool = False,
) -> list[str]:
    """Ready Node objects labelled with the pool and a rack each, created concurrently (`existing_ok`: grow a
    pool made earlier, as an autoscaler would)."""
    core: Any = client.CoreV1Api(api)
    slots = asyncio.Semaphore(concurrency)
    resources = {"cpu": "64", "memory": "256Gi", "nvidia.com/gpu": str(gpus), "pods": "110"}
    ready = [{"type": "Ready", "status": "True"}]

    async def create(name: str, rack: int) -> None:
        labels = {"kubernetes.io/hostname": name, "pool": pool, RACK: f"{pool}-rack-{rack}"}
        body = {
            "metadata": {"name": name, "labels": labels},
            "status": {"capacity": resources, "allocatable": resources, "conditions": ready},
        }
        async with slots:
            try:
                await core.create_node(body)
            except client.ApiException as exc:
                if not (existing_ok and exc.status == 409):
                    raise

    names = [(f"{pool}-r{r}-n{n}", r) for r in range(racks) for n in range(per_rack)]
    await asyncio.gather(*(create(name, rack) for name, rack in names))
    return [name for name, _ in names]


def pod_body(name: str, pool: str, group: str | None, gpus: int, priority_class: str | None = None) -> dict[str, Any]:
    labels = {"scheduling.phalanx.dev/pod-group": group} if group else {}
    spec: dict[str, Any] = {
        "schedulerName": "phalanx",
        "nodeSelector": {"pool": pool},
        "containers": [
            {"name": "main", "image": "example.invalid/app:1", "resources": {"limits": {"nvidia.com/gpu": str(gpus)}}}
        ],
    }
    if priority_class:
        spec["priorityClassName"] = priority_class
    return {"metadata": {"name": name, "labels": labels}, "spec": spec}


def pod_group_body(name: str, min_count: int, **spec: Any) -> dict[str, Any]:
    policy = {"gang": {"minCount": min_count}} if min_count > 1 else {"basic": {}}
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "PodGroup",
        "metadata": {"name": name},
        "spec": {"schedulingPolicy": policy, **spec},
    }


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 20.0, what: str = "") -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


_PLURALS = {
    "Pod": "pods",
    "Job": "jobs",
    "StatefulSet": "statefulsets",
    "JobSet": "jobsets",
    "LeaderWorkerSet": "leaderworkersets",
    "ProvisioningRequest": "provisioningrequests",
    "PodTemplate": "podtemplates",
    "PodDisruptionBudget": "poddisruptionbudgets",
    "ResourceQuota": "resourcequotas",
}


def object_path(api_version: str, kind: str, namespace: str, name: str | None = None) -> str:
    base = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
    path = f"{base}/namespaces/{namespace}/{_PLURALS[kind]}"
    return f"{path}/{name}" if name else path


async def rest(api: client.ApiClient, method: str, path: str, body: Any = None) -> Any:
    """A plain REST call answering JSON (or None for 404 on GET), for kinds the typed client lacks."""
    headers = {"Accept": "application/json", "Content-Type": "application/json"}
    if method == "PATCH":
        headers["Content-Type"] = "application/merge-patch+json"
    try:
        response = await api.call_api(
            path,
            method,
            header_params=headers,
            body=body,
            auth_settings=["BearerToken"],
            _return_http_data_only=True,
            _preload_content=False,
        )
    except client.ApiException as exc:
        if exc.status == 404 and method == "GET":
            return None
        raise
    data = await response.read()
    if response.status == 404 and method == "GET":
        return None
    if response.status >= 400:
        raise client.ApiException(status=response.status, reason=data.decode(errors="replace"))
    return json.loads(data)


async def create_owned(api: client.ApiClient, namespace: str, bodies: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Create objects in order, as their controllers would: the server assigns each uid, so owner references
    made by the builders (tests/controllers.py) are pointed at the real uid of the owner created before."""
    real: dict[str, str] = {}
    created = []
    for body in bodies:
        body = json.loads(json.dumps(body))
        fake = body["metadata"].pop("uid", None)
        for ref in body["metadata"].get("ownerReferences", []):
            ref["uid"] = real.get(ref["uid"], ref["uid"])
        answer = await rest(api, "POST", object_path(body["apiVersion"], body["kind"], namespace), body)
        if fake:
            real[fake] = answer["metadata"]["uid"]
        created.append(answer)
    return created


def all_bound(api: client.ApiClient, namespace: str, prefix: str, count: int) -> Callable[[], Awaitable[bool]]:
    """A check for `eventually`: `count` pods named `prefix`* exist and are all bound."""

    async def check() -> bool:
        pods = await bound(api, namespace, prefix)
        return len(pods) == count and all(pods.values())

    return check


async def job_pods_of(api: client.ApiClient, namespace: str, job: str) -> dict[str, str | None]:
    """The live (not terminating) pods the Job controller made for `job`, by its `job-name` label: name -> node."""
    core: Any = client.CoreV1Api(api)
    pods = await core.list_namespaced_pod(namespace, label_selector=f"job-name={job}")
    return {p.metadata.name: p.spec.node_name for p in pods.items if p.metadata.deletion_timestamp is None}


def job_pods_bound(api: client.ApiClient, namespace: str, job: str, count: int) -> Callable[[], Awaitable[bool]]:
    """A check for `eventually`: the Job has `count` live pods, all bound."""

    async def check() -> bool:
        pods = await job_pods_of(api, namespace, job)
        return len(pods) == count and all(pods.values())

    return check


async def create_pods(api: client.ApiClient, namespace: str, bodies: list[dict[str, Any]]) -> None:
    core: Any = client.CoreV1Api(api)
    for body in bodies:
        await core.create_namespaced_pod(namespace, body)


async def bound(api: client.ApiClient, namespace: str, prefix: str) -> dict[str, str | None]:
    core: Any = client.CoreV1Api(api)
    pods = await core.list_namespaced_pod(namespace)
    return {p.metadata.name: p.spec.node_name for p in pods.items if p.metadata.name.startswith(prefix)}


async def pod_group(api: client.ApiClient, namespace: str, name: str) -> dict[str, Any]:
    objects: Any = client.CustomObjectsApi(api)
    result: dict[str, Any] = await objects.get_namespaced_custom_object(GROUP, VERSION, namespace, "podgroups", name)
    return result


def serving_operator(kubeconfig: Path, folder: Path, *extra: str) -> Iterator[OperatorProcess]:
    """For module fixtures (`yield from`): `phalanx run` leading, stopped afterwards; its log is printed, which
    pytest shows when a test failed."""
    process = OperatorProcess(kubeconfig, folder / "operator.log", *extra)
    try:
        process.wait_ready()
        yield process
    finally:
        process.stop()
        print(process.log_tail(200))


@contextlib.asynccontextmanager
async def kubelet_namespace(api: client.ApiClient, prefix: str = "ns") -> AsyncIterator[str]:
    """A fresh namespace with a simulated kubelet running its pods."""
    core: Any = client.CoreV1Api(api)
    name = unique(prefix)
    await core.create_namespace({"metadata": {"name": name}})
    async with kubelet(api, name):
        yield name


async def stand_in_controller(api: client.ApiClient, namespace: str) -> dict[str, Any]:
    """An owner reference for pods a controller would recreate; a ConfigMap stands in (the test plays the
    controller), so no integration of ours takes the pods over. Where a Job fits, prefer the real Job controller
    (the `controller_manager` fixture): it creates and recreates the pods itself."""
    core: Any = client.CoreV1Api(api)
    made = await core.create_namespaced_config_map(namespace, {"metadata": {"name": "controller"}})
    return {"apiVersion": "v1", "kind": "ConfigMap", "name": "controller", "uid": made.metadata.uid, "controller": True}


async def unschedulable(api: client.ApiClient, namespace: str, name: str) -> bool:
    """Phalanx said PodScheduled=False on the pod (a decision that included it placed nothing)."""
    core: Any = client.CoreV1Api(api)
    pod = await core.read_namespaced_pod(name, namespace)
    return any(c.type == "PodScheduled" and c.status == "False" for c in pod.status.conditions or [])


async def seen_by_operator(api: client.ApiClient, namespace: str, pool: str) -> None:
    """Returns once Phalanx's pod watch has delivered everything that happened before this call: a pod of ours
    that fits nowhere is created after it, and Phalanx can only call it unschedulable once its watch got there."""
    core: Any = client.CoreV1Api(api)
    name = unique("sentinel")
    body = pod_body(name, pool, None, gpus=1)
    body["spec"]["nodeSelector"] = {"pool": unique("nowhere")}
    await core.create_namespaced_pod(namespace, body)

    async def answered() -> bool:
        return await unschedulable(api, namespace, name)

    await eventually(answered, within=30, what="Phalanx's verdict on a pod created after the race")
    await core.delete_namespaced_pod(name, namespace)

"""kube-controller-manager 1.20 (built beside the test API server by hack/k8s-test-server.sh) running the workload
controllers the integration tests rely on: Job, ReplicaSet, Deployment, StatefulSet, the garbage collector and the
disruption controller.

There is no kubelet and no node-lifecycle controller (the server keeps TaintNodesByCondition disabled instead), and
no service-account or token controller: `--use-service-account-credentials=false` makes every controller act with
the kubeconfig's (admin) credentials, and the server's ServiceAccount admission is off, so no pod needs a token and
no `--service-account-private-key-file` is needed (1.20 starts cleanly without one: that key only feeds the
serviceaccount-token controller). No port is served (`--port=0
--secure-port=0`), so there is no health endpoint to poll: readiness is proven by what the controllers do to a
probe (a Job gets its pod, a PodDisruptionBudget gets its status, the Job's delete cascades to the pod).

Stdlib only, like apiserver.py:

    with ControllerManager(bin_dir, server, Path("/tmp/x")) as manager:
        ...
"""

from __future__ import annotations

import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from tests.integration.apiserver import ApiServer, ApiServerError, stop_process

CONTROLLERS = ("job", "replicaset", "deployment", "statefulset", "garbagecollector", "disruption")
PROBE_NAMESPACE = "phalanx-controller-probe"


class ControllerManager:
    """Starts kube-controller-manager against `server`, waits until its controllers act, stops exactly it."""

    def __init__(
        self,
        bin_dir: Path,
        server: ApiServer,
        folder: Path,
        *,
        start_timeout: float = 60.0,
        controllers: tuple[str, ...] = CONTROLLERS,
    ) -> None:
        self.controllers = controllers
        self.bin_dir = bin_dir
        self.server = server
        self.folder = folder
        self.start_timeout = start_timeout
        self.log_path = folder / "kube-controller-manager.log"
        self.startup_seconds = 0.0
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> ControllerManager:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        binary = self.bin_dir / "kube-controller-manager"
        if not binary.is_file():
            raise ApiServerError(f"{binary} is missing; run hack/k8s-test-server.sh")
        self.folder.mkdir(parents=True, exist_ok=True)
        kubeconfig = self.server.kubeconfig_path  # the admin's: system:masters may do what every controller does
        command = [
            str(binary),
            f"--kubeconfig={kubeconfig}",
            "--leader-elect=false",
            "--port=0",
            "--secure-port=0",
            f"--controllers={','.join(self.controllers)}",
            "--use-service-account-credentials=false",
            # The default 20 qps throttle the garbage collector's and disruption controller's start-up listings.
            "--kube-api-qps=200",
            "--kube-api-burst=400",
            "--v=1",
        ]
        began = time.monotonic()
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        try:
            self._probe()
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - began

    def stop(self) -> None:
        if self.proc is not None:
            stop_process(self.proc)

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    # -- readiness -------------------------------------------------------------------

    def _probe(self) -> None:
        """A Job of one pod nobody schedules, and a budget over it: the Job controller creates the pod, the
        disruption controller computes the budget's status, and a background delete of the Job makes the garbage
        collector remove the pod. Each step waits on that signal; the objects are gone afterwards."""
        api = self.server.request
        if api("GET", f"/api/v1/namespaces/{PROBE_NAMESPACE}") is None:
            api("POST", "/api/v1/namespaces", {"metadata": {"name": PROBE_NAMESPACE}})
        name = f"probe-{uuid.uuid4().hex[:6]}"
        jobs = f"/apis/batch/v1/namespaces/{PROBE_NAMESPACE}/jobs"
        budgets = f"/apis/policy/v1beta1/namespaces/{PROBE_NAMESPACE}/poddisruptionbudgets"
        selector = {"matchLabels": {"probe": name}}
        api("POST", budgets, {"metadata": {"name": name}, "spec": {"minAvailable": 0, "selector": selector}})
        template = {
            "metadata": {"labels": {"probe": name}},
            "spec": {
                "schedulerName": "phalanx-probe-nobody",  # stays Pending, so deleting it needs no kubelet
                "restartPolicy": "Never",
                "containers": [{"name": "main", "image": "example.invalid/probe:1"}],
            },
        }
        job = api("POST", jobs, {"metadata": {"name": name}, "spec": {"parallelism": 1, "template": template}})
        assert job is not None
        pods = f"/api/v1/namespaces/{PROBE_NAMESPACE}/pods?labelSelector=controller-uid%3D{job['metadata']['uid']}"

        def pod_count() -> int:
            found = api("GET", pods)
            return len(found["items"]) if found else 0

        def budget_observed() -> bool:
            budget = api("GET", f"{budgets}/{name}")
            return budget is not None and budget.get("status", {}).get("observedGeneration", 0) >= 1

        self._wait("the Job controller to create the probe Job's pod", lambda: pod_count() == 1)
        self._wait("the disruption controller to compute the probe budget's status", budget_observed)
        api("DELETE", f"{budgets}/{name}")
        api("DELETE", f"{jobs}/{name}", {"propagationPolicy": "Background"})
        self._wait("the garbage collector to delete the probe Job's pod", lambda: pod_count() == 0)

    def _wait(self, what: str, done: Callable[[], bool]) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ApiServerError(
                    f"kube-controller-manager exited with code {self.proc.returncode} while waiting for {what}; "
                    f"log tail:\n{self.log_tail()}"
                )
            if done():
                return
            time.sleep(0.2)
        raise ApiServerError(
            f"timed out after {self.start_timeout:.0f}s waiting for {what}; log tail:\n{self.log_tail()}"
        )

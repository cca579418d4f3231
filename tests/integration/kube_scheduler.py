"""kube-scheduler 1.20 (built beside the test API server by hack/k8s-test-server.sh) as a second scheduler on the
same cluster: for the side-by-side benchmark and for races with Phalanx over the same nodes."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.integration.apiserver import free_port, stop_process

DEFAULT_SCHEDULER = "default-scheduler"


class KubeScheduler:
    """kube-scheduler with a v1beta1 configuration: client qps 500 / burst 1000 (as Phalanx's defaults), no
    leader election, health and metrics on a free loopback port (1.20 ignores --port=0 with --config), no HTTPS."""

    def __init__(self, bin_dir: Path, kubeconfig: Path, folder: Path, name: str = DEFAULT_SCHEDULER) -> None:
        address = f"127.0.0.1:{free_port()}"
        config = {
            "apiVersion": "kubescheduler.config.k8s.io/v1beta1",
            "kind": "KubeSchedulerConfiguration",
            "clientConnection": {"kubeconfig": str(kubeconfig), "qps": 500, "burst": 1000},
            "leaderElection": {"leaderElect": False},
            "healthzBindAddress": address,
            "metricsBindAddress": address,
            "profiles": [{"schedulerName": name}],
        }
        path = folder / "kube-scheduler.yaml"
        path.write_text(json.dumps(config))  # JSON is valid YAML
        self.log_path = folder / "kube-scheduler.log"
        self._log = self.log_path.open("ab")
        command = [str(bin_dir / "kube-scheduler"), f"--config={path}", "--secure-port=0", "--v=1"]
        self.proc = subprocess.Popen(command, stdout=self._log, stderr=subprocess.STDOUT)

    def stop(self) -> None:
        stop_process(self.proc)
        self._log.close()

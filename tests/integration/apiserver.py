"""A throwaway etcd + kube-apiserver on loopback ports, for integration tests.

Stdlib only, so it can be used outside pytest too (e.g. benchmarks):

    with ApiServer(Path(cache) / "bin", Path("/tmp/x")) as server:
        print(server.kubeconfig_path)
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

ADMIN_USER = "phalanx-admin"
SERVICE_CIDR = "10.0.0.0/24"


def free_port() -> int:
    """A currently free loopback TCP port (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def stop_process(proc: subprocess.Popen[bytes], grace_s: float = 15.0) -> None:
    """SIGTERM, then SIGKILL if it is still there after `grace_s`; waited for either way."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class ApiServerError(RuntimeError):
    pass


class ApiServer:
    """Starts etcd then kube-apiserver; stops exactly those two processes.

    rbac=False authorizes everything (AlwaysAllow); rbac=True enables RBAC, where
    the admin token still works because its user is in group system:masters.
    Every name in `users` gets its own token (no groups) for least-privilege tests;
    a static token file can't change after start, so they must be known up front.
    """

    def __init__(
        self,
        bin_dir: Path,
        base_dir: Path,
        *,
        rbac: bool = False,
        users: Sequence[str] = (),
        start_timeout: float = 60.0,
        upstream_scheduling: bool = False,
    ) -> None:
        self.bin_dir = bin_dir
        self.base_dir = base_dir
        self.rbac = rbac
        self.upstream_scheduling = upstream_scheduling
        self.start_timeout = start_timeout
        self.tokens: dict[str, str] = {name: secrets.token_hex(16) for name in (ADMIN_USER, *users)}
        self.token = self.tokens[ADMIN_USER]
        self.port = 0
        self.url = ""
        self.startup_seconds = 0.0
        self._dir: Path | None = None
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self._cleanup_dirs: list[Path] = []

    # -- paths -------------------------------------------------------------------

    @property
    def work_dir(self) -> Path:
        if self._dir is None:
            raise ApiServerError("server not started")
        return self._dir

    @property
    def kubeconfig_path(self) -> Path:
        return self.work_dir / "kubeconfig"

    @property
    def service_account_key_path(self) -> Path:
        """The RSA key the server signs and verifies service-account tokens with (PKCS#8 PEM)."""
        return self.work_dir / "sa.key"

    @property
    def ca_path(self) -> Path:
        # kube-apiserver writes its self-signed serving cert (with the CA) here.
        return self.work_dir / "certs" / "apiserver.crt"

    def log_path(self, name: str) -> Path:
        return self.work_dir / f"{name}.log"

    # -- lifecycle ---------------------------------------------------------------

    def __enter__(self) -> ApiServer:
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
        if self._dir is not None:
            raise ApiServerError("already started")
        for binary in ("etcd", "kube-apiserver"):
            if not os.access(self.bin_dir / binary, os.X_OK):
                raise ApiServerError(f"{self.bin_dir / binary} is missing; run hack/k8s-test-server.sh")
        self.base_dir.mkdir(parents=True, exist_ok=True)
        self._dir = Path(tempfile.mkdtemp(prefix="apiserver-", dir=self.base_dir))
        began = time.monotonic()
        try:
            etcd_url = self._start_etcd()
            self._start_apiserver(etcd_url)
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - began
        self.write_kubeconfig(self.kubeconfig_path, ADMIN_USER)

    def stop(self) -> None:
        # Reverse start order, so the apiserver never sees etcd vanish under it.
        for name, proc in reversed(list(self._procs.items())):
            stop_process(proc)
            self._procs.pop(name)
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None
        for path in self._cleanup_dirs:
            shutil.rmtree(path, ignore_errors=True)
        self._cleanup_dirs.clear()

    @property
    def alive(self) -> bool:
        """Whether both processes are still running (a crash shows up here)."""
        return bool(self._procs) and all(p.poll() is None for p in self._procs.values())

    def pid(self, name: str) -> int:
        return self._procs[name].pid

    # -- kubeconfig ----------------------------------------------------------------

    def write_kubeconfig(self, path: Path, user: str) -> Path:
        """A kubeconfig authenticating as `user` with its static token."""
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "phalanx-test",
                    "cluster": {"server": self.url, "certificate-authority": str(self.ca_path)},
                }
            ],
            "users": [{"name": user, "user": {"token": self.tokens[user]}}],
            "contexts": [{"name": "phalanx-test", "context": {"cluster": "phalanx-test", "user": user}}],
            "current-context": "phalanx-test",
        }
        path.write_text(json.dumps(config, indent=2))  # JSON is valid YAML
        return path

    def log_tail(self, name: str, lines: int = 40) -> str:
        try:
            text = self.log_path(name).read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def pids(self) -> dict[str, int]:
        """Process ids by component (etcd, kube-apiserver, kube-controller-manager when started)."""
        return {name: proc.pid for name, proc in self._procs.items()}

    # -- internals -----------------------------------------------------------------

    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        with self.log_path(name).open("wb") as log:
            # The child keeps its own copy of the log fd.
            proc = subprocess.Popen(
                [str(self.bin_dir / name), *args],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.work_dir,
            )
        self._procs[name] = proc
        return proc

    def _etcd_dir(self) -> Path:
        """etcd's data on tmpfs where there is one: a throwaway test store needs no fsync to a disk, and the
        disk's latency would otherwise set the pace of every write (bindings, status) in tests and benchmarks."""
        shm = Path("/dev/shm")
        if shm.is_dir() and os.access(shm, os.W_OK):
            path = Path(tempfile.mkdtemp(prefix="phalanx-etcd-", dir=shm))
            self._cleanup_dirs.append(path)
            return path
        return self.work_dir / "etcd"

    def _start_etcd(self) -> str:
        client, peer = f"http://127.0.0.1:{free_port()}", f"http://127.0.0.1:{free_port()}"
        self._spawn(
            "etcd",
            [
                "--name=phalanx-test",
                f"--data-dir={self._etcd_dir()}",
                f"--listen-client-urls={client}",
                f"--advertise-client-urls={client}",
                f"--listen-peer-urls={peer}",
                f"--initial-advertise-peer-urls={peer}",
                f"--initial-cluster=phalanx-test={peer}",
                "--log-level=warn",
            ],
        )
        self._wait_ready("etcd", f"{client}/health", lambda body: json.loads(body).get("health") == "true")
        return client

    def _start_apiserver(self, etcd_url: str) -> None:
        sa_key = self.service_account_key_path
        # openssl 3 writes PKCS#8, which k8s reads both as signing and verifying key.
        subprocess.run(
            ["openssl", "genrsa", "-out", str(sa_key), "2048"],
            check=True,
            capture_output=True,
        )
        token_file = self.work_dir / "tokens.csv"
        token_file.write_text(
            "".join(
                f'{token},{user},{user},"system:masters"\n' if user == ADMIN_USER else f"{token},{user},{user}\n"
                for user, token in self.tokens.items()
            )
        )
        self.port = free_port()
        self.url = f"https://127.0.0.1:{self.port}"
        self._spawn(
            "kube-apiserver",
            [
                f"--etcd-servers={etcd_url}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                f"--secure-port={self.port}",
                "--insecure-port=0",  # 1.20 still opens :8080 by default
                f"--cert-dir={self.work_dir / 'certs'}",
                f"--service-account-key-file={sa_key}",
                f"--service-account-signing-key-file={sa_key}",
                "--service-account-issuer=https://kubernetes.default.svc",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                f"--token-auth-file={token_file}",
                "--anonymous-auth=false",
                f"--authorization-mode={'RBAC' if self.rbac else 'AlwaysAllow'}",
                # No node-lifecycle controller runs (not even with the controller-manager fixture), so nothing
                # would ever clear the not-ready taint.
                "--disable-admission-plugins=ServiceAccount,TaintNodesByCondition"
                + (",Priority" if self.upstream_scheduling else ""),
                *self._upstream_scheduling_flags(),
                # Endpoints may not be loopback IPs; don't publish the kubernetes service's.
                "--endpoint-reconciler-type=none",
                "--profiling=false",
            ],
        )
        self._wait_ready("kube-apiserver", f"{self.url}/readyz", lambda body: body.strip() == "ok")

    def _upstream_scheduling_flags(self) -> list[str]:
        """A 1.20 server's own scheduling.k8s.io group (PriorityClass) owns every path under it, so copies of
        1.36/1.37's Workload and PodGroup (tests/integration/thirdparty/scheduling.k8s.io/) can only be served
        with that group off; PriorityClass is then a CRD copy too, and the Priority admission plugin, which
        needs the built-in type, is off: tests set pods' spec.priority as admission would."""
        if not self.upstream_scheduling:
            return []
        return ["--runtime-config=scheduling.k8s.io/v1=false,scheduling.k8s.io/v1beta1=false"]

    def _wait_ready(self, name: str, url: str, is_ok: Callable[[str], bool]) -> None:
        proc = self._procs[name]
        deadline = time.monotonic() + self.start_timeout
        last_error = "no answer yet"
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise ApiServerError(
                    f"{name} exited with code {proc.returncode} during startup; log tail:\n{self.log_tail(name)}"
                )
            try:
                if is_ok(self._get(url)):
                    return
                last_error = "not ready"
            except (OSError, ValueError) as err:  # refused, TLS not up yet, 5xx, bad JSON
                last_error = str(err)
            time.sleep(0.2)
        raise ApiServerError(
            f"{name} not ready at {url} after {self.start_timeout:.0f}s ({last_error}); "
            f"log tail:\n{self.log_tail(name)}"
        )

    def request(self, method: str, path: str, body: object = None) -> dict[str, Any] | None:
        """A JSON call as the admin (None for a 404), for stdlib-only helpers such as the controller-manager's
        readiness probe."""
        headers = {"Authorization": f"Bearer {self.token}", "Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(f"{self.url}{path}", data=data, headers=headers, method=method)
        context = ssl.create_default_context(cafile=str(self.ca_path))
        try:
            with urllib.request.urlopen(request, timeout=10, context=context) as response:
                answer: dict[str, Any] = json.loads(response.read() or b"{}")
                return answer
        except urllib.error.HTTPError as err:
            if err.code == 404:
                return None
            raise ApiServerError(f"{method} {path}: {err.code} {err.read().decode(errors='replace')}") from err

    def _get(self, url: str) -> str:
        request = urllib.request.Request(url, headers={"Authorization": f"Bearer {self.token}"})
        context = None
        if url.startswith("https:"):
            # The CA file appears only once the server generated its certs.
            context = ssl.create_default_context(cafile=str(self.ca_path)) if self.ca_path.exists() else None
            if context is None:
                raise ValueError("serving certificate not written yet")
        with urllib.request.urlopen(request, timeout=5, context=context) as response:
            body: bytes = response.read()
            return body.decode()

"""A real Prometheus for integration tests: Debian's, cached outside the repo by hack/prometheus.sh.

It scrapes the given targets and evaluates the given rule files every second, keeps its data in a folder of
the test's, and answers PromQL over its HTTP API. Stdlib only; blocking calls, so async tests wrap them
(`wait_for` does):

    with Prometheus(prometheus_bin_dir(), tmp / "prom", ["127.0.0.1:9100"]) as prom:
        prom.query("up")
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from tests.integration.apiserver import free_port, stop_process

ROOT = Path(__file__).resolve().parents[2]
FETCH_SCRIPT = ROOT / "hack" / "prometheus.sh"

Series = list[dict[str, Any]]  # an instant vector as the API answers it: [{"metric": {...}, "value": [t, "v"]}]


class PrometheusError(RuntimeError):
    pass


def prometheus_bin_dir() -> Path:
    """The cached bin folder (prometheus, promtool), fetched on first use by hack/prometheus.sh."""
    result = subprocess.run([str(FETCH_SCRIPT)], stdout=subprocess.PIPE, text=True, check=False)
    if result.returncode != 0 or not result.stdout.strip():
        raise PrometheusError(f"{FETCH_SCRIPT} failed (exit {result.returncode}); see its output above")
    return Path(result.stdout.strip().splitlines()[-1]) / "bin"


def values(series: Series) -> list[float]:
    return [float(s["value"][1]) for s in series]


class Prometheus:
    def __init__(self, bin_dir: Path, base_dir: Path, targets: Sequence[str], rule_files: Sequence[Path] = ()) -> None:
        self.bin_dir = bin_dir
        self.base_dir = base_dir
        self.targets = list(targets)
        self.rule_files = [str(p) for p in rule_files]
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = base_dir / "prometheus.log"
        self._proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Prometheus:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self, within: float = 30.0) -> None:
        self.base_dir.mkdir(parents=True, exist_ok=True)
        config = {
            "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
            "rule_files": self.rule_files,
            "scrape_configs": [{"job_name": "phalanx", "static_configs": [{"targets": self.targets}]}],
        }
        config_path = self.base_dir / "prometheus.yml"
        config_path.write_text(json.dumps(config, indent=2))  # JSON is YAML
        command = [
            str(self.bin_dir / "prometheus"),
            f"--config.file={config_path}",
            f"--storage.tsdb.path={self.base_dir / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--log.level=warn",
        ]
        with self.log_path.open("wb") as log:
            self._proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + within
        while not self._ready():
            if self._proc.poll() is not None:
                raise PrometheusError(f"prometheus exited with {self._proc.returncode}:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                raise PrometheusError(f"prometheus not ready within {within} s:\n{self.log_tail()}")
            time.sleep(0.1)

    def stop(self) -> None:
        if self._proc is not None:
            stop_process(self._proc)
        self._proc = None

    def log_tail(self, lines: int = 40) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def _ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as response:
                return int(response.status) == 200
        except OSError:
            return False

    def api(self, path: str, **params: str) -> Any:
        """The `data` of an HTTP API answer; an error answer (a query that does not parse, say) raises."""
        url = f"{self.url}/api/v1/{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                answer = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            answer = json.loads(exc.read() or b"{}")
        if answer.get("status") != "success":
            raise PrometheusError(f"{path} {params}: {answer.get('errorType')}: {answer.get('error')}")
        return answer["data"]

    def query(self, expr: str) -> Series:
        """An instant query, now; only vectors are expected (every expression these tests ask for is one)."""
        data = self.api("query", query=expr)
        if data["resultType"] != "vector":
            raise PrometheusError(f"{expr}: a {data['resultType']}, not a vector")
        result: Series = data["result"]
        return result

    def rules(self) -> list[dict[str, Any]]:
        """Every loaded rule, with its health, last error and (alerts) state."""
        return [rule for group in self.api("rules")["groups"] for rule in group["rules"]]

    async def wait_for(
        self, expr: str, check: Callable[[Series], bool], within: float = 30.0, what: str = ""
    ) -> Series:
        """Poll `expr` until `check` holds for its answer; the answer last seen is in the error otherwise."""
        deadline = time.monotonic() + within
        while True:
            series = await asyncio.to_thread(self.query, expr)
            if check(series):
                return series
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what or expr}: last answer {series}")
            await asyncio.sleep(0.25)

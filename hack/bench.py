#!/usr/bin/env python3
"""All benchmarks: `make bench` (add --quick for a short run, --json FILE to keep the figures). Figures and ratios,
never pass/fail.

bench_e2e.py, bench_side_by_side.py and bench_load.py start their own kube-apiserver (hack/k8s-test-server.sh
builds it once) and `phalanx run`; bench_side_by_side.py runs kube-scheduler 1.20 on the same workloads.

Every script takes the same argv. With --json FILE each merges its figures into FILE, one JSON object keyed by
bench name ("placement", "preemption", "scale", ...): the file keeps the other benches' entries, so running one
script alone updates only its own.
"""

from __future__ import annotations

import json
import os
import runpy
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCHES = [
    "bench_placement.py",
    "bench_preemption.py",
    "bench_scale.py",
    "bench_e2e.py",
    "bench_side_by_side.py",
    "bench_load.py",
    "bench_latency.py",
]


def write_json(path: str | None, name: str, figures: Mapping[str, Any]) -> None:
    """Merge one bench's figures into the JSON object in `path` under `name` (nothing without a path)."""
    if not path:
        return
    file = Path(path)
    text = file.read_text() if file.exists() else ""
    data = json.loads(text) if text.strip() else {}
    if not isinstance(data, dict):
        raise SystemExit(f"{path}: not a JSON object of benches; refusing to overwrite it")
    data[name] = {
        **figures,
        "recorded_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "load_average": os.getloadavg(),
    }
    partial = file.with_name(f".{file.name}.partial")
    partial.write_text(json.dumps(data, indent=2, default=str) + "\n")
    partial.replace(file)


if __name__ == "__main__":
    here = Path(__file__).resolve().parent
    for name in BENCHES:
        sys.argv = [name, *sys.argv[1:]]
        runpy.run_path(str(here / name), run_name="__main__")

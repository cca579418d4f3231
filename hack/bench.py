#!/usr/bin/env python3
"""All benchmarks: `make bench` (add --quick for a short run). Figures and ratios, never pass/fail.

bench_e2e.py, bench_side_by_side.py and bench_load.py start their own kube-apiserver (hack/k8s-test-server.sh
builds it once) and `phalanx run`; bench_side_by_side.py runs kube-scheduler 1.20 on the same workloads.
"""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

BENCHES = [
    "bench_placement.py",
    "bench_preemption.py",
    "bench_e2e.py",
    "bench_side_by_side.py",
    "bench_load.py",
    "bench_latency.py",
]

if __name__ == "__main__":
    here = Path(__file__).resolve().parent
    for name in BENCHES:
        sys.argv = [name, *sys.argv[1:]]
        runpy.run_path(str(here / name), run_name="__main__")

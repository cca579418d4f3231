#!/usr/bin/env python3
"""Placement benchmarks (issue: gang placement core). Prints figures and ratios; not a pass/fail test.

Run through `make bench`. Every figure comes from one run on this machine, side by side.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import write_json

from scheduler.api.core import Pod
from scheduler.api.podgroup import SolverStatus
from scheduler.solver.filters import FilterCache
from scheduler.solver.neighbours import Neighbours
from scheduler.solver.placement import place_gang
from scheduler.solver.plan import Plan
from scheduler.solver.problem import Gang, PodSet, Signature, SolverParams, TopologyRule, gang_from_pods
from scheduler.topology.capacity import Capacity
from scheduler.topology.nodes import NodeInfo
from scheduler.topology.tree import TopologyTree

ZONE, BLOCK, RACK, HOST = (
    "topology.kubernetes.io/zone",
    "network.phalanx.dev/block",
    "network.phalanx.dev/rack",
    "kubernetes.io/hostname",
)
LEVELS = (ZONE, BLOCK, RACK, HOST)
GPU = "nvidia.com/gpu"
GI = 2**30
PARAMS = SolverParams(time_limit_s=3.0, num_workers=1, large_model_workers=2)


def cluster(zones: int, blocks: int, racks: int, nodes: int) -> list[NodeInfo]:
    out = []
    for z in range(zones):
        for b in range(blocks):
            for r in range(racks):
                for n in range(nodes):
                    name = f"z{z}b{b}r{r}n{n}"
                    labels = {ZONE: f"z{z}", BLOCK: f"z{z}b{b}", RACK: f"z{z}b{b}r{r}", HOST: name}
                    out.append(NodeInfo(name, labels, {"cpu": 96_000, "memory": 768 * GI, GPU: 8, "pods": 110}))
    return out


def signature(cpu: int, gpu: int, memory_gi: int = 16) -> Signature:
    return Signature(requests=tuple(sorted({"cpu": cpu * 1000, "memory": memory_gi * GI, GPU: gpu, "pods": 1}.items())))


def make_gang(name: str, sets: list[tuple[int, Signature]], rules: tuple[TopologyRule, ...] = ()) -> Gang:
    pod_sets = tuple(PodSet(sig, tuple(f"{name}-{i}-{j}" for j in range(n))) for i, (n, sig) in enumerate(sets))
    return Gang(name, pod_sets, sum(n for n, _ in sets), rules)


def background(tree: TopologyTree, rng: np.random.Generator, busy: float) -> Capacity:
    """Random load: each node has 0..8 GPUs (and matching cpu) in use with mean fraction `busy`."""
    used = {}
    for node in tree.nodes:
        gpus = int(rng.binomial(8, busy))
        used[node.name] = {GPU: gpus, "cpu": gpus * 10_000, "memory": gpus * 64 * GI, "pods": gpus}
    return Capacity(tree, used)


def reserve(capacity: Capacity, plan: Plan, gang: Gang) -> None:
    request = {p: s.signature.request_map for s in gang.pod_sets for p in s.pods}
    for pod, node in plan.assignments.items():
        i = capacity.tree.index[node]
        for resource, amount in request[pod].items():
            capacity.used[i, capacity.column[resource]] += amount


def timed(fn: Callable[[], Plan]) -> tuple[Plan, float]:
    started = time.perf_counter()
    plan = fn()
    return plan, time.perf_counter() - started


def bench_throughput(console: Console, gangs: int) -> dict[str, float]:
    """Gangs of 4 on 5,000 nodes, each decision reserving its capacity for the next."""
    tree = TopologyTree(LEVELS, cluster(2, 5, 20, 25))
    capacity = background(tree, np.random.default_rng(1), 0.3)
    cache = FilterCache(tree)
    shapes = [signature(4, 1), signature(8, 2), signature(16, 0, 64)]
    placed = 0
    started = time.perf_counter()
    for g in range(gangs):
        gang = make_gang(f"g{g}", [(4, shapes[g % len(shapes)])])
        plan = place_gang(capacity, gang, PARAMS, cache)
        if plan.placed:
            reserve(capacity, plan, gang)
            placed += len(plan.assignments)
    elapsed = time.perf_counter() - started
    return {"pods_per_s": placed / elapsed, "gangs": gangs, "placed": placed, "seconds": elapsed}


def big_gang(tree: TopologyTree, seed: int) -> tuple[Capacity, Gang]:
    capacity = background(tree, np.random.default_rng(seed), 0.35)
    rules = (TopologyRule(BLOCK, True), TopologyRule(RACK, False))
    return capacity, make_gang("big", [(512, signature(8, 1))], rules)


def bench_big_gang(tree: TopologyTree, runs: int, greedy_only: bool = False) -> tuple[list[float], list[Plan]]:
    cache = FilterCache(tree)
    times, plans = [], []
    for seed in range(runs):
        capacity, gang = big_gang(tree, seed)
        plan, seconds = timed(lambda c=capacity, g=gang: place_gang(c, g, PARAMS, cache, greedy_only=greedy_only))
        times.append(seconds)
        plans.append(plan)
    return times, plans


def constrained_gang(size: int) -> Gang:
    """The pods users write for training workers: one per node (anti-affinity on the hostname) and an even
    spread over zones (maxSkew 1), built from pod specs as the engine builds them."""
    spec = {
        "schedulerName": "phalanx",
        "containers": [{"name": "w", "resources": {"requests": {"cpu": "8", "memory": "16Gi", GPU: 1}}}],
        "affinity": {
            "podAntiAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": [
                    {"labelSelector": {"matchLabels": {"app": "w"}}, "topologyKey": HOST}
                ]
            }
        },
        "topologySpreadConstraints": [
            {
                "maxSkew": 1,
                "topologyKey": ZONE,
                "whenUnsatisfiable": "DoNotSchedule",
                "labelSelector": {"matchLabels": {"app": "w"}},
            }
        ],
    }
    pods = [
        (
            f"ml/w-{i}",
            Pod.model_validate(
                {"metadata": {"name": f"w-{i}", "namespace": "ml", "labels": {"app": "w"}}, "spec": spec}
            ),
        )
        for i in range(size)
    ]
    return gang_from_pods("ml/w", pods, size, policy=None)


def bench_constrained(tree: TopologyTree, runs: int) -> tuple[list[float], list[Plan]]:
    cache = FilterCache(tree)
    times, plans = [], []
    gang = constrained_gang(512)
    for seed in range(runs):
        capacity = background(tree, np.random.default_rng(seed), 0.35)
        plan, seconds = timed(lambda c=capacity: place_gang(c, gang, PARAMS, cache, neighbours=Neighbours()))
        times.append(seconds)
        plans.append(plan)
    return times, plans


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def locality_instances(count: int) -> list[tuple[Capacity, Gang]]:
    """Contended, seeded instances where locality matters: gangs preferring one rack, then one block."""
    tree = TopologyTree(LEVELS, cluster(1, 4, 8, 16))
    out = []
    for seed in range(count):
        rng = np.random.default_rng(100 + seed)
        capacity = background(tree, rng, float(rng.uniform(0.3, 0.7)))
        size = int(rng.choice([8, 16, 24, 32, 48]))
        sets = [(size, signature(6, int(rng.choice([1, 2]))))]
        if rng.random() < 0.5:
            sets.append((1, signature(4, 0, 8)))
        out.append((capacity, make_gang(f"loc{seed}", sets, (TopologyRule(BLOCK, False), TopologyRule(RACK, False)))))
    return out


def spans(plan: Plan, key: str) -> int:
    return len({name.split("n")[0] if key == RACK else name.split("r")[0] for name in plan.assignments.values()})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument("--json", help="merge the figures into this JSON file (key: placement)")
    args = parser.parse_args()
    console = Console()
    runs = 10 if args.quick else 40

    table = Table(title="Placement benchmarks (2 cores, one run, side by side)", title_justify="left")
    for column in ("Benchmark", "Figure", "Target", "Verdict"):
        table.add_column(column)

    figures: dict[str, Any] = {"runs": runs}
    through = bench_throughput(console, 300 if args.quick else 1500)
    figures["throughput"] = through
    ok = through["pods_per_s"] >= 1500
    table.add_row(
        "decisions, 5,000 nodes, gangs of 4",
        f"{through['pods_per_s']:,.0f} pods/s ({through['placed']:,} pods)",
        ">= 1,500 pods/s",
        "met" if ok else "MISSED",
    )

    tree4k = TopologyTree(LEVELS, cluster(2, 4, 16, 32))
    times, plans = bench_big_gang(tree4k, runs)
    median, p99 = statistics.median(times) * 1000, pct(times, 99) * 1000
    statuses = {s.value: sum(p.status is s for p in plans) for s in SolverStatus if any(p.status is s for p in plans)}
    worst = max((p.gap for p in plans if p.gap is not None), default=0.0)
    methods = dict(Counter(p.method for p in plans))
    figures["big_gang_4k"] = {
        "median_s": median / 1000,
        "p99_s": p99 / 1000,
        "statuses": statuses,
        "worst_gap": worst,
        "methods": methods,
    }
    table.add_row(
        "512-pod gang, 4,096 nodes, 4 levels, 35 % busy",
        f"median {median:.1f} ms, p99 {p99:.1f} ms; {statuses}, worst gap {worst:.3%}; {methods}",
        "<= 25 ms median, <= 100 ms p99, optimal or gap <= 1 %",
        "met" if median <= 25 and p99 <= 100 and worst <= 0.01 else "MISSED",
    )

    c_times, c_plans = bench_constrained(tree4k, max(5, runs // 4))
    c_median = statistics.median(c_times) * 1000
    c_status = Counter(p.status.value for p in c_plans)
    gaps = [p.gap for p in c_plans if p.gap is not None]
    figures["constrained_4k"] = {
        "median_s": c_median / 1000,
        "p99_s": pct(c_times, 99),
        "statuses": dict(c_status),
        "worst_gap": max(gaps, default=0),
        "all_placed": all(p.placed for p in c_plans),
    }
    table.add_row(
        "  ... one per node (anti-affinity) + zone spread maxSkew 1",
        f"median {c_median:.1f} ms ({c_median / median:.1f}x the unconstrained), p99 {pct(c_times, 99) * 1000:.1f} ms;"
        f" {dict(c_status)}, worst gap {max(gaps, default=0):.2%}",
        "<= 100 ms median, optimal or gap reported",
        "met" if c_median <= 100 and all(p.placed for p in c_plans) else "MISSED",
    )

    empty_times = []
    for _ in range(runs):
        capacity = Capacity(tree4k, {})
        gang = make_gang("big", [(512, signature(8, 1))], (TopologyRule(BLOCK, True), TopologyRule(RACK, False)))
        plan, seconds = timed(lambda c=capacity, g=gang: place_gang(c, g, PARAMS, FilterCache(tree4k)))
        empty_times.append(seconds)
    figures["idle_4k"] = {"median_s": statistics.median(empty_times), "p99_s": pct(empty_times, 99)}
    table.add_row(
        "  ... the same gang on an idle cluster",
        f"median {statistics.median(empty_times) * 1000:.1f} ms, p99 {pct(empty_times, 99) * 1000:.1f} ms; "
        f"{plan.status.value} ({plan.method})",
        "<= 25 ms median, <= 250 ms p99",
        "met" if statistics.median(empty_times) <= 0.025 and pct(empty_times, 99) <= 0.25 else "MISSED",
    )

    scaling = []
    for label, shape in (("1k", (2, 2, 8, 32)), ("4k", (2, 4, 16, 32)), ("16k", (4, 8, 16, 32))):
        tree = TopologyTree(LEVELS, cluster(*shape))
        t, _ = bench_big_gang(tree, max(5, runs // 4))
        scaling.append((label, len(tree), statistics.median(t) * 1000))
    ratio = scaling[-1][2] / scaling[0][2]
    figures["scaling"] = {"median_s_by_nodes": {n: ms / 1000 for _, n, ms in scaling}, "ratio_16k_1k": ratio}
    table.add_row(
        "512-pod gang, median vs cluster size",
        ", ".join(f"{n:,} nodes {ms:.1f} ms" for _, n, ms in scaling) + f"; 16x nodes -> {ratio:.1f}x time",
        "sub-linear",
        "met" if ratio < 16 else "MISSED",
    )

    instances = locality_instances(20 if args.quick else 60)
    tally: Counter[str] = Counter()
    spent = {"exact": 0.0, "greedy": 0.0}
    for capacity, gang in instances:
        exact, seconds_exact = timed(lambda c=capacity, g=gang: place_gang(c, g, PARAMS))
        greedy, seconds_greedy = timed(lambda c=capacity, g=gang: place_gang(c, g, PARAMS, greedy_only=True))
        spent["exact"] += seconds_exact
        spent["greedy"] += seconds_greedy
        for name, plan in (("exact", exact), ("greedy", greedy)):
            if plan.placed:
                tally[f"{name} rack"] += spans(plan, RACK) == 1
                tally[f"{name} block"] += spans(plan, BLOCK) == 1
        if exact.score is not None and greedy.score is not None:
            tally["better"] += exact.score < greedy.score
            tally["worse"] += exact.score > greedy.score
    n = len(instances)
    figures["cp_sat_vs_greedy"] = {"instances": n, **tally, **{f"{k}_s": v for k, v in spent.items()}}
    table.add_row(
        f"CP-SAT vs greedy, {n} contended gangs",
        f"one rack: {tally['exact rack']} vs {tally['greedy rack']}; "
        f"one block: {tally['exact block']} vs {tally['greedy block']}; "
        f"better score {tally['better']}, worse {tally['worse']}; "
        f"mean {spent['exact'] / n * 1000:.1f} ms vs {spent['greedy'] / n * 1000:.1f} ms",
        "never worse locality than greedy",
        "met"
        if tally["worse"] == 0
        and tally["exact rack"] >= tally["greedy rack"]
        and tally["exact block"] >= tally["greedy block"]
        else "MISSED",
    )
    console.print(table)
    write_json(args.json, "placement", figures)


if __name__ == "__main__":
    main()

"""Figures from simulation results: a summary per policy, a JSON file, and PNG charts.

Every figure is computed from the recorded samples, jobs and event log, so the report can be checked against
the log (tests do).
"""

from __future__ import annotations

import itertools
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from scheduler.sim.simulator import SimResult

COLOURS = {"phalanx": "#2a6f97", "greedy": "#8d8d8d", "pod-by-pod": "#c0504d"}


@dataclass(frozen=True)
class Summary:
    policy: str
    jobs: int
    started: int
    completed: int
    never_started: int
    mean_wait_s: float
    p95_wait_s: float
    utilisation: float  # allocated share of the measured resource, time-averaged
    useful_utilisation: float  # share held by jobs that are running
    partial_hours: float  # resource-hours held by bound pods of jobs that cannot run
    preemptions: int
    victim_pods: int
    lost_hours: float  # resource-hours of work thrown away by preemption
    one_rack: float  # share of started multi-pod jobs placed in one rack
    one_block: float
    decision_p50_ms: float
    decision_p99_ms: float
    makespan_s: float
    resource: str
    nodes_added: int = 0  # by the simulated autoscaler
    provision_requests: int = 0


def summarize(result: SimResult) -> Summary:
    jobs = result.jobs
    waits = [j.wait for j in jobs if j.wait is not None]
    multi = [j for j in jobs if j.started is not None and len(j.pods) > 1]
    seconds = [d["seconds"] * 1000 for d in result.decisions if d["unit"]]
    preempts = [e for e in result.log if e["event"] == "preempt"]
    end = max(result.end, 1e-9)
    return Summary(
        policy=result.policy.value,
        jobs=len(jobs),
        started=sum(j.started is not None for j in jobs),
        completed=sum(j.finished is not None for j in jobs),
        never_started=sum(j.started is None for j in jobs),
        mean_wait_s=float(np.mean(waits)) if waits else 0.0,
        p95_wait_s=float(np.percentile(waits, 95)) if waits else 0.0,
        utilisation=_time_average(result, "allocated") / max(1e-9, _time_average(result, "capacity")),
        useful_utilisation=_time_average(result, "running") / max(1e-9, _time_average(result, "capacity")),
        partial_hours=_time_average(result, "partial") * end / 3600,
        preemptions=len(preempts),
        victim_pods=sum(len(e["victims"]) for e in preempts),
        lost_hours=sum(j.lost for j in jobs) / 3600,
        one_rack=sum(j.racks == 1 for j in multi) / len(multi) if multi else 0.0,
        one_block=sum(j.blocks == 1 for j in multi) / len(multi) if multi else 0.0,
        decision_p50_ms=float(np.percentile(seconds, 50)) if seconds else 0.0,
        decision_p99_ms=float(np.percentile(seconds, 99)) if seconds else 0.0,
        makespan_s=max((j.finished for j in jobs if j.finished is not None), default=0.0),
        resource=result.resource,
        nodes_added=sum(e["nodes"] for e in result.log if e["event"] == "provision"),
        provision_requests=sum(1 for e in result.log if e["event"] == "provision"),
    )


def _time_average(result: SimResult, field: str) -> float:
    """Average of a step function held from each sample to the next, over [0, end]."""
    samples = result.samples
    if len(samples) < 2 or result.end <= 0:
        return 0.0
    total = 0.0
    for current, following in itertools.pairwise(samples):
        total += getattr(current, field) * (following.t - current.t)
    return total / result.end


def write_report(name: str, results: list[SimResult], summaries: list[Summary], folder: Path) -> list[Path]:
    """report.json plus utilisation, wait and comparison charts; returns the files written."""
    folder.mkdir(parents=True, exist_ok=True)
    data: dict[str, Any] = {"scenario": name, "policies": {}}
    for result, summary in zip(results, summaries, strict=True):
        data["policies"][summary.policy] = {
            "summary": asdict(summary),
            "jobs": [
                {
                    "key": j.key,
                    "pods": len(j.pods),
                    "arrival": j.arrival,
                    "started": j.started,
                    "finished": j.finished,
                    "interruptions": j.interruptions,
                    "racks": j.racks,
                    "blocks": j.blocks,
                }
                for j in result.jobs
            ],
            "samples": [asdict(s) for s in result.samples],
            "events": result.log,
        }
    report = folder / "report.json"
    report.write_text(json.dumps(data, indent=1))
    return [report, *_charts(results, summaries, folder)]


def _charts(results: list[SimResult], summaries: list[Summary], folder: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    fig, ax = plt.subplots(figsize=(9, 4))
    for result in results:
        times = [s.t / 3600 for s in result.samples]
        ax.step(
            times,
            [s.allocated / max(1, s.capacity) for s in result.samples],
            where="post",
            label=f"{result.policy.value}: allocated",
        )
        ax.step(
            times,
            [s.running / max(1, s.capacity) for s in result.samples],
            where="post",
            linestyle="--",
            label=f"{result.policy.value}: running jobs",
        )
    ax.set_xlabel("hours")
    ax.set_ylabel(f"share of {results[0].resource if results else ''}")
    ax.set_ylim(0, 1.05)
    ax.set_title("Utilisation over time (dashed: held by jobs that can actually run)")
    ax.legend(fontsize="small", ncol=2)
    fig.tight_layout()
    paths.append(folder / "utilisation.png")
    fig.savefig(paths[-1], dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(7, 4))
    waits = [[j.wait / 60 for j in r.jobs if j.wait is not None] or [0.0] for r in results]
    ax.boxplot(waits, tick_labels=[r.policy.value for r in results])
    ax.set_ylabel("wait until running (minutes)")
    ax.set_title("Gang wait distribution")
    fig.tight_layout()
    paths.append(folder / "waits.png")
    fig.savefig(paths[-1], dpi=110)
    plt.close(fig)

    fig, axes = plt.subplots(1, 4, figsize=(12, 3.5))
    panels = [
        ("mean wait (min)", [s.mean_wait_s / 60 for s in summaries]),
        ("useful utilisation", [s.useful_utilisation for s in summaries]),
        (f"partial-gang {summaries[0].resource if summaries else ''}-hours", [s.partial_hours for s in summaries]),
        ("jobs never started", [float(s.never_started) for s in summaries]),
    ]
    for ax, (title, values) in zip(axes, panels, strict=True):
        ax.bar([s.policy for s in summaries], values, color=[COLOURS.get(s.policy, "#555555") for s in summaries])
        ax.set_title(title, fontsize="medium")
        ax.tick_params(axis="x", labelsize="small")
    fig.suptitle("Policies on the same trace")
    fig.tight_layout()
    paths.append(folder / "comparison.png")
    fig.savefig(paths[-1], dpi=110)
    plt.close(fig)
    return paths

"""Figures from simulation results: a summary per policy, a JSON file, and PNG charts.

Every figure is computed from the recorded samples, jobs and event log, so the report can be checked against
the log (tests do). Time averages share one window across the policies compared: a policy that leaves a pod
pending until the horizon would otherwise average over a longer run than the others and look idle, and one
whose run ends early would look busy.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from scheduler.api.membership import pod_group_of
from scheduler.sim.scenario import Scenario
from scheduler.sim.simulator import Job, Sample, SimResult

COLOURS = {"phalanx": "#2a6f97", "greedy": "#8d8d8d", "pod-by-pod": "#c0504d"}
NO_CLASS = "no class"


class ReportDirError(OSError):
    """The report directory cannot be written; raised before a simulation spends minutes to find out."""


@dataclass(frozen=True)
class Window:
    """The span [0, end_s] every policy's time averages are taken over."""

    end_s: float
    basis: str  # why it ends there, for the table's title


@dataclass(frozen=True)
class ClassWaits:
    priority_class: str
    jobs: int  # that started
    p50_s: float | None
    p95_s: float | None


@dataclass(frozen=True)
class Summary:
    policy: str
    jobs: int
    started: int
    completed: int
    never_started: int
    mean_wait_s: float | None  # None: no job started, so there is no wait to speak of
    p50_wait_s: float | None
    p95_wait_s: float | None
    utilisation: float  # allocated share of the measured resource, time-averaged over the window
    useful_utilisation: float  # share held by jobs that are running
    partial_hours: float  # resource-hours held by bound pods of jobs that cannot run, within the window
    preemptions: int
    victim_pods: int
    lost_hours: float  # resource-hours of work thrown away by preemption
    one_rack: float | None  # share of started multi-pod jobs placed in one rack; None: no such job
    one_block: float | None
    decision_p50_ms: float | None
    decision_p99_ms: float | None
    makespan_s: float | None  # the last completion; None: nothing completed
    resource: str
    window_s: float
    window_basis: str
    waits_by_class: tuple[ClassWaits, ...] = ()
    nodes_added: int = 0  # by the simulated autoscaler
    provision_requests: int = 0


def makespan(result: SimResult) -> float | None:
    return max((j.finished for j in result.jobs if j.finished is not None), default=None)


def common_window(results: Sequence[SimResult]) -> Window:
    """From t=0 to the last job completion of any policy; the horizon only if no policy completed anything."""
    ends = [m for m in (makespan(r) for r in results) if m is not None]
    if ends and max(ends) > 0:
        return Window(max(ends), "to the last job completion of any policy")
    return Window(max((r.end for r in results), default=0.0), "to the horizon, as no job completed")


def job_classes(scenario: Scenario) -> dict[str, str]:
    """Job key (a PodGroup's or a lone pod's namespace/name) to the name of its priority class."""
    out: dict[str, str] = {}
    for pod in scenario.pods:
        namespace = pod.metadata.namespace or "default"
        name = pod_group_of(pod)
        key = f"{namespace}/{name or pod.metadata.name}"
        if pod.spec.priority_class_name and key not in out:
            out[key] = pod.spec.priority_class_name
    # A group's own class wins over its pods': it is the one the scheduler ranks the gang by.
    for group in scenario.pod_groups:
        if group.spec.priority_class_name:
            out[f"{group.metadata.namespace or 'default'}/{group.metadata.name}"] = group.spec.priority_class_name
    return out


def summarize_all(results: Sequence[SimResult], classes: Mapping[str, str] | None = None) -> list[Summary]:
    """One summary per result, every one over the same window, so their figures compare."""
    window = common_window(results)
    return [summarize(r, window, classes) for r in results]


def summarize(result: SimResult, window: Window | None = None, classes: Mapping[str, str] | None = None) -> Summary:
    window = window or common_window([result])
    jobs = result.jobs
    waits = [j.wait for j in jobs if j.wait is not None]
    multi = [j for j in jobs if j.started is not None and len(j.pods) > 1]
    seconds = [d["seconds"] * 1000 for d in result.decisions if d["unit"]]
    preempts = [e for e in result.log if e["event"] == "preempt"]
    capacity = _integral(result.samples, "capacity", window.end_s)
    return Summary(
        policy=result.policy.value,
        jobs=len(jobs),
        started=sum(j.started is not None for j in jobs),
        completed=sum(j.finished is not None for j in jobs),
        never_started=sum(j.started is None for j in jobs),
        mean_wait_s=float(np.mean(waits)) if waits else None,
        p50_wait_s=_percentile(waits, 50),
        p95_wait_s=_percentile(waits, 95),
        utilisation=_integral(result.samples, "allocated", window.end_s) / max(1e-9, capacity),
        useful_utilisation=_integral(result.samples, "running", window.end_s) / max(1e-9, capacity),
        partial_hours=_integral(result.samples, "partial", window.end_s) / 3600,
        preemptions=len(preempts),
        victim_pods=sum(len(e["victims"]) for e in preempts),
        lost_hours=sum(j.lost for j in jobs) / 3600,
        one_rack=sum(j.racks == 1 for j in multi) / len(multi) if multi else None,
        one_block=sum(j.blocks == 1 for j in multi) / len(multi) if multi else None,
        decision_p50_ms=_percentile(seconds, 50),
        decision_p99_ms=_percentile(seconds, 99),
        makespan_s=makespan(result),
        resource=result.resource,
        window_s=window.end_s,
        window_basis=window.basis,
        waits_by_class=_waits_by_class(jobs, classes or {}),
        nodes_added=sum(e["nodes"] for e in result.log if e["event"] == "provision"),
        provision_requests=sum(1 for e in result.log if e["event"] == "provision"),
    )


def _percentile(values: Sequence[float], q: float) -> float | None:
    return float(np.percentile(values, q)) if values else None


def _waits_by_class(jobs: Sequence[Job], classes: Mapping[str, str]) -> tuple[ClassWaits, ...]:
    by_class: dict[str, list[Job]] = defaultdict(list)
    for job in jobs:
        by_class[classes.get(job.key, NO_CLASS)].append(job)
    if len(by_class) < 2:
        return ()
    out = []
    for name, members in sorted(by_class.items()):
        waits = [j.wait for j in members if j.wait is not None]
        out.append(ClassWaits(name, len(waits), _percentile(waits, 50), _percentile(waits, 95)))
    return tuple(out)


def _integral(samples: Sequence[Sample], field: str, end: float) -> float:
    """Integral over [0, end] of a step function held from each sample to the next, the last one held to `end`
    (nothing changes after a run's last event) and anything after `end` cut off."""
    total = 0.0
    for i, current in enumerate(samples):
        following = samples[i + 1].t if i + 1 < len(samples) else end
        start, stop = min(current.t, end), min(max(following, current.t), end)
        total += getattr(current, field) * (stop - start)
    return total


def check_writable(folder: Path) -> None:
    """Create `folder` and prove a file can be written there, or raise ReportDirError."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handle, probe = tempfile.mkstemp(dir=folder, prefix=".phalanx-probe-")
        os.close(handle)
        os.unlink(probe)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise ReportDirError(f"cannot write the report to {folder}: {reason}") from exc


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
    if summaries:
        ax.set_xlim(0, summaries[0].window_s / 3600)
    ax.set_xlabel("hours")
    ax.set_ylabel(f"share of {results[0].resource if results else ''}")
    ax.set_ylim(0, 1.05)
    ax.set_title("Utilisation over the common window (dashed: held by jobs that can actually run)")
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
        ("median wait (min)", [(s.p50_wait_s or 0.0) / 60 for s in summaries]),
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

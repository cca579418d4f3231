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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from scheduler.api.membership import pod_group_of
from scheduler.sim.scenario import Scenario
from scheduler.sim.simulator import Job, Sample, SimResult

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
class ResourceShare:
    """Time-averaged shares of one resource's capacity over the window."""

    resource: str
    allocated: float  # by every bound pod
    useful: float  # by pods of jobs that are running


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
    # Held by running jobs less the work preemption threw away: a job run twice counts once, as the work
    # done. With every job completed in the window it is the same for every policy; it differs by what
    # each policy left undone.
    kept_utilisation: float
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
    shares: tuple[ResourceShare, ...] = ()  # every resource the nodes offer, the measured one first
    victims_by_class: tuple[tuple[str, int], ...] = ()  # victim pods per priority class of their job
    # Racks the victims of one job's preemptions at one instant span, on average (pod by pod, each pod of a
    # gang preempts on its own); None: nothing was preempted.
    victim_racks: float | None = None


SAME_WITHIN = 0.01  # figures this close (relative) are the same: a policy is not better by noise


@dataclass(frozen=True)
class Verdict:
    ratio: float | None  # phalanx / baseline; None: either figure is missing, or the baseline's is zero
    word: str  # "better", "worse", "same", or "n/a" when a figure is missing


def verdict(mine: float | None, theirs: float | None, *, lower_is_better: bool) -> Verdict:
    """How a figure of phalanx compares with a baseline's, with the ratio between them."""
    if mine is None or theirs is None:
        return Verdict(None, "n/a")
    if abs(mine - theirs) <= SAME_WITHIN * max(abs(mine), abs(theirs)):
        return Verdict(mine / theirs if theirs else None, "same")
    lower = mine < theirs
    return Verdict(mine / theirs if theirs else None, "better" if lower == lower_is_better else "worse")


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
    capacity = _integral(result.samples, lambda s: s.capacity, window.end_s)
    lost = sum(j.lost for j in jobs)
    return Summary(
        policy=result.policy.value,
        jobs=len(jobs),
        started=sum(j.started is not None for j in jobs),
        completed=sum(j.finished is not None for j in jobs),
        never_started=sum(j.started is None for j in jobs),
        mean_wait_s=float(np.mean(waits)) if waits else None,
        p50_wait_s=_percentile(waits, 50),
        p95_wait_s=_percentile(waits, 95),
        utilisation=_integral(result.samples, lambda s: s.allocated, window.end_s) / max(1e-9, capacity),
        useful_utilisation=_integral(result.samples, lambda s: s.running, window.end_s) / max(1e-9, capacity),
        kept_utilisation=max(0.0, _integral(result.samples, lambda s: s.running, window.end_s) - lost)
        / max(1e-9, capacity),
        partial_hours=_integral(result.samples, lambda s: s.partial, window.end_s) / 3600,
        preemptions=len(preempts),
        victim_pods=sum(len(e["victims"]) for e in preempts),
        lost_hours=lost / 3600,
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
        shares=_shares(result, window.end_s),
        victims_by_class=_victims_by_class(jobs, preempts, classes or {}),
        victim_racks=_victim_racks(jobs, preempts),
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


def _shares(result: SimResult, end: float) -> tuple[ResourceShare, ...]:
    names = sorted({r for s in result.samples for r in s.resources}, key=lambda r: (r != result.resource, r))
    out = []
    for name in names:

        def part(index: int, name: str = name) -> float:
            return _integral(result.samples, lambda s: s.resources.get(name, (0, 0, 0))[index], end)

        capacity = part(0)
        if capacity > 0:
            out.append(ResourceShare(name, part(1) / capacity, part(2) / capacity))
    return tuple(out)


def _victims_by_class(
    jobs: Sequence[Job], preempts: Sequence[Mapping[str, Any]], classes: Mapping[str, str]
) -> tuple[tuple[str, int], ...]:
    job_of = {pod: job.key for job in jobs for pod in job.pods}
    counts: dict[str, int] = defaultdict(int)
    for event in preempts:
        for pod in event["victims"]:
            counts[classes.get(job_of.get(pod, pod), NO_CLASS)] += 1
    return tuple(sorted(counts.items()))


def _victim_racks(jobs: Sequence[Job], preempts: Sequence[Mapping[str, Any]]) -> float | None:
    job_of = {pod: job.key for job in jobs for pod in job.pods}
    rounds: dict[tuple[str, float], set[str]] = defaultdict(set)
    for event in preempts:
        rounds[(job_of.get(event["preemptor"], event["preemptor"]), event["t"])].update(event.get("racks", ()))
    return float(np.mean([len(racks) for racks in rounds.values()])) if rounds else None


def _integral(samples: Sequence[Sample], value: Callable[[Sample], float], end: float) -> float:
    """Integral over [0, end] of a step function held from each sample to the next, the last one held to `end`
    (nothing changes after a run's last event) and anything after `end` cut off."""
    total = 0.0
    for i, current in enumerate(samples):
        following = samples[i + 1].t if i + 1 < len(samples) else end
        start, stop = min(current.t, end), min(max(following, current.t), end)
        total += value(current) * (stop - start)
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
    """report.json plus the charts (sim/charts.py); returns the files written."""
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
    # Imported here: matplotlib takes a while to load, and only a report that is written needs it.
    from scheduler.sim.charts import draw

    return [report, *draw(results, summaries, folder)]

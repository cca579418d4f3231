"""The report's charts, drawn with matplotlib's Agg renderer straight to PNG files (no display, no pyplot state).

Policies are compared in small multiples: one panel per policy on shared axes, so a difference reads as a
difference in shape, never as one line among six. Time runs from 0 to the common window's end (the last job
completion of any policy): after it nothing the report measures happens. Legends and colour bars sit outside
the panels, never on the data.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, MaxNLocator

from scheduler.sim.heatmap import heatmap_figure
from scheduler.sim.simulator import SimResult

if TYPE_CHECKING:
    from scheduler.sim.report import Summary

COLOURS = {"phalanx": "#2a6f97", "greedy": "#6b6b6b", "pod-by-pod": "#c0504d"}  # bars and dots of one policy
RUNNING = "#2a6f97"  # small multiples share one encoding: the panel's title names the policy
PARTIAL = "#f0a030"  # held by gangs that cannot run: the waste pod-by-pod scheduling shows
WAITING = "#f4c36b"
STARTED = "#3a8d3a"
PREEMPTED = "#c0392b"
BINS = 100  # at least this many stretches of time to count the timeline's events in
STEPS = [60.0 * m for m in (1, 2, 5, 10, 15, 30, 60, 120, 180, 360, 720, 1440)]
DPI = 110


def colour(policy: str) -> str:
    return COLOURS.get(policy, "#555555")


class TimeAxis:
    """Seconds shown in the unit that suits a span: hours for a long run, minutes or seconds for short ones."""

    def __init__(self, span_s: float) -> None:
        if span_s >= 2 * 3600:
            self.divisor, self.unit, self.symbol = 3600.0, "hours", "h"
        elif span_s >= 120:
            self.divisor, self.unit, self.symbol = 60.0, "minutes", "min"
        else:
            self.divisor, self.unit, self.symbol = 1.0, "seconds", "s"

    @property
    def label(self) -> str:
        return f"time ({self.unit})"

    def scale(self, seconds: Sequence[float]) -> list[float]:
        return [s / self.divisor for s in seconds]

    def format(self, seconds: float) -> str:
        value = seconds / self.divisor
        return f"{value:.1f} {self.symbol}" if value < 10 and self.divisor > 1 else f"{value:.0f} {self.symbol}"


def bin_width(window: float) -> float:
    """The round stretch of time (1 min, 2 min, 5 min, ... a day) that cuts the window into about BINS."""
    return next((step for step in STEPS if window / step <= BINS), STEPS[-1] * math.ceil(window / STEPS[-1] / BINS))


def instants(window: float) -> list[float]:
    """When the heat map looks at the cluster: the quartiles of the window."""
    return [window * q for q in (0.25, 0.5, 0.75)] if window > 0 else [0.0]


def draw(results: Sequence[SimResult], summaries: Sequence[Summary], folder: Path) -> list[Path]:
    """Every chart of the report, written into `folder`; returns the files in the order a reader wants them."""
    window = summaries[0].window_s if summaries else max((r.end for r in results), default=0.0)
    figures: list[tuple[str, Figure | None]] = [
        ("utilisation.png", utilisation_figure(results, summaries, window)),
        ("timeline.png", timeline_figure(results, window)),
        ("heatmap.png", _heatmap(results, window)),
        ("waits.png", waits_figure(results)),
        ("comparison.png", comparison_figure(summaries)),
    ]
    paths = []
    for name, figure in figures:
        if figure is None:
            continue
        path = folder / name
        FigureCanvasAgg(figure)  # Agg by name: a figure made without pyplot would otherwise pick a canvas itself
        figure.savefig(path, dpi=DPI)
        paths.append(path)
    return paths


def _heatmap(results: Sequence[SimResult], window: float) -> Figure | None:
    axis = TimeAxis(window)
    moments = instants(window)
    titles = [f"t = {axis.format(t)} ({t / window:.0%} of the window)" if window else "t = 0" for t in moments]
    return heatmap_figure(results, moments, titles)


def _held_to(times: list[float], values: list[float], end: float) -> tuple[list[float], list[float]]:
    """A step series (each value held until the next time) extended to `end` and cut there."""
    if not times:
        return [0.0, end], [0.0, 0.0]
    kept = [(t, v) for t, v in zip(times, values, strict=True) if t <= end]
    if not kept:
        kept = [(0.0, 0.0)]
    ts, vs = [t for t, _ in kept], [v for _, v in kept]
    ts.append(end)
    vs.append(vs[-1])
    return ts, vs


def utilisation_figure(results: Sequence[SimResult], summaries: Sequence[Summary], window: float) -> Figure | None:
    """Per policy: the share of the measured resource held by running jobs, and on top of it the share held by
    bound pods of jobs that cannot run (partial gangs); white is idle."""
    if not results:
        return None
    axis = TimeAxis(window)
    figure = Figure(figsize=(9.0, 0.9 + 1.5 * len(results)), layout="constrained")
    axes = list(figure.subplots(len(results), 1, sharex=True, sharey=True, squeeze=False)[:, 0])
    by_policy = {s.policy: s for s in summaries}
    resource = _short(results[0].resource)
    for ax, result in zip(axes, results, strict=True):
        policy = result.policy.value
        samples = result.samples
        times = [s.t for s in samples]
        running = [s.running / s.capacity if s.capacity else 0.0 for s in samples]
        allocated = [s.allocated / s.capacity if s.capacity else 0.0 for s in samples]
        ts, run = _held_to(times, running, window)
        _, alloc = _held_to(times, allocated, window)
        x = axis.scale(ts)
        ax.fill_between(x, 0, run, step="post", color=RUNNING, alpha=0.85, linewidth=0)
        ax.fill_between(x, run, alloc, step="post", color=PARTIAL, alpha=0.9, linewidth=0, hatch="///")
        summary = by_policy.get(policy)
        figures = (
            f": {summary.useful_utilisation:.0%} useful, {summary.utilisation:.0%} allocated"
            if summary and window > 0
            else ""
        )
        ax.set_title(f"{policy}{figures}", loc="left", fontsize="medium")
        ax.set_ylim(0, 1.02)
        ax.set_yticks([0, 0.5, 1], ["0", "50%", "100%"])
        ax.grid(axis="y", alpha=0.3)
        ax.margins(x=0)
    axes[-1].set_xlim(0, axis.scale([window])[0] if window > 0 else 1)
    axes[-1].set_xlabel(axis.label)
    figure.supylabel(f"share of {resource} capacity")
    figure.legend(
        handles=[
            Patch(color=RUNNING, alpha=0.85, label="held by running jobs"),
            Patch(facecolor=PARTIAL, hatch="///", label="held by jobs that cannot run (partial gangs)"),
        ],
        loc="outside upper center",
        ncols=2,
        frameon=False,
    )
    return figure


def job_counts(result: SimResult) -> tuple[list[float], list[int], list[int]]:
    """Times, jobs waiting (arrived, not running, not done) and jobs running, after each instant of the log."""
    arrived: set[str] = set()
    running: set[str] = set()
    done: set[str] = set()
    times: list[float] = [0.0]
    waiting_counts: list[int] = [0]
    running_counts: list[int] = [0]
    for event in result.log:
        kind, job = event["event"], event.get("job")
        if job is None or kind not in ("arrive", "start", "interrupt", "complete"):
            continue
        arrived.add(job)  # a job bound from the start has no arrival of its own
        if kind == "start":
            running.add(job)
        elif kind == "interrupt":
            running.discard(job)
        elif kind == "complete":
            running.discard(job)
            done.add(job)
        t = float(event["t"])
        if t != times[-1]:
            times.append(t)
            waiting_counts.append(waiting_counts[-1])
            running_counts.append(running_counts[-1])
        waiting_counts[-1] = len(arrived) - len(running) - len(done)
        running_counts[-1] = len(running)
    return times, waiting_counts, running_counts


def timeline_figure(results: Sequence[SimResult], window: float) -> Figure | None:
    """Per policy: jobs waiting and running over time, and below it how many jobs started and how many
    preemptions happened in each stretch of the window."""
    if not results:
        return None
    axis = TimeAxis(window)
    figure = Figure(figsize=(9.0, 0.9 + 1.9 * len(results)), layout="constrained")
    grid = figure.add_gridspec(2 * len(results), 1, height_ratios=[3, 1.4] * len(results))
    counts_axes: list[Any] = []
    event_axes: list[Any] = []
    first: Any = None
    step = bin_width(window)
    edges = np.arange(0.0, window + step, step) if window > 0 else np.array([0.0, 1.0])
    for i, result in enumerate(results):
        policy = result.policy.value
        ax = figure.add_subplot(grid[2 * i], sharex=first, sharey=counts_axes[0] if counts_axes else None)
        first = first or ax
        events = figure.add_subplot(grid[2 * i + 1], sharex=first, sharey=event_axes[0] if event_axes else None)
        counts_axes.append(ax)
        event_axes.append(events)
        times, waiting, running = job_counts(result)
        ts, wait = _held_to(times, [float(w) for w in waiting], window)
        _, run = _held_to(times, [float(r) for r in running], window)
        x = axis.scale(ts)
        ax.fill_between(x, 0, wait, step="post", color=WAITING, linewidth=0)
        ax.step(x, run, where="post", color=RUNNING, linewidth=1.6)
        starts = [e for e in result.log if e["event"] == "start" and e["t"] <= window]
        preempts = [e for e in result.log if e["event"] == "preempt" and e["t"] <= window]
        # Counts per bin, starts up and preemptions down: a busy trace's thousands of events stay a rate to read.
        left, width = axis.scale(list(edges[:-1])), axis.scale([step])[0]
        started = np.histogram([float(e["t"]) for e in starts], edges)[0]
        preempted = np.histogram([float(e["t"]) for e in preempts], edges)[0]
        events.bar(left, started, width=width, align="edge", color=STARTED, linewidth=0)
        events.bar(left, -preempted, width=width, align="edge", color=PREEMPTED, linewidth=0)
        events.axhline(0, color="#999999", linewidth=0.6)
        events.set_ylabel(f"per {step / 60:g} min" if step < 3600 else f"per {step / 3600:g} h", fontsize="small")
        events.tick_params(axis="x", labelbottom=i == len(results) - 1)
        events.tick_params(axis="y", labelsize="small")
        victims = sum(len(e["victims"]) for e in preempts)
        restarts = len(starts) - len({e["job"] for e in starts})
        ax.set_title(
            f"{policy}: {len(starts)} job starts ({restarts} restarts), {len(preempts)} preemptions "
            f"({victims} victim pods), at most {max(waiting, default=0)} jobs waiting",
            loc="left",
            fontsize="medium",
        )
        ax.set_ylabel("jobs")
        ax.tick_params(axis="x", labelbottom=False)
        ax.grid(axis="y", alpha=0.3)
        ax.margins(x=0)
    first.set_xlim(0, axis.scale([window])[0] if window > 0 else 1)
    counts_axes[0].set_ylim(bottom=0)
    tallest = max((abs(p.get_height()) for ax in event_axes for p in ax.patches), default=1.0) or 1.0
    event_axes[0].set_ylim(-tallest * 1.15, tallest * 1.15)
    event_axes[0].yaxis.set_major_locator(MaxNLocator(nbins=2, integer=True, symmetric=True))
    event_axes[0].yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{abs(v):.0f}"))
    figure.axes[-1].set_xlabel(axis.label)
    figure.legend(
        handles=[
            Patch(color=WAITING, label="jobs waiting"),
            Patch(color=RUNNING, label="jobs running"),
            Patch(color=STARTED, label="job starts (up)"),
            Patch(color=PREEMPTED, label="preemptions (down)"),
        ],
        loc="outside upper center",
        ncols=4,
        frameon=False,
    )
    return figure


def waits_figure(results: Sequence[SimResult]) -> Figure | None:
    """Every started job's wait as a dot, one row per policy on one time axis, with its p50 and p95 marked;
    most jobs of a calm trace start at once, which a box plot would hide in a box of zero width."""
    if not results:
        return None
    waits = [[j.wait for j in r.jobs if j.wait is not None] for r in results]
    longest = max((max(w) for w in waits if w), default=0.0)
    axis = TimeAxis(longest)
    figure = Figure(figsize=(9.0, 1.0 + 0.75 * len(results)), layout="constrained")
    ax = figure.subplots()
    rows = list(range(len(results), 0, -1))
    jitter = np.random.default_rng(0)  # the same picture for the same run
    for row, result, values in zip(rows, results, waits, strict=True):
        policy = result.policy.value
        if not values:
            ax.text(0, row, " no job started", va="center", fontsize="small", color="#555555")
            continue
        x = axis.scale(values)
        ax.scatter(x, row + jitter.uniform(-0.22, 0.22, len(x)), s=9, color=colour(policy), alpha=0.55, linewidth=0)
        p50, p95 = (float(v) for v in np.percentile(values, [50, 95]))
        ax.plot(axis.scale([p50, p95]), [row, row], "|", markersize=22, color="black", markeredgewidth=1.6)
        at_once = sum(v == 0 for v in values)
        ax.text(
            1.01,
            row,
            f"p50 {axis.format(p50)}, p95 {axis.format(p95)}\n{at_once} of {len(values)} at once",
            transform=ax.get_yaxis_transform(),
            va="center",
            fontsize="small",
        )
    ax.set_yticks(rows, [r.policy.value for r in results])
    ax.set_ylim(0.4, len(results) + 0.6)
    ax.set_xlim(left=-0.02 * (axis.scale([longest])[0] or 1))
    ax.set_xlabel(f"wait until running ({axis.unit}); black ticks: p50 and p95")
    ax.set_title("How long each job waited until it ran", loc="left")
    ax.grid(axis="x", alpha=0.3)
    ax.spines[["top", "right"]].set_visible(False)
    return figure


def comparison_figure(summaries: Sequence[Summary]) -> Figure | None:
    """Headline figures side by side; a figure that does not exist (no job started) is shown as a dash."""
    if not summaries:
        return None
    resource = _short(summaries[0].resource)
    waits = TimeAxis(max((s.p95_wait_s or 0.0 for s in summaries), default=0.0))
    panels: list[tuple[str, list[float | None], str]] = [
        (
            f"wait until running p95 ({waits.unit})",
            [None if s.p95_wait_s is None else s.p95_wait_s / waits.divisor for s in summaries],
            "{:.1f}",
        ),
        (
            f"{resource} held by running jobs",
            [s.useful_utilisation if s.window_s else None for s in summaries],
            "{:.0%}",
        ),
        (f"{resource}-hours held by\npartial gangs", [s.partial_hours for s in summaries], "{:.1f}"),
        (f"{resource}-hours of work\nlost to preemption", [s.lost_hours for s in summaries], "{:.1f}"),
        ("jobs never started", [float(s.never_started) for s in summaries], "{:.0f}"),
    ]
    figure = Figure(figsize=(12.0, 3.0), layout="constrained")
    axes = figure.subplots(1, len(panels))
    names = [s.policy for s in summaries]
    for ax, (title, values, fmt) in zip(axes, panels, strict=True):
        heights = [v or 0.0 for v in values]
        bars = ax.bar(names, heights, color=[colour(n) for n in names])
        ax.bar_label(bars, labels=["\u2013" if v is None else fmt.format(v) for v in values], fontsize="small")
        ax.set_title(title, fontsize="medium")
        ax.tick_params(axis="x", labelsize="small")
        ax.set_ylim(0, max(heights, default=0.0) * 1.25 or 1)
        ax.set_yticks([])  # every bar carries its figure
        ax.spines[["top", "right", "left"]].set_visible(False)
    figure.suptitle("Policies on the same trace, over the same window")
    return figure


def _short(resource: str) -> str:
    return resource.rsplit("/", 1)[-1].upper() if "/" in resource else resource.upper()

"""Policies side by side on the same trace: every figure, then the key ones against each baseline with ratios,
and in words where the reference policy (phalanx) is better and where it is not.

Only outcomes go into the key figures (waits, work kept and lost, victims, locality, makespan): they do not
depend on how fast the machine running the simulation is, so the same trace gives the same verdict anywhere
(docs/decision-quality.md holds them). Decision times are in the full table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from scheduler.cli.cells import EMPTY, cap, plain_table
from scheduler.sim.report import SAME_WITHIN, Summary, Verdict, verdict
from scheduler.sim.scenario import Scenario


def comparison_table(summaries: list[Summary]) -> Table:
    """Policies side by side on the same trace, every time average over the same window."""
    window = summaries[0] if summaries else None
    table = plain_table(
        "Policies on the same trace" + (f", over 0{EMPTY}{_duration(window.window_s)}" if window else "")
    )
    if window is not None:
        table.caption = (
            f"Time averages and partial-gang hours span the same window for every policy, t=0 {window.window_basis}; "
            "waits count the jobs that started; held by running jobs counts a job preempted and run again twice, "
            "work kept once."
        )
        table.caption_justify = "left"
    table.add_column("Metric", overflow="fold")  # a narrow terminal wraps the names, never the figures
    resource = summaries[0].resource.rsplit("/", 1)[-1].upper() if summaries else ""
    rows: list[tuple[str, Callable[[Summary], str]]] = [
        ("jobs started / completed / never started", lambda s: f"{s.started} / {s.completed} / {s.never_started}"),
        ("wait until running p50 / p95", lambda s: _pair(s.p50_wait_s, s.p95_wait_s, _duration)),
    ]
    classes = [c.priority_class for c in summaries[0].waits_by_class] if summaries else []
    for index, name in enumerate(classes):
        rows.append((f"  {cap(name, 26)}: p50 / p95", _class_waits(index)))
    names = [r.resource for r in summaries[0].shares] if summaries else []
    for index, name in enumerate(names):
        rows.append((f"{_resource_name(name)} allocated / held by running jobs", _resource_share(index)))
    kept = f"{resource} held by work kept (not lost later)"
    rows.append((kept, lambda s: f"{s.kept_utilisation:.1%}" if s.window_s > 0 else EMPTY))
    rows += [
        (f"{resource}-hours held by partial gangs", lambda s: f"{s.partial_hours:,.1f}"),
        ("preemptions / victim pods", lambda s: f"{s.preemptions} / {s.victim_pods}"),
    ]
    victim_classes = sorted({c for s in summaries for c, _ in s.victims_by_class})
    for name in victim_classes:
        rows.append((f"  victim pods: {cap(name, 26)}", _class_victims(name)))
    rows += [
        ("racks the victims of one preemption span", lambda s: _number(s.victim_racks)),
        (f"{resource}-hours of work lost to preemption", lambda s: f"{s.lost_hours:,.1f}"),
        ("multi-pod jobs in one rack / block", lambda s: _pair(s.one_rack, s.one_block, _percent)),
        ("decision (solver) time p50 / p99", lambda s: _pair(s.decision_p50_ms, s.decision_p99_ms, _ms)),
        ("makespan (last job completion)", lambda s: _duration(s.makespan_s)),
    ]
    if any(s.provision_requests for s in summaries):
        rows.append(("capacity requests / nodes added", lambda s: f"{s.provision_requests} / {s.nodes_added}"))
    cells = [[cell(s) for s in summaries] for _, cell in rows]
    for i, summary in enumerate(summaries):
        # Figures are never cut: on a narrow terminal the metric names give way instead.
        widest = max((len(row[i]) for row in cells), default=0)
        table.add_column(
            escape(summary.policy), justify="right", no_wrap=True, min_width=max(widest, len(summary.policy))
        )
    for (label, _), row in zip(rows, cells, strict=True):
        table.add_row(escape(label), *row)
    return table


TINY_RATIO = 0.01  # below it, a ratio rounds to 0.00x: the two figures say more


@dataclass(frozen=True)
class KeyFigure:
    label: str  # in the table
    words: str  # in the sentences below it
    value: Callable[[Summary], float | None]
    text: Callable[[float], str]
    lower_is_better: bool = True


def key_figures(summaries: list[Summary]) -> list[KeyFigure]:
    """The outcomes a scheduler is judged by; none depends on how fast the machine running the simulation is."""
    resource = _resource_name(summaries[0].resource) if summaries else ""
    figures = [
        KeyFigure("jobs never started", "jobs never started", lambda s: float(s.never_started), _count),
        KeyFigure("wait until running p95", "wait p95", lambda s: s.p95_wait_s, _duration),
    ]
    for index, waits in enumerate(summaries[0].waits_by_class if summaries else ()):
        name = cap(waits.priority_class, 24)
        figures.append(KeyFigure(f"  {name}", f"{name} wait p95", _class_p95(index), _duration))
    figures += [
        KeyFigure(
            f"{resource} held by work kept",
            f"{resource} share of work kept",
            lambda s: s.kept_utilisation if s.window_s > 0 else None,
            lambda v: f"{v:.1%}",
            lower_is_better=False,
        ),
        KeyFigure(f"{resource}-hours held by partial gangs", "partial-gang hours", lambda s: s.partial_hours, _hours),
        KeyFigure("victim pods", "victim pods", lambda s: float(s.victim_pods), _count),
        KeyFigure("racks per preemption", "racks per preemption", lambda s: s.victim_racks, _number),
        KeyFigure(f"{resource}-hours lost to preemption", "work lost", lambda s: s.lost_hours, _hours),
        KeyFigure("multi-pod jobs in one rack", "jobs in one rack", lambda s: s.one_rack, _percent, False),
        KeyFigure("makespan", "makespan", lambda s: s.makespan_s, _duration),
    ]
    return figures


def key_figures_table(summaries: list[Summary], reference: str = "phalanx") -> Table | None:
    """The reference policy beside each baseline, with the ratio of their figures and which is better; None
    when the reference or every baseline is missing."""
    mine = next((s for s in summaries if s.policy == reference), None)
    baselines = [s for s in summaries if s.policy != reference]
    if mine is None or not baselines:
        return None
    table = plain_table(f"Key figures: {reference} against each baseline (ratio {reference} / baseline)")
    table.caption = f"Within {SAME_WITHIN:.0%} of each other counts as the same."
    table.caption_justify = "left"
    table.add_column("Figure", overflow="ellipsis", no_wrap=True)
    table.add_column(escape(reference), justify="right", no_wrap=True)
    for baseline in baselines:
        table.add_column(escape(baseline.policy), justify="right", no_wrap=True)
        table.add_column(f"vs {escape(baseline.policy)}", no_wrap=True)
    for figure in key_figures(summaries):
        cells = [figure_text(figure, mine)]
        for baseline in baselines:
            found = _verdict(figure, mine, baseline)
            if found.word == "n/a":
                comparison = EMPTY
            elif found.ratio is None:  # against zero
                comparison = found.word
            else:
                comparison = f"{_times(found.ratio)} {found.word}"
            cells += [figure_text(figure, baseline), comparison]
        table.add_row(escape(figure.label), *cells)
    return table


def print_key_figures(console: Console, scenario: Scenario, summaries: list[Summary]) -> None:
    """The scenario's narrative, the key figures against each baseline, and the verdict in words."""
    if scenario.narrative:
        console.print(scenario.narrative, highlight=False, markup=False)
    table = key_figures_table(summaries)
    if table is not None:
        console.print(table)
    for line in verdict_lines(summaries):
        console.print(line, highlight=False, markup=False)


def verdict_lines(summaries: list[Summary], reference: str = "phalanx") -> list[str]:
    """In words, against each baseline: where the reference policy is better, and where it is not."""
    mine = next((s for s in summaries if s.policy == reference), None)
    if mine is None:
        return []
    lines = []
    for baseline in (s for s in summaries if s.policy != reference):
        found = [(f, _verdict(f, mine, baseline)) for f in key_figures(summaries)]
        better = [f"{f.words} ({_ratio(f, v, mine, baseline)})" for f, v in found if v.word == "better"]
        same = [f.words for f, v in found if v.word == "same"]
        worse = [f"{f.words} ({_ratio(f, v, mine, baseline)})" for f, v in found if v.word == "worse"]
        head = f"Against {baseline.policy}, {reference} is "
        if not better:
            head += "not better on any key figure"
        else:
            head += f"better on {_listed(better)}"
        rest = ([f"the same on {_listed(same)}"] if same else []) + ([f"worse on {_listed(worse)}"] if worse else [])
        if better and rest:
            head += "; it is not better on the rest: "
        elif rest:
            head += ": "
        lines.append(head + "; ".join(rest) + ".")
    return lines


def _verdict(figure: KeyFigure, mine: Summary, theirs: Summary) -> Verdict:
    return verdict(figure.value(mine), figure.value(theirs), lower_is_better=figure.lower_is_better)


def figure_text(figure: KeyFigure, summary: Summary) -> str:
    value = figure.value(summary)
    return EMPTY if value is None else figure.text(value)


def _ratio(figure: KeyFigure, found: Verdict, mine: Summary, theirs: Summary) -> str:
    if found.ratio is not None and found.ratio >= TINY_RATIO:
        return _times(found.ratio)
    return f"{figure_text(figure, mine)} vs {figure_text(figure, theirs)}"  # a ratio of (nearly) zero says little


def _times(ratio: float) -> str:
    return f"{ratio:.2f}x" if ratio >= TINY_RATIO else f"<{TINY_RATIO}x"


def _listed(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _class_p95(index: int) -> Callable[[Summary], float | None]:
    def value(summary: Summary) -> float | None:
        return summary.waits_by_class[index].p95_s if index < len(summary.waits_by_class) else None

    return value


def _count(value: float) -> str:
    return f"{value:,.0f}"


def _hours(value: float) -> str:
    return f"{value:,.1f}"


def _class_waits(index: int) -> Callable[[Summary], str]:
    def cell(summary: Summary) -> str:
        if index >= len(summary.waits_by_class):
            return EMPTY
        waits = summary.waits_by_class[index]
        return _pair(waits.p50_s, waits.p95_s, _duration)

    return cell


def _class_victims(name: str) -> Callable[[Summary], str]:
    return lambda summary: str(dict(summary.victims_by_class).get(name, 0))


def _resource_share(index: int) -> Callable[[Summary], str]:
    def cell(summary: Summary) -> str:
        if index >= len(summary.shares) or summary.window_s <= 0:
            return EMPTY
        share = summary.shares[index]
        return f"{share.allocated:.1%} / {share.useful:.1%}"

    return cell


def _resource_name(name: str) -> str:
    short = name.rsplit("/", 1)[-1]
    return short.upper() if short in ("gpu", "cpu") else short


def _percent(value: float) -> str:
    return f"{value:.0%}"


def _number(value: float | None) -> str:
    return EMPTY if value is None else f"{value:.1f}"


def _pair(first: float | None, second: float | None, fmt: Callable[[float], str]) -> str:
    if first is None and second is None:
        return EMPTY
    return f"{EMPTY if first is None else fmt(first)} / {EMPTY if second is None else fmt(second)}"


def _ms(value: float) -> str:
    return f"{value:.1f} ms"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return EMPTY
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"

"""`phalanx top`: the queue, waiting gangs and why, running gangs by domain, and the latest decisions, live.

`render` is pure (a view and a terminal size in, a renderable out) so every frame can be tested without a
cluster; cli/top_live.py redraws it in the terminal until q or Ctrl-C. Rows take one line (a waiting gang's reason
up to three): names and sentences end in an ellipsis on a narrow terminal, figures are never cut, and a list longer
than its share of the screen ends with "… N more" (`phalanx explain` has the whole story of one gang).
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from scheduler.cli.render import EMPTY, natural_key
from scheduler.kube.snapshot import ClusterView, Event, Unit

ROWS_WITHOUT_HEIGHT = 20  # lines per list when the output is not a screen (--once)
NARROW = 90  # below this many columns the least telling columns go
SECTION_LINES = 3  # a table's title, header and the rule under it
WHY_LINES = 3  # at most, for a waiting gang's reason: the solver's run to a line's worth of clauses each


@dataclass(frozen=True)
class Column:
    name: str
    figure: bool = False  # never cut: names and sentences give way instead
    optional: bool = False  # left out on a narrow terminal
    flexible: bool = False  # takes the room a wide terminal has to spare


Cell = Text | str


@dataclass(frozen=True)
class Section:
    title: str
    columns: tuple[Column, ...]
    rows: list[list[Cell]]
    lines_per_row: int = 1


def render(view: ClusterView, width: int, height: int | None = None, footer: str = "") -> RenderableType:
    """One frame; with `height`, the lists share the screen's lines so the frame never scrolls."""
    head = [_text(line, "bold") for line in _summary(view)]
    head += [_text(f"error: {error}", "bold red") for error in view.errors]
    narrow = width < NARROW
    queue, running, decisions = _queue(view), _running(view), _decisions(view)
    needs = [len(queue.rows), WHY_LINES * len(view.waiting), len(running.rows), len(decisions.rows)]
    if height is None:
        limits = [ROWS_WITHOUT_HEIGHT, WHY_LINES * ROWS_WITHOUT_HEIGHT, ROWS_WITHOUT_HEIGHT, ROWS_WITHOUT_HEIGHT]
    else:
        spare = height - len(head) - SECTION_LINES * len(needs) - (1 if footer else 0)
        limits = share_rows([max(1, need) for need in needs], spare)
    # A few waiting gangs say all of why; many say the end of it, a line each, so that more of them show.
    why_lines = max(1, min(WHY_LINES, limits[1] // max(1, len(view.waiting))))
    sections = [queue, _waiting(view, width, narrow, why_lines), running, decisions]
    parts: list[RenderableType] = [*head]
    parts += [_table(section, limit, narrow) for section, limit in zip(sections, limits, strict=True)]
    if footer:
        parts.append(_text(footer, "dim"))
    return Group(*parts)


def share_rows(needs: Sequence[int], total: int) -> list[int]:
    """Lines for each list: an equal share each, a short list's leftover going to the longer ones; one at least."""
    limits = [1] * len(needs)
    left = max(0, total - len(needs))
    while left > 0:
        hungry = [i for i, need in enumerate(needs) if limits[i] < need]
        if not hungry:
            break
        for i in hungry[:left]:
            limits[i] += 1
        left -= min(left, len(hungry))
    return limits


def _summary(view: ClusterView) -> list[str]:
    where = "all namespaces" if view.namespace is None else f"namespace {view.namespace}"
    pending = sum(u.pending for u in view.queue)
    gangs = sum(len(d.gangs) for d in view.domains)
    return [
        f"phalanx top · {where} · {view.taken_at:%H:%M:%S} UTC",
        f"{_count(view.nodes, 'node')} ({view.usable_nodes} usable) · queue {_count(len(view.queue), 'unit')}, "
        f"{_count(pending, 'pod')} · waiting {_count(len(view.waiting), 'gang')} · "
        f"running {_count(gangs, 'gang')} in {_count(len(view.domains), 'domain')}",
    ]


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _queue(view: ClusterView) -> Section:
    columns = (
        Column("Unit"),
        Column("Kind", optional=True),
        Column("Pending", figure=True),
        Column("Min", figure=True),
        Column("Priority", figure=True),
        Column("Age", figure=True),
        Column("State", flexible=True),
    )
    rows: list[list[Cell]] = [
        [
            _text(u.key),
            u.kind,
            str(u.pending),
            str(u.min_count) if u.kind == "PodGroup" else EMPTY,
            _priority(u),
            _ago(u.created, view.taken_at),
            _text(u.reason),
        ]
        for u in view.queue
    ]
    return Section("Queue (priority, then age)", columns, rows)


def _waiting(view: ClusterView, width: int, narrow: bool, lines: int) -> Section:
    columns = (
        Column("Gang"),
        Column("Pods", figure=True),
        Column("Reason", optional=True),
        Column("For", figure=True),
        Column("Why", flexible=True),
    )
    cells = [[u.key, f"{u.pods}/{u.min_count}", u.reason or EMPTY, _ago(u.since, view.taken_at)] for u in view.waiting]
    # The room the other columns leave (each as wide as its widest cell, plus padding and divider), so the
    # reason is wrapped where it will be shown.
    shown = [i for i, column in enumerate(columns[:-1]) if not (narrow and column.optional)]
    used = sum(max([len(columns[i].name), *(len(row[i]) for row in cells)]) + 2 for i in shown)
    why = max(20, width - used - 1)
    rows: list[list[Cell]] = [
        [_text(row[0]), row[1], _text(row[2]), row[3], _wrapped(u.message, why, lines)]
        for row, u in zip(cells, view.waiting, strict=True)
    ]
    return Section("Waiting gangs", columns, rows, lines_per_row=lines)


def _running(view: ClusterView) -> Section:
    columns = (
        Column("Domain"),
        Column("Level", optional=True),
        Column("Nodes", figure=True),
        Column("Gang", flexible=True),
        Column("Pods", figure=True),
        Column("Priority", figure=True),
        Column("Since", figure=True),
    )
    rows: list[list[Cell]] = []
    for domain in sorted(view.domains, key=lambda d: (natural_key(d.level), natural_key(d.name))):
        for index, gang in enumerate(sorted(domain.gangs, key=lambda g: natural_key(g.key))):
            first = index == 0  # a domain is named once, above its gangs
            rows.append(
                [
                    _text(domain.name) if first else "",
                    (domain.level.rsplit("/", 1)[-1] or EMPTY) if first else "",
                    (f"{domain.busy}/{domain.nodes}" if domain.level else EMPTY) if first else "",
                    _text(gang.key),
                    f"{gang.running}/{gang.min_count}",
                    _priority(gang),
                    _ago(gang.since, view.taken_at),
                ]
            )
    return Section("Running gangs by domain", columns, rows)


def _decisions(view: ClusterView) -> Section:
    columns = (
        Column("Age", figure=True),
        Column("Unit"),
        Column("Event"),
        Column("Solver", optional=True),
        Column("Message", flexible=True),
    )
    units = {u.key: u for u in (*view.queue, *view.waiting, *(g for d in view.domains for g in d.gangs))}
    solved: set[str] = set()
    rows: list[list[Cell]] = []
    for event in view.decisions:
        # The solver's figures belong to the unit's newest decision only.
        unit = units.get(event.unit)
        solver = _solver(unit) if unit is not None and event.unit not in solved else ""
        solved.add(event.unit)
        message = _text(event.message)
        rows.append([_ago(event.time, view.taken_at), _text(event.unit), _event(event), solver or EMPTY, message])
    return Section("Latest decisions (newest first)", columns, rows)


def _solver(unit: Unit) -> str:
    decision = unit.decision
    if decision is None:
        return ""
    out = f"{decision.solver} {decision.duration_s * 1000:.0f} ms"
    if decision.gap:
        out += f" gap {decision.gap:.1%}"
    if decision.victims:
        out += f" {decision.victims} victims"
    return out


def _event(event: Event) -> Text:
    text = Text(event.reason or EMPTY, style="yellow" if event.type == "Warning" else "green", no_wrap=True)
    if event.objects > 1:
        text.append(f" x{event.objects}")
    return text


# Cells -------------------------------------------------------------------------------------------------------


def _table(section: Section, limit: int, narrow: bool) -> Table:
    """`limit` lines of rows at most: past it, the last line counts the rows left out."""
    # Full width, so a title never wraps and the sections line up; no edges: every column is worth more.
    table = Table(title=section.title, title_justify="left", box=box.SIMPLE_HEAD, show_edge=False, expand=True)
    table.padding = (0, 1, 0, 0)
    keep = [i for i, c in enumerate(section.columns) if not (narrow and c.optional)]
    for i in keep:
        column = section.columns[i]
        # Text columns may shrink: their cells are one-line Text, so shrinking ends them in an ellipsis.
        table.add_column(
            column.name,
            no_wrap=column.figure,
            justify="right" if column.figure else "left",
            ratio=1 if column.flexible else None,
        )
    # Plain strings too become Text: a cell is the cluster's text, never Rich markup.
    rows = [[_cell(row[i]) for i in keep] for row in section.rows]
    if not rows:
        table.add_row(EMPTY, *([""] * (len(keep) - 1)))
        return table
    fits = max(1, limit // section.lines_per_row)
    shown = rows if len(rows) <= fits else rows[: max(0, (limit - 1) // section.lines_per_row)]
    for row in shown:
        table.add_row(*row)
    if len(shown) < len(rows):
        table.add_row(Text(f"… {len(rows) - len(shown)} more", style="dim"), *([""] * (len(keep) - 1)))
    return table


def _cell(value: Cell) -> Text:
    return Text(value, no_wrap=True) if isinstance(value, str) else value


def _text(value: str, style: str = "") -> Text:
    return Text(value or EMPTY, style=style, no_wrap=True, overflow="ellipsis")


def _wrapped(value: str, width: int, lines: int) -> Text:
    """`value` on at most `lines` lines of `width`, cut from the middle if need be: the solver's messages open
    with the pods and how many nodes fit them, and end with the verdict ("no rack has room ...")."""
    wrapped = textwrap.wrap(value, width, break_on_hyphens=False) or [EMPTY]
    if len(wrapped) > lines:
        tail = value[-(width - 2) :]
        if " " in tail:  # start at a word
            tail = tail.split(" ", 1)[1]
        wrapped = [*wrapped[: lines - 1], "… " + tail]
    return Text("\n".join(wrapped), no_wrap=True, overflow="ellipsis")


def _priority(unit: Unit) -> str:
    if unit.priority is not None:
        return str(unit.priority)
    return unit.priority_class or EMPTY


def _ago(when: datetime | None, now: datetime) -> str:
    if when is None:
        return EMPTY
    seconds = max(0.0, (now - (when if when.tzinfo else when.replace(tzinfo=UTC))).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size:.0f}{unit}"
    return f"{seconds:.0f}s"

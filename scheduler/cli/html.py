"""`phalanx simulate --html`: the whole report as one page, report.html, that needs nothing beside it.

The page holds the tables the terminal shows (the same Rich tables from cli/render.py, turned into HTML tables
cell by cell, colours kept) and every chart as a base64 PNG, so it can be mailed or archived as one file: it
loads no script, style, font or image from anywhere. One inline script checks that every chart decoded and
says so on the page (and in the `data-images` attribute of the body, which the browser test reads).
"""

from __future__ import annotations

import base64
import html
from collections.abc import Iterable, Sequence
from io import StringIO
from pathlib import Path

from rich.console import Console, RenderableType
from rich.table import Table
from rich.text import Text

from scheduler.cli.compare import comparison_table, key_figures_table, verdict_lines
from scheduler.cli.render import cluster_table, decision_reasons, decisions_table, groups_table
from scheduler.engine.cycle import Decision
from scheduler.sim.report import Summary
from scheduler.sim.scenario import Scenario

WIDTH = 160  # the terminal width the tables are laid out for: a page has room for longer names than 100 columns
CAPTIONS = {
    "utilisation.png": "Share of the measured resource held over time, one panel per policy.",
    "timeline.png": "Jobs waiting and running over time, with every job start and every preemption.",
    "heatmap.png": "Where the resource is bound, node by node over the topology, at the quartiles of the window.",
    "waits.png": "How long each job waited until it ran.",
    "comparison.png": "Headline figures side by side.",
}
# Rich's colour names as the terminal shows them, made dark enough to read on white.
COLOURS = {"green": "#1b7d32", "yellow": "#946200", "red": "#c62828", "blue": "#1f5fa8", "cyan": "#00707a"}
STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; color: #1d1d1d; margin: 2em auto; max-width: 1240px; padding: 0 1em; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; } h2 { margin-top: 1.8em; border-bottom: 1px solid #ddd; }
.source, .note { color: #555; } .description { white-space: pre-wrap; } .warning { color: #946200; }
table { border-collapse: collapse; margin: 0.8em 0 0.3em; font-variant-numeric: tabular-nums; }
caption { text-align: left; font-weight: 600; padding-bottom: 0.3em; }
th, td { border-bottom: 1px solid #e2e2e2; padding: 0.25em 0.7em; vertical-align: top; white-space: nowrap; }
th { background: #f3f5f7; text-align: left; } .right { text-align: right; } .center { text-align: center; }
figure { margin: 1.2em 0; } figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { color: #555; } .broken { color: #c62828; font-weight: 600; }
"""
# Marks every chart once the page has loaded: decoded (data-decoded="yes") or not, with a visible line for the
# latter. A chart cut short still has its size (the PNG header came through), so the last pixel is read back as
# well: charts are drawn on an opaque background, and only the part of an image that arrived is ever painted.
CHECK = """
window.addEventListener("load", function () {
  var images = document.images, decoded = 0, canvas = document.createElement("canvas");
  canvas.width = canvas.height = 1;
  var context = canvas.getContext("2d");
  for (var i = 0; i < images.length; i++) {
    var image = images[i], ok = image.complete && image.naturalWidth > 0;
    if (ok) {
      context.clearRect(0, 0, 1, 1);
      context.drawImage(image, image.naturalWidth - 1, image.naturalHeight - 1, 1, 1, 0, 0, 1, 1);
      ok = context.getImageData(0, 0, 1, 1).data[3] === 255;
    }
    image.setAttribute("data-decoded", ok ? "yes" : "no");
    if (ok) { decoded++; continue; }
    var note = document.createElement("p");
    note.className = "broken";
    note.textContent = "This chart could not be decoded: " + image.alt;
    image.parentNode.insertBefore(note, image);
  }
  document.body.setAttribute("data-images", decoded + "/" + images.length);
});
"""


def write_html(
    folder: Path, scenario: Scenario, summaries: list[Summary], files: Iterable[Path], decisions: Sequence[Decision]
) -> Path:
    """Write report.html into `folder` from the report's tables and the charts among `files`; returns it."""
    path = folder / "report.html"
    path.write_text(page(scenario, summaries, [f for f in files if f.suffix == ".png"], decisions), encoding="utf-8")
    return path


def page(scenario: Scenario, summaries: list[Summary], charts: Sequence[Path], decisions: Sequence[Decision]) -> str:
    parts = [
        f"<h1>Phalanx simulation: {_e(scenario.name)}</h1>",
        f'<p class="source">{_e(str(scenario.source))}</p>',
    ]
    if scenario.description:
        parts.append(f'<p class="description">{_e(scenario.description.strip())}</p>')
    parts += [f'<p class="warning">warning: {_e(w)}</p>' for w in scenario.warnings]
    parts.append('<h2 id="policies">Policies on the same trace</h2>')
    if scenario.narrative:
        parts.append(f'<p class="description">{_e(scenario.narrative.strip())}</p>')
    parts.append(table_html(comparison_table(summaries), "comparison"))
    key = key_figures_table(summaries)
    if key is not None:
        parts.append(table_html(key, "key-figures"))
    parts += [f"<p>{_e(line)}</p>" for line in verdict_lines(summaries)]
    parts.append('<h2 id="charts">Charts</h2>')
    for chart in charts:
        data = base64.b64encode(chart.read_bytes()).decode("ascii")
        caption = CAPTIONS.get(chart.name, chart.name)
        parts.append(
            f'<figure id="{_e(chart.stem)}"><img src="data:image/png;base64,{data}" alt="{_e(chart.name)}">'
            f"<figcaption>{_e(caption)}</figcaption></figure>"
        )
    if decisions:
        parts.append('<h2 id="decisions">Decisions at t=0</h2>')
        title = "phalanx, in queue order: priority, then age"
        parts.append(table_html(decisions_table(list(decisions), title=title, width=WIDTH), "decisions"))
        parts += [f'<p class="note">{_text(reason)}</p>' for reason in decision_reasons(list(decisions))]
    parts.append('<h2 id="scenario">Scenario</h2>')
    parts.append(table_html(cluster_table(scenario, width=WIDTH), "cluster"))
    parts.append(table_html(groups_table(scenario, width=WIDTH), "groups"))
    body = "\n".join(parts)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>Phalanx simulation: {_e(scenario.name)}</title><style>{STYLE}</style></head>\n"
        f"<body>\n{body}\n<script>{CHECK}</script>\n</body></html>\n"
    )


def table_html(table: Table, ident: str) -> str:
    """A Rich table as an HTML table: its title as the caption, its caption as a note below it."""
    columns = table.columns
    head = "".join(f'<th class="{_align(c.justify)}">{_cell(c.header)}</th>' for c in columns)
    cells = [list(c.cells) for c in columns]
    rows = [
        "<tr>"
        + "".join(
            f'<td class="{_align(c.justify)}">{_cell(col[i])}</td>' for c, col in zip(columns, cells, strict=True)
        )
        + "</tr>"
        for i in range(table.row_count)
    ]
    title = f"<caption>{_cell(table.title)}</caption>" if table.title else ""
    note = f'<p class="note">{_cell(table.caption)}</p>' if table.caption else ""
    return f'<table id="{ident}">{title}<thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>{note}'


def _align(justify: str) -> str:
    return {"right": "right", "center": "center"}.get(justify, "left")


def _cell(value: RenderableType | None) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return _text(Text.from_markup(value))
    if isinstance(value, Text):
        return _text(value)
    return _e(str(value))


_CONSOLE = Console(file=StringIO(), width=10_000, color_system="truecolor", highlight=False)


def _text(text: Text) -> str:
    """Rich text as HTML: each run of one style a span with its colour and weight, line breaks kept."""
    out = []
    for segment in text.render(_CONSOLE, end=""):
        piece = _e(segment.text).replace("\n", "<br>")
        style = segment.style
        css = []
        if style is not None and style.color is not None:
            name = style.color.name
            css.append(f"color:{COLOURS.get(name) or style.color.get_truecolor().hex}")
        if style is not None and style.bold:
            css.append("font-weight:600")
        out.append(f'<span style="{";".join(css)}">{piece}</span>' if css else piece)
    return "".join(out)


def _e(text: str) -> str:
    return html.escape(text, quote=True)

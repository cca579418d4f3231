"""`phalanx simulate --html`: one page that needs nothing beside it, with the terminal's tables and every chart.
(tests/integration/test_report_browser.py opens it in a real browser.)"""

from __future__ import annotations

import base64
from html.parser import HTMLParser
from pathlib import Path

import pytest
from rich.markup import escape
from rich.table import Table
from rich.text import Text
from typer.testing import CliRunner

from scheduler.cli.html import table_html
from scheduler.cli.main import app

runner = CliRunner()


class Page(HTMLParser):
    """Every tag with its attributes, and the text of table header cells per table."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.headers: dict[str, list[str]] = {}
        self._table = ""
        self._in_header = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {k: v or "" for k, v in attrs}
        self.tags.append((tag, found))
        if tag == "table":
            self._table = found.get("id", "")
            self.headers[self._table] = []
        self._in_header = tag == "th" or (self._in_header and tag == "span")

    def handle_endtag(self, tag: str) -> None:
        if tag == "th":
            self._in_header = False

    def handle_data(self, data: str) -> None:
        if self._in_header:
            self.headers[self._table].append(data)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("report")
    result = runner.invoke(app, ["simulate", "demo", "--html", "--report-dir", str(folder)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert str(folder / "report.html") in result.output.replace("\n", "")
    return folder


def parsed(folder: Path) -> Page:
    page = Page()
    page.feed((folder / "report.html").read_text(encoding="utf-8"))
    return page


def test_the_page_loads_nothing_from_anywhere(report: Path) -> None:
    text = (report / "report.html").read_text(encoding="utf-8")
    page = parsed(report)
    assert not [t for t, _ in page.tags if t in ("link", "iframe", "object", "embed", "base")]
    for tag, attrs in page.tags:
        for name in ("src", "href", "srcset", "action"):
            if name in attrs:
                assert attrs[name].startswith(("data:", "#")), (tag, attrs[name][:60])
        assert not (tag == "script" and "src" in attrs)
    assert "url(" not in text
    assert "@import" not in text


def test_every_chart_is_embedded_byte_for_byte(report: Path) -> None:
    images = [attrs for tag, attrs in parsed(report).tags if tag == "img"]
    assert [i["alt"] for i in images] == [
        "utilisation.png",
        "timeline.png",
        "heatmap.png",
        "waits.png",
        "comparison.png",
    ]
    for image in images:
        head, data = image["src"].split(",", 1)
        assert head == "data:image/png;base64"
        assert base64.b64decode(data) == (report / image["alt"]).read_bytes()


def test_the_page_has_every_table_the_terminal_shows(report: Path) -> None:
    page = parsed(report)
    assert list(page.headers) == ["comparison", "key-figures", "decisions", "cluster", "groups"]
    assert page.headers["comparison"] == ["Metric", "phalanx", "greedy", "pod-by-pod"]
    assert page.headers["decisions"][:3] == ["Unit", "Priority", "Result"]


def test_a_rich_table_keeps_its_text_colours_and_a_users_brackets() -> None:
    table = Table(title=escape("Units [x]"))  # titles are markup, as in the terminal: user text comes escaped
    table.caption = "below"
    table.add_column("Unit")
    table.add_column("Pods", justify="right")
    table.add_row(escape("ml/[weird] <name>"), "[green]4/4[/]")
    table.add_row(Text("a & b"), "[bold red]0/4[/]")
    html = table_html(table, "units")
    assert "<caption>Units [x]</caption>" in html
    assert "ml/[weird] &lt;name&gt;" in html
    assert '<td class="right"><span style="color:#1b7d32">4/4</span></td>' in html
    assert '<span style="color:#c62828;font-weight:600">0/4</span>' in html
    assert '<td class="left">a &amp; b</td>' in html
    assert html.endswith('<p class="note">below</p>')

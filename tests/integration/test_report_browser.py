"""`phalanx simulate --html` opened in a real browser: Debian's chromium, headless, loads report.html from disk
(hack/chromium.sh installs it). The DOM it builds holds every table, every chart decoded (the page's own check,
read from the dumped DOM), and the screenshot is a page of tables and charts, not a blank."""

from __future__ import annotations

import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM_SCRIPT = ROOT / "hack" / "chromium.sh"
# Nothing but the page: no sandbox (CI runs as root), no GPU, and none of the browser's own network traffic.
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    # Run the page until it is idle (its image check runs on load) before dumping or shooting it.
    "--virtual-time-budget=10000",
)
TABLES = ["comparison", "key-figures", "decisions", "cluster", "groups"]
CHARTS = ["utilisation.png", "timeline.png", "heatmap.png", "waits.png", "comparison.png"]


@pytest.fixture(scope="module")
def chromium() -> Path:
    result = subprocess.run([str(CHROMIUM_SCRIPT)], stdout=subprocess.PIPE, text=True, check=False, timeout=900)
    if result.returncode != 0 or not result.stdout.strip():
        # Fail, never skip: a browser test that did not run must not look like a green one.
        pytest.fail(f"{CHROMIUM_SCRIPT} failed (exit {result.returncode}); see its output above", pytrace=False)
    return Path(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("report")
    command = [sys.executable, "-m", "scheduler.cli.main", "simulate", "demo", "--html", "--report-dir", str(folder)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    return folder / "report.html"


def browse(chromium: Path, page: Path, workdir: Path, *action: str, height: int = 1600) -> str:
    """Run one headless chromium on the page with a fresh profile; returns what it printed on stdout."""
    profile = workdir / f"profile-{len(list(workdir.glob('profile-*')))}"
    command = [str(chromium), *FLAGS, f"--user-data-dir={profile}", f"--window-size=1280,{height}", *action]
    done = subprocess.run([*command, page.as_uri()], capture_output=True, text=True, timeout=180, check=False)
    assert done.returncode == 0, f"{' '.join(command)} exited {done.returncode}:\n{done.stderr[-3000:]}"
    return done.stdout


class Dom(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.body: dict[str, str] = {}
        self.tables: list[str] = []
        self.images: list[dict[str, str]] = []
        self.broken = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {k: v or "" for k, v in attrs}
        if tag == "body":
            self.body = found
        elif tag == "table":
            self.tables.append(found.get("id", ""))
        elif tag == "img":
            self.images.append(found)
        if "broken" in found.get("class", "").split():
            self.broken += 1


def dom_of(html: str) -> Dom:
    dom = Dom()
    dom.feed(html)
    return dom


def test_the_browser_shows_every_table_and_decodes_every_chart(chromium: Path, page: Path, tmp_path: Path) -> None:
    dom = dom_of(browse(chromium, page, tmp_path, "--dump-dom"))
    assert dom.tables == TABLES
    assert [i["alt"] for i in dom.images] == CHARTS
    assert dom.body.get("data-images") == f"{len(CHARTS)}/{len(CHARTS)}"
    assert [i.get("data-decoded") for i in dom.images] == ["yes"] * len(CHARTS)
    assert dom.broken == 0


def test_a_chart_that_does_not_decode_is_caught_by_the_page(chromium: Path, page: Path, tmp_path: Path) -> None:
    # The check above must be able to fail: the same page with one chart cut short (its size is still known, so
    # it has a natural width) and one that is not a PNG at all.
    text = page.read_text(encoding="utf-8")
    charts = re.findall(r'src="data:image/png;base64,([^"]*)"', text)
    text = text.replace(charts[0], charts[0][:400]).replace(charts[1], "bm90IGEgUE5HIGF0IGFsbA==")
    damaged = tmp_path / "damaged.html"
    damaged.write_text(text, encoding="utf-8")
    dom = dom_of(browse(chromium, damaged, tmp_path, "--dump-dom"))
    assert dom.body.get("data-images") == f"{len(CHARTS) - 2}/{len(CHARTS)}"
    assert [i.get("data-decoded") for i in dom.images] == ["no", "no"] + ["yes"] * (len(CHARTS) - 2)
    assert dom.broken == 2


def test_the_screenshot_is_a_page_of_tables_and_charts(chromium: Path, page: Path, tmp_path: Path) -> None:
    shot = tmp_path / "report.png"
    browse(chromium, page, tmp_path, f"--screenshot={shot}", height=6400)
    pixels = np.asarray(Image.open(shot).convert("RGB")).astype(np.int64)
    assert pixels.shape == (6400, 1280, 3)
    ink: npt.NDArray[np.bool_] = np.any(pixels < 235, axis=2)  # anything darker than the page's background
    assert ink.mean() > 0.08, f"only {ink.mean():.1%} of {shot} is drawn on"
    # Text and tables near the top, charts (many colours) below, and content down most of the page.
    assert ink[:800].mean() > 0.03
    rows_drawn = np.flatnonzero(ink.any(axis=1))
    assert rows_drawn.max() > 4000, f"the page ends at y={rows_drawn.max()} in {shot}"
    colours = np.unique(pixels.reshape(-1, 3) // 16, axis=0)
    assert len(colours) > 200, f"{len(colours)} colours: the charts are missing from {shot}"

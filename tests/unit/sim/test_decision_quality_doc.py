"""docs/decision-quality.md is what `phalanx simulate` prints: the figures are simulated again and compared.

The doc holds, per bundled scenario, the block `phalanx simulate <name>` prints on a 100-column terminal after
its full table (narrative, key figures against each baseline, the verdict in words), and a summary table of
headline figures taken from the same cells. Only outcomes are in them (never decision times), and the solver
is seeded, so the same trace prints the same block on any machine.

Regenerate the doc after a change that moves a figure:

    .venv/bin/python -m tests.unit.sim.test_decision_quality_doc --write
"""

from __future__ import annotations

import io
import re
import sys
from functools import cache
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner

from scheduler.cli.compare import figure_text, key_figures, print_key_figures
from scheduler.cli.logs import configure
from scheduler.cli.main import app
from scheduler.sim.report import Summary, job_classes, summarize_all
from scheduler.sim.scenario import bundled_scenarios, load_scenario
from scheduler.sim.simulator import Simulation

ROOT = Path(__file__).resolve().parents[3]
DOC = ROOT / "docs" / "decision-quality.md"
README = ROOT / "README.md"
SCENARIOS = ROOT / "scheduler" / "sim" / "scenarios"
WIDTH = 100
# Simulating these takes longer than a unit test should (contended ~10 s, scale ~2 min on 2 cores): their blocks
# are checked by the slow tests, which `make test` runs too.
COSTLY = frozenset({"contended", "scale"})
QUICK = [name for name in bundled_scenarios() if name not in COSTLY]
# The summary table: headline figures (labels as in the key-figures table), each as phalanx / greedy / pod-by-pod.
HEADLINES = ("wait until running p95", "victim pods", "GPU-hours lost to preemption", "multi-pod jobs in one rack")

INTRO = """\
# Decision quality: phalanx against greedy and pod-by-pod

Every bundled scenario (`phalanx simulate <name>`, files in `scheduler/sim/scenarios/`) replayed with each
policy on the same trace:

- **phalanx**: gangs, CP-SAT placement and preemption (victims and placement chosen jointly);
- **greedy**: gangs, greedy best-fit placement (the same topology-aware packing cost) and upstream's
  remove-all-then-reprieve preemption, tried in each candidate domain;
- **pod-by-pod**: kube-scheduler's way, no gangs: pods are placed and preempt one by one.

The blocks below are printed by `phalanx simulate <name>` on a 100-column terminal after its full table; a
test simulates them again and compares (`tests/unit/sim/test_decision_quality_doc.py`). A ratio is phalanx's
figure over the baseline's; within 1 % counts as the same. "Held by work kept" is the GPU share held by
running jobs minus the work preemption threw away, so a job run twice counts once. Decision times depend on
the machine and are only in the full table `phalanx simulate` prints.

## Summary

Each cell: phalanx / greedy / pod-by-pod.

"""


@cache
def summaries(name: str) -> tuple[Summary, ...]:
    configure("WARNING", json=False)  # as `phalanx simulate` does before it simulates
    scenario = load_scenario(SCENARIOS / f"{name}.yaml")
    results = [Simulation(scenario, policy).run() for policy in scenario.simulation.policies]
    return tuple(summarize_all(results, job_classes(scenario)))


def block(name: str) -> str:
    """What `phalanx simulate <name>` prints after its full table, trailing spaces cut."""
    console = Console(width=WIDTH, record=True, color_system=None, file=io.StringIO())
    print_key_figures(console, load_scenario(SCENARIOS / f"{name}.yaml"), list(summaries(name)))
    return "\n".join(line.rstrip() for line in console.export_text().splitlines())


def summary_row(name: str) -> str:
    found = list(summaries(name))
    by_label = {figure.label: figure for figure in key_figures(found)}
    cells = [" / ".join(figure_text(by_label[label], s) for s in found) for label in HEADLINES]
    return f"| {name} | " + " | ".join(cells) + " |"


def summary_table(names: list[str]) -> str:
    head = "| Scenario | " + " | ".join(HEADLINES) + " |\n|---|" + "---|" * len(HEADLINES) + "\n"
    return head + "\n".join(summary_row(name) for name in names) + "\n"


def document() -> str:
    names = list(bundled_scenarios())
    sections = [f"## {name}\n\n`phalanx simulate {name}`\n\n```text\n{block(name)}\n```\n" for name in names]
    return INTRO + summary_table(names) + "\n" + "\n".join(sections)


def doc_block(text: str, name: str) -> str:
    found = re.search(rf"^## {re.escape(name)}\n.*?```text\n(.*?)\n```", text, re.S | re.M)
    assert found, f"docs/decision-quality.md has no block for {name}"
    return found.group(1)


def doc_row(text: str, name: str) -> str:
    rows = [line for line in text.splitlines() if line.startswith(f"| {name} |")]
    assert rows, f"no summary row for {name}"
    return rows[0]


@pytest.mark.parametrize("name", QUICK)
def test_the_doc_shows_what_simulate_prints_for_each_quick_scenario(name: str) -> None:
    text = DOC.read_text()
    assert doc_block(text, name) == block(name)
    assert doc_row(text, name) == summary_row(name)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(COSTLY))
def test_the_doc_shows_what_simulate_prints_for_each_costly_scenario(name: str) -> None:
    text = DOC.read_text()
    assert doc_block(text, name) == block(name)
    assert doc_row(text, name) == summary_row(name)


def test_the_doc_covers_every_bundled_scenario() -> None:
    text = DOC.read_text()
    assert [m for m in re.findall(r"^## (\S+)$", text, re.M) if m != "Summary"] == list(bundled_scenarios())


def test_the_block_in_the_doc_is_the_one_the_command_prints(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["simulate", "fragmentation", "--report-dir", str(tmp_path)], env={"COLUMNS": "100"}
    )
    assert result.exit_code == 0, result.output
    printed = "\n".join(line.rstrip() for line in result.output.splitlines())
    assert doc_block(DOC.read_text(), "fragmentation") in printed


def test_the_readme_table_is_the_docs() -> None:
    text = README.read_text()
    rows = [line for line in text.splitlines() if line.startswith("| ") and line.split(" | ")[0][2:] in QUICK]
    assert rows, "README.md lost its decision-quality table"
    doc = DOC.read_text()
    for line in rows:
        assert line == doc_row(doc, line.split(" | ")[0][2:])


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        sys.exit(f"usage: {sys.argv[0]} --write  (simulates every bundled scenario, then rewrites {DOC})")
    DOC.parent.mkdir(exist_ok=True)
    DOC.write_text(document())
    print(f"wrote {DOC}")

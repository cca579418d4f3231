"""Terminal tables: they fit 100 columns, say when a figure is missing, and print the user's text verbatim."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from rich.console import Console
from rich.table import Table

from scheduler.cli.cells import cap, natural_key
from scheduler.cli.compare import comparison_table, key_figures_table, verdict_lines
from scheduler.cli.render import cluster_table, decisions_table, groups_table, render_scenario
from scheduler.sim.replay import decide
from scheduler.sim.report import ClassWaits, ResourceShare, Summary
from scheduler.sim.scenario import Scenario, load_scenario

BUNDLED = Path(__file__).resolve().parents[3] / "scheduler" / "sim" / "scenarios"

SUMMARY = Summary(
    policy="phalanx",
    jobs=2,
    started=1,
    completed=1,
    never_started=1,
    mean_wait_s=30.0,
    p50_wait_s=30.0,
    p95_wait_s=300.0,
    utilisation=0.5,
    useful_utilisation=0.4,
    kept_utilisation=0.4,
    partial_hours=0.0,
    preemptions=0,
    victim_pods=0,
    lost_hours=0.0,
    one_rack=1.0,
    one_block=1.0,
    decision_p50_ms=0.3,
    decision_p99_ms=2.0,
    makespan_s=7.2 * 3600,
    resource="nvidia.com/gpu",
    window_s=7.2 * 3600,
    window_basis="to the last job completion of any policy",
)


def text(table: Table, width: int = 100) -> str:
    console = Console(width=width, record=True, color_system=None)
    console.print(table)
    return console.export_text()


def row(output: str, label: str) -> str:
    return next(line.rstrip() for line in output.splitlines() if line.startswith(label))


def test_the_comparison_table_names_the_one_window_every_policy_is_averaged_over() -> None:
    output = text(comparison_table([SUMMARY, replace(SUMMARY, policy="pod-by-pod")]))
    assert "over 0\u20137.2 h" in output
    words = " ".join(output.split())  # the caption wraps to the table's width
    assert "same window for every policy, t=0 to the last job completion of any policy" in words


def test_figures_without_data_print_a_dash_not_zero() -> None:
    empty = replace(
        SUMMARY,
        p50_wait_s=None,
        p95_wait_s=None,
        one_rack=None,
        one_block=None,
        decision_p50_ms=None,
        decision_p99_ms=None,
        makespan_s=None,
    )
    output = text(comparison_table([empty]))
    for label in ("wait until running", "multi-pod jobs", "decision (solver) time", "makespan"):
        assert row(output, label).split()[-1] == "\u2013", label
    assert "0 s" not in output
    assert "0% / 0%" not in output


def test_waits_get_a_row_per_priority_class_when_there_are_several() -> None:
    classes = (ClassWaits("batch-low", 3, 0.0, 60.0), ClassWaits("training-high", 2, None, None))
    output = text(comparison_table([replace(SUMMARY, waits_by_class=classes)]))
    assert row(output, "  batch-low: p50 / p95").endswith("0 s / 60 s")
    assert row(output, "  training-high: p50 / p95").endswith("\u2013")


def test_names_sort_by_the_numbers_in_them() -> None:
    assert sorted(["rack-10", "rack-2", "rack-1"], key=natural_key) == ["rack-1", "rack-2", "rack-10"]


def test_a_long_cell_is_cut_with_an_ellipsis() -> None:
    assert cap("ml/llm-pretrain-workers", 10) == "ml/llm-pr…"
    assert cap("short", 10) == "short"


def many_racks(tmp_path: Path, racks: int) -> Scenario:
    path = tmp_path / "racks.yaml"
    path.write_text(
        f"""\
apiVersion: sim.phalanx.dev/v1alpha1
kind: Scenario
metadata: {{name: racks}}
spec:
  cluster:
    zones: 1
    blocksPerZone: 1
    racksPerBlock: {racks}
    nodesPerRack: 2
    shapes:
    - name: gpu
      allocatable: {{cpu: "8", memory: 64Gi, nvidia.com/gpu: 8, pods: 110}}
"""
    )
    return load_scenario(path)


def test_a_long_cluster_table_stops_after_twenty_racks_in_natural_order(tmp_path: Path) -> None:
    output = text(cluster_table(many_racks(tmp_path, 25)))
    lines = [line for line in output.splitlines() if "rack-" in line]
    assert len(lines) == 20
    assert lines[2].split()[2].endswith("rack-2")
    assert lines[10].split()[2].endswith("rack-10")
    assert row(output, "… 5 more").split()[-1] == "10"  # the nodes of the racks not shown
    assert "first 20 of 25 racks" in output


def test_the_demo_tables_fit_100_columns_without_folding_cells() -> None:
    scenario = load_scenario(BUNDLED / "demo.yaml")
    for table in (cluster_table(scenario), groups_table(scenario)):
        output = text(table)
        assert max(len(line.rstrip()) for line in output.splitlines()) <= 100
    groups = text(groups_table(scenario))
    assert "Per-pod requests" in groups  # no header folded or cut
    assert "ml/finetune-job" in groups
    # One line per pod shape, not one per word: the fine-tuning gang has a launcher and workers.
    assert "8 x 24cpu 192Gi 4gpu" in groups


def test_text_from_the_scenario_is_printed_verbatim_not_as_markup(tmp_path: Path) -> None:
    scenario = replace(
        many_racks(tmp_path, 1), description="sizes match [eEinumkKMGTP]", warnings=("a [bold]warning[/]",)
    )
    console = Console(width=100, record=True, color_system=None)
    render_scenario(console, scenario)
    output = console.export_text()
    assert "sizes match [eEinumkKMGTP]" in output
    assert "warning: a [bold]warning[/]" in output


def test_every_resource_gets_an_allocated_and_useful_row() -> None:
    shares = (ResourceShare("nvidia.com/gpu", 0.5, 0.4), ResourceShare("cpu", 0.25, 0.2))
    output = text(comparison_table([replace(SUMMARY, shares=shares)]))
    assert row(output, "GPU allocated / held by running jobs").endswith("50.0% / 40.0%")
    assert row(output, "CPU allocated / held by running jobs").endswith("25.0% / 20.0%")


def test_victims_are_counted_by_class_and_their_racks_are_a_dash_without_preemptions() -> None:
    victims = replace(SUMMARY, preemptions=2, victim_pods=5, victims_by_class=(("batch", 4), ("eval", 1)))
    output = text(comparison_table([victims, replace(SUMMARY, policy="greedy")]))
    assert row(output, "  victim pods: batch").split()[-2:] == ["4", "0"]
    assert row(output, "racks the victims of one preemption span").split()[-1] == "\u2013"


BASELINE = replace(SUMMARY, policy="greedy", p95_wait_s=600.0, victim_pods=10, lost_hours=2.0)
MINE = replace(SUMMARY, p95_wait_s=300.0, victim_pods=5, lost_hours=3.0, victim_racks=1.0)


def test_the_key_figures_give_the_ratio_and_which_policy_is_better() -> None:
    table = key_figures_table([MINE, BASELINE])
    assert table is not None
    output = text(table)
    assert max(len(line.rstrip()) for line in output.splitlines()) <= 100
    assert row(output, "wait until running p95").endswith("5.0 min  10.0 min  0.50x better")
    assert row(output, "victim pods").endswith("5        10  0.50x better")
    assert row(output, "GPU-hours lost to preemption").endswith("3.0       2.0  1.50x worse")
    assert row(output, "makespan").endswith("1.00x same")
    assert row(output, "racks per preemption").endswith("\u2013")  # the baseline preempted nothing to compare


def test_where_phalanx_is_not_better_the_verdict_says_so_in_words() -> None:
    (line,) = verdict_lines([MINE, BASELINE])
    assert line.startswith("Against greedy, phalanx is better on wait p95 (0.50x) and victim pods (0.50x)")
    assert "it is not better on the rest:" in line
    assert "worse on work lost (1.50x)" in line
    (same,) = verdict_lines([SUMMARY, replace(SUMMARY, policy="greedy")])
    assert same.startswith("Against greedy, phalanx is not better on any key figure: the same on jobs never started")


def test_without_phalanx_or_a_baseline_there_are_no_key_figures() -> None:
    assert key_figures_table([BASELINE]) is None
    assert key_figures_table([MINE]) is None
    assert verdict_lines([BASELINE]) == []


def test_a_unit_decided_without_the_solver_shows_dashes_not_zero_milliseconds() -> None:
    scenario = load_scenario(BUNDLED / "demo.yaml")
    orphan = tuple(p for p in scenario.pods if p.metadata.name == "orphan-worker")
    _, decisions = decide(replace(scenario, pods=orphan))
    output = text(decisions_table(decisions))
    (line,) = [line for line in output.splitlines() if "sweep-7" in line]
    assert line.split()[-3:] == ["\u2013", "\u2013", "\u2013"]
    assert "0.0 ms" not in output


def test_a_group_without_topology_and_a_rack_without_taints_show_a_dash(tmp_path: Path) -> None:
    output = text(cluster_table(many_racks(tmp_path, 1)))
    assert row(output, "zone-0").split()[-1] == "\u2013"
    groups = text(groups_table(load_scenario(BUNDLED / "demo.yaml")))
    assert row(groups, "research/batch-eval").split()[6] == "\u2013"


def test_a_ratio_that_would_round_to_zero_gives_way_to_the_two_figures() -> None:
    quick, slow = replace(MINE, p95_wait_s=7.0), replace(BASELINE, p95_wait_s=2.2 * 3600)
    table = key_figures_table([quick, slow])
    assert table is not None
    assert row(text(table), "wait until running p95").endswith("<0.01x better")
    (line,) = verdict_lines([quick, slow])
    assert "wait p95 (7 s vs 2.2 h)" in line

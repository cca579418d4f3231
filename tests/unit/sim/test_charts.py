"""The report's charts: small multiples on shared axes, time cut at the window, legends off the data, a heat map
laid out by the topology graph, and a decision timeline that agrees with the event log."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, cast

import matplotlib.image
import numpy as np
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from scheduler.sim.charts import (
    TimeAxis,
    bin_width,
    comparison_figure,
    draw,
    instants,
    job_counts,
    timeline_figure,
    utilisation_figure,
    waits_figure,
)
from scheduler.sim.heatmap import ABSENT, NO_RESOURCE, heatmap_figure, layout, shares
from scheduler.sim.occupancy import Snapshot
from scheduler.sim.report import Summary, summarize_all
from scheduler.sim.scenario import Policy, load_scenario
from scheduler.sim.simulator import Job, SimResult, Simulation
from scheduler.topology.tree import TopologyTree
from tests.builders import BLOCK, GPU, LEVELS, RACK, ZONE, make_node

BUNDLED = Path(__file__).resolve().parents[3] / "scheduler" / "sim" / "scenarios"
HOUR = 3600.0


@pytest.fixture(scope="module")
def demo() -> tuple[list[SimResult], list[Summary]]:
    scenario = load_scenario(BUNDLED / "demo.yaml")
    results = [Simulation(scenario, p).run() for p in Policy]
    return results, summarize_all(results)


def rendered(figure: Figure | None) -> Figure:
    assert figure is not None
    FigureCanvasAgg(figure)
    figure.canvas.draw()
    return figure


def data_axes(figure: Figure) -> list[Any]:
    return [ax for ax in figure.axes if ax.get_label() != "<colorbar>"]


def assert_legends_off_the_data(figure: Figure) -> None:
    assert figure.legends, "the legend is the figure's, not one panel's"
    for legend in figure.legends:
        box = legend.get_window_extent()
        for ax in data_axes(figure):
            assert not box.overlaps(ax.get_window_extent()), ax.get_title()
    assert all(ax.get_legend() is None for ax in figure.axes)


def test_every_chart_is_written_as_a_png_that_decodes(
    demo: tuple[list[SimResult], list[Summary]], tmp_path: Path
) -> None:
    results, summaries = demo
    paths = draw(results, summaries, tmp_path)
    names = ["utilisation.png", "timeline.png", "heatmap.png", "waits.png", "comparison.png"]
    assert [p.name for p in paths] == names
    for path in paths:
        pixels = matplotlib.image.imread(path)
        assert pixels.shape[0] > 200
        assert pixels.shape[1] > 500
        assert pixels[..., :3].std() > 0.05, f"{path.name} is blank"


def test_utilisation_is_one_panel_per_policy_on_shared_axes_cut_at_the_window(
    demo: tuple[list[SimResult], list[Summary]],
) -> None:
    results, summaries = demo
    window = summaries[0].window_s
    figure = rendered(utilisation_figure(results, summaries, window))
    axes = data_axes(figure)
    assert [ax.get_title(loc="left").split(":")[0] for ax in axes] == [p.value for p in Policy]
    for ax in axes[1:]:
        assert axes[0].get_shared_x_axes().joined(axes[0], ax)
        assert axes[0].get_shared_y_axes().joined(axes[0], ax)
    assert axes[-1].get_xlim() == pytest.approx((0.0, window / HOUR))
    assert window < max(r.end for r in results)  # the orphan pod keeps a run going to the horizon: cut off
    assert_legends_off_the_data(figure)


def test_the_timeline_counts_jobs_waiting_and_running_as_the_log_says() -> None:
    log = [
        {"t": 0.0, "event": "arrive", "job": "a"},
        {"t": 0.0, "event": "arrive", "job": "b"},
        {"t": 0.0, "event": "start", "job": "a"},
        {"t": 10.0, "event": "start", "job": "b"},
        {"t": 20.0, "event": "preempt", "preemptor": "c", "victims": ["a-0"]},
        {"t": 20.0, "event": "interrupt", "job": "a"},
        {"t": 30.0, "event": "start", "job": "a"},
        {"t": 40.0, "event": "complete", "job": "a"},
        {"t": 50.0, "event": "complete", "job": "b"},
    ]
    result = SimResult(Policy.PHALANX, GPU, 8, [], [], [], log, 50.0)
    times, waiting, running = job_counts(result)
    assert times == [0.0, 10.0, 20.0, 30.0, 40.0, 50.0]
    assert waiting == [1, 0, 1, 0, 0, 0]
    assert running == [1, 2, 1, 2, 1, 0]


def test_the_timeline_counts_every_start_and_preemption_per_policy(
    demo: tuple[list[SimResult], list[Summary]],
) -> None:
    results, summaries = demo
    window = summaries[0].window_s
    figure = rendered(timeline_figure(results, window))
    counts = [ax for ax in figure.axes if ax.get_title(loc="left")]
    strips = [ax for ax in figure.axes if not ax.get_title(loc="left")]
    assert len(counts) == len(strips) == len(results)
    for result, strip in zip(results, strips, strict=True):
        heights = [cast(Rectangle, bar).get_height() for bar in strip.patches]
        assert sum(h for h in heights if h > 0) == sum(e["event"] == "start" and e["t"] <= window for e in result.log)
        preemptions = sum(e["event"] == "preempt" and e["t"] <= window for e in result.log)
        assert -sum(h for h in heights if h < 0) == preemptions
    assert_legends_off_the_data(figure)


def test_the_timeline_counts_events_in_round_stretches_of_time() -> None:
    assert [bin_width(w) for w in (90.0, 7 * HOUR, 26 * HOUR)] == [60.0, 300.0, 1800.0]
    assert 7 * HOUR / bin_width(7 * HOUR) <= 100


def rack_node(name: str, block: str, rack: str, gpu: int = 8) -> Any:
    return make_node(name, gpu=gpu).label(ZONE, "z").label(BLOCK, block).label(RACK, rack).obj()


def test_the_heat_map_layout_is_read_off_the_topology_graph_in_natural_order() -> None:
    nodes = [
        rack_node("a10-1", "block-1", "rack-10"),
        rack_node("a2-1", "block-1", "rack-2"),
        rack_node("a2-2", "block-1", "rack-2"),
        rack_node("b1-1", "block-2", "rack-1"),
    ]
    where = layout(TopologyTree(LEVELS, nodes))
    # rack-2 before rack-10 (the tree itself orders by text), then a gap where block-1 ends.
    assert where.cells == {"a2-1": (0, 0), "a2-2": (1, 0), "a10-1": (0, 1), "b1-1": (0, 3)}
    assert (where.rows, where.columns) == (2, 4)
    assert where.labels() == [("rack-2", 0.0), ("rack-10", 1.0), ("rack-1", 3.0)]


def test_a_cluster_without_levels_wraps_into_a_square_map() -> None:
    where = layout(TopologyTree([], [make_node(f"n{i}").obj() for i in range(100)]))
    assert (where.rows, where.columns) == (10, 10)
    assert len(set(where.cells.values())) == 100


def test_each_cell_is_the_share_of_its_node_bound_and_a_node_not_there_is_marked() -> None:
    cpu = rack_node("cpu", "block-1", "rack-1", gpu=0)
    gpu = rack_node("gpu", "block-1", "rack-1")
    later = rack_node("later", "block-1", "rack-1")
    where = layout(TopologyTree(LEVELS, [cpu, gpu, later]))
    grid = shares(Snapshot(0.0, (cpu, gpu), {"gpu": 2}), where, GPU)
    cells = {name: grid[where.cells[name]] for name in ("cpu", "gpu", "later")}
    assert cells == {"cpu": NO_RESOURCE, "gpu": 0.25, "later": ABSENT}
    assert np.isnan(grid).sum() == grid.size - 3


def test_the_heat_map_shows_every_policy_at_the_quartiles_of_the_window(
    demo: tuple[list[SimResult], list[Summary]],
) -> None:
    results, summaries = demo
    window = summaries[0].window_s
    moments = instants(window)
    assert moments == pytest.approx([window / 4, window / 2, 3 * window / 4])
    figure = rendered(heatmap_figure(results, moments, [f"{m:.0f}" for m in moments]))
    panels = data_axes(figure)
    assert len(panels) == len(results) * len(moments)
    assert [ax.get_ylabel() for ax in panels[:: len(moments)]] == [p.value for p in Policy]
    assert_legends_off_the_data(figure)


def test_a_run_without_occupancy_draws_no_heat_map(tmp_path: Path) -> None:
    bare = SimResult(Policy.PHALANX, GPU, 8, [], [], [], [], 0.0)
    assert heatmap_figure([bare], [0.0], ["t = 0"]) is None
    assert "heatmap.png" not in [p.name for p in draw([bare], [], tmp_path)]


def test_a_policy_that_started_no_job_says_so_rather_than_showing_a_zero_wait() -> None:
    waited = Job("a", ["a-0"], 1, 0.0, HOUR, started=600.0, finished=HOUR)
    never = Job("b", ["b-0"], 1, 0.0, HOUR)
    results = [
        SimResult(Policy.PHALANX, GPU, 8, [waited], [], [], [], HOUR),
        SimResult(Policy.POD_BY_POD, GPU, 8, [never], [], [], [], HOUR),
    ]
    figure = rendered(waits_figure(results))
    texts = [t.get_text() for t in figure.axes[0].texts]
    assert " no job started" in texts
    assert any(t.startswith("p50 10 min") for t in texts)


def test_a_figure_that_does_not_exist_is_a_dash_not_a_zero_bar(demo: tuple[list[SimResult], list[Summary]]) -> None:
    _, summaries = demo
    never_started = replace(summaries[1], p50_wait_s=None, p95_wait_s=None)
    figure = rendered(comparison_figure([summaries[0], never_started]))
    labels = [t.get_text() for t in figure.axes[0].texts]  # the wait panel
    axis = TimeAxis(summaries[0].p95_wait_s or 0.0)
    assert figure.axes[0].get_title() == f"wait until running p95 ({axis.unit})"
    assert labels == [f"{(summaries[0].p95_wait_s or 0) / axis.divisor:.1f}", "\u2013"]

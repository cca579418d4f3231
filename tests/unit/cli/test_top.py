"""`phalanx top`'s frames from hand-made views: what an empty cluster, waiting gangs and running gangs look like,
and that a frame fits the terminal it is drawn for."""

from __future__ import annotations

import asyncio
import io
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from rich.console import Console, RenderableType

from scheduler.cli.render import EMPTY
from scheduler.cli.top import render, share_rows
from scheduler.cli.top_live import watch
from scheduler.kube.snapshot import ClusterView, Domain, Event, LastDecision, Unit

NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
RACK = "network.phalanx.dev/rack"
VERDICT = "no rack has room for 16 pods (largest free: 14)"
WHY = (
    "16 pod(s) {cpu: 12, memory: 96Gi, nvidia.com/gpu: 4}: 11/18 nodes fit: 4 Insufficient nvidia.com/gpu, "
    f"2 node(s) had untolerated taint {{dedicated: infra}}, 1 node(s) were unschedulable; {VERDICT}"
)


def gang(key: str, **fields: Any) -> Unit:
    base = Unit(
        key=key,
        kind="PodGroup",
        min_count=16,
        pods=16,
        pending=16,
        running=0,
        priority=1000,
        priority_class="training-high",
        created=NOW - timedelta(minutes=3),
        phase="Unschedulable",
        reason="Unschedulable",
        message=WHY,
        since=NOW - timedelta(seconds=40),
    )
    return replace(base, **fields)


def running(key: str, domain: str, **fields: Any) -> Unit:
    values: dict[str, Any] = {
        "pending": 0,
        "running": 16,
        "phase": "Running",
        "reason": "Scheduled",
        "message": "16 pods running",
        "level": RACK,
        "domain": domain,
        "nodes": 4,
    }
    return gang(key, **{**values, **fields})


def frame(view: ClusterView, width: int = 120, height: int | None = 40, footer: str = "") -> str:
    console = Console(width=width, record=True, color_system=None)
    renderable: RenderableType = render(view, width, height, footer)
    console.print(renderable)
    return console.export_text()


def section(output: str, title: str) -> list[str]:
    """The lines of one table, title to the next title, without its header and rule."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(title))
    titles = ("Queue", "Waiting gangs", "Running gangs", "Latest decisions")
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith(titles)), len(lines))
    return [line.rstrip() for line in lines[start + 3 : end]]


def test_an_empty_cluster_shows_every_section_with_a_dash_and_zero_counts() -> None:
    output = frame(ClusterView(None, NOW))
    assert "phalanx top · all namespaces · 12:00:00 UTC" in output
    assert "0 nodes (0 usable) · queue 0 units, 0 pods · waiting 0 gangs · running 0 gangs in 0 domains" in output
    for title in ("Queue", "Waiting gangs", "Running gangs by domain", "Latest decisions"):
        assert [line.strip() for line in section(output, title)] == [EMPTY]
    assert "more" not in output
    assert "error" not in output


def test_a_waiting_gang_shows_its_reason_whole_when_there_is_room() -> None:
    quorum = gang("ml/eval", pods=2, min_count=3, pending=2, phase="Pending", reason="WaitingForPods", message="2/3")
    view = ClusterView("ml", NOW, queue=(gang("ml/pretrain"), quorum), waiting=(gang("ml/pretrain"), quorum))
    output = frame(view, width=160)
    rows = section(output, "Waiting gangs")
    assert rows[0].startswith("ml/pretrain")
    assert "16/16  Unschedulable   40s  16 pod(s)" in rows[0]
    # The reason wraps within its column, the other columns blank below it: joined up, it is all there.
    assert " ".join(WHY.split()) in " ".join(" ".join(rows[:3]).split())
    assert any(row.startswith("ml/eval") and "2/3  WaitingForPods" in row for row in rows)
    assert "namespace ml" in output


def test_a_reason_too_long_for_its_lines_keeps_its_start_and_its_verdict() -> None:
    rows = section(frame(ClusterView("ml", NOW, waiting=(gang("ml/pretrain"),)), width=120), "Waiting gangs")
    assert len(rows) == 3
    assert rows[0].endswith("16 pod(s) {cpu: 12, memory: 96Gi, nvidia.com/gpu: 4}: 11/18 nodes fit: 4")
    assert rows[2].strip().startswith("…")
    assert rows[2].endswith(VERDICT)


def test_many_waiting_gangs_show_the_verdict_of_each_and_count_the_rest() -> None:
    gangs = tuple(gang(f"ml/job-{i}") for i in range(30))
    output = frame(ClusterView("ml", NOW, queue=gangs, waiting=gangs), height=40)
    rows = section(output, "Waiting gangs")
    shown = [row for row in rows if row.startswith("ml/job-")]
    assert shown
    assert all(row.endswith(VERDICT) and "40s  … " in row for row in shown)  # one line each: the end of the reason
    assert rows[-1].strip() == f"… {30 - len(shown)} more"


def test_the_queue_is_shown_in_the_order_it_is_given_with_dashes_for_what_a_pod_lacks() -> None:
    single = gang("ml/web-0", kind="Pod", min_count=1, pods=1, pending=1, priority=None, priority_class="")
    named = gang("ml/batch", priority=None, priority_class="batch-low")
    output = frame(ClusterView("ml", NOW, queue=(gang("ml/pretrain"), single, named)))
    rows = section(output, "Queue")
    assert [row.split()[0] for row in rows] == ["ml/pretrain", "ml/web-0", "ml/batch"]
    assert rows[0].split()[1:6] == ["PodGroup", "16", "16", "1000", "3m"]
    assert rows[1].split()[1:5] == ["Pod", "1", EMPTY, EMPTY]  # a lone pod has no minCount, nor here a priority
    assert "batch-low" in rows[2]  # the class names the priority the pods have not been given yet


def test_running_gangs_are_grouped_under_their_domain_in_natural_order() -> None:
    rack_10 = Domain(RACK, "rack-10", nodes=8, busy=4, gangs=(running("ml/a", "rack-10"),))
    rack_2 = Domain(
        RACK, "rack-2", nodes=8, busy=8, gangs=(running("ml/job-10", "rack-2"), running("ml/job-2", "rack-2"))
    )
    output = frame(ClusterView("ml", NOW, domains=(rack_10, rack_2)))
    rows = section(output, "Running gangs by domain")
    assert [row.split()[:4] for row in rows[:1]] == [["rack-2", "rack", "8/8", "ml/job-2"]]
    assert rows[1].split() == ["ml/job-10", "16/16", "1000", "40s"]  # its domain named once, above
    assert rows[2].split()[:4] == ["rack-10", "rack", "4/8", "ml/a"]
    assert "running 3 gangs in 2 domains" in output


def test_a_gang_placed_without_a_topology_level_shows_dashes_for_its_domain() -> None:
    loose = Domain("", "", nodes=0, busy=0, gangs=(running("ml/loose", "", level=""),))
    rows = section(frame(ClusterView("ml", NOW, domains=(loose,))), "Running gangs by domain")
    assert rows[0].split()[:4] == [EMPTY, EMPTY, EMPTY, "ml/loose"]


def test_decisions_fold_a_gangs_pods_and_give_the_solver_figures_to_its_newest_event() -> None:
    train = running("ml/train", "rack-1", decision=LastDecision(NOW, "Feasible", 0.012, 3, 0.0421))
    events = (
        Event(NOW - timedelta(seconds=5), "ml/train", "Normal", "Scheduled", 16, "Successfully assigned ml/train-0"),
        Event(NOW - timedelta(seconds=9), "ml/train", "Warning", "FailedScheduling", 1, WHY),
        Event(None, "ml/gone", "Normal", "Preempted", 1, ""),
    )
    output = frame(ClusterView("ml", NOW, domains=(Domain(RACK, "rack-1", 4, 4, (train,)),), decisions=events))
    rows = section(output, "Latest decisions")
    assert rows[0].split()[:8] == ["5s", "ml/train", "Scheduled", "x16", "Feasible", "42", "ms", "gap"]
    assert "1.2% 3 victims" in rows[0]
    assert rows[1].split()[3] == EMPTY  # the older decision's figures are gone from the status
    assert rows[2].split()[:3] == [EMPTY, "ml/gone", "Preempted"]
    assert rows[2].rstrip().endswith(EMPTY)  # no message


def test_an_api_error_is_a_line_under_the_summary() -> None:
    view = ClusterView("ml", NOW, errors=("cannot list pods, events: 403 Forbidden",))
    lines = frame(view).splitlines()
    assert lines[2] == "error: cannot list pods, events: 403 Forbidden"


@pytest.mark.parametrize("width", [50, 60, 80, 100, 120, 200])
def test_a_frame_never_runs_past_the_terminal_and_never_cuts_a_figure(width: int) -> None:
    long = "ml/" + "very-long-gang-name-" * 5
    gangs = (gang(long), gang("ml/pretrain", priority=123456789))
    domains = (Domain(RACK, "rack-" + "x" * 60, 100, 99, (running(long, "r"),)),)
    events = (Event(NOW, long, "Warning", "FailedScheduling", 1, WHY),)
    view = ClusterView("ml", NOW, 5000, 4990, queue=gangs, waiting=gangs, domains=domains, decisions=events)
    output = frame(view, width=width, footer="every 2 s · q quits")
    assert all(len(line) <= width for line in output.splitlines())
    assert "123456789" in section(output, "Queue")[1]
    assert "99/100" in output
    assert "16/16" in section(output, "Waiting gangs")[0]


@pytest.mark.parametrize("height", [20, 30, 40, 60])
def test_a_frame_never_runs_past_the_bottom_of_the_screen(height: int) -> None:
    gangs = tuple(gang(f"ml/job-{i}") for i in range(40))
    domains = tuple(Domain(RACK, f"rack-{i}", 4, 4, (running(f"ml/run-{i}", f"rack-{i}"),)) for i in range(40))
    events = tuple(Event(NOW, f"ml/job-{i}", "Warning", "FailedScheduling", 1, WHY) for i in range(40))
    view = ClusterView("ml", NOW, queue=gangs, waiting=gangs, domains=domains, decisions=events, errors=("boom",))
    lines = frame(view, height=height, footer="q quits").splitlines()
    assert len(lines) <= height
    assert sum("more" in line for line in lines) == 4  # every list says how much it left out


def test_a_frame_without_a_height_caps_each_list_and_counts_the_rest() -> None:
    gangs = tuple(gang(f"ml/job-{i}") for i in range(50))
    rows = section(frame(ClusterView("ml", NOW, queue=gangs), height=None), "Queue")
    assert len(rows) == 20
    assert rows[-1].strip() == "… 31 more"
    assert rows[0].startswith("ml/job-0 ")


def test_short_lists_lend_their_lines_to_long_ones() -> None:
    assert share_rows([1, 50, 2, 50], 21) == [1, 9, 2, 9]
    assert share_rows([100, 100], 10) == [5, 5]
    assert share_rows([3, 3], 100) == [3, 3]
    assert share_rows([5, 5], 0) == [1, 1]  # never nothing: the line that says how many are left out


async def test_the_live_view_shows_a_read_that_broke_as_an_error_and_goes_on() -> None:
    stop = asyncio.Event()
    reads = 0

    async def fetch() -> ClusterView:
        nonlocal reads
        reads += 1
        if reads == 1:
            raise RuntimeError("the server said something unreadable")
        if reads == 3:
            stop.set()  # as q would, mid-read: the view closes without waiting for the read
        return ClusterView("ml", NOW, queue=(gang("ml/after-the-error"),))

    out = io.StringIO()
    console = Console(file=out, width=100, height=40, force_terminal=True, color_system=None)
    await asyncio.wait_for(watch(fetch, console, "ml", 0.01, stop=stop), timeout=10)
    assert reads == 3
    assert "error: cannot read the cluster: the server said something unreadable" in out.getvalue()
    assert "ml/after-the-error" in out.getvalue()

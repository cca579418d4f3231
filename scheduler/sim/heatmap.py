"""The allocation heat map: every node of the cluster, placed by the topology graph, coloured by the share of
its measured resource that is bound, for each policy at a few instants.

The layout is read off the topology graph (zone -> block -> rack -> node): each narrowest domain is a column of
its nodes, siblings side by side in natural order (rack-2 before rack-10), with a gap wherever a wider domain
ends, so a gang kept in one rack is one dark column and a scattered one is speckle across the map.
"""

from __future__ import annotations

import math
import re
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from matplotlib import colormaps
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from scheduler.sim.occupancy import Snapshot
from scheduler.sim.simulator import SimResult
from scheduler.topology.nodes import NodeInfo
from scheduler.topology.tree import ROOT, TopologyTree

MAX_LABELS = 16  # tick labels along the x axis before the level above is labelled instead
NO_RESOURCE = -1.0  # a node that offers none of the measured resource (a CPU node on a GPU map)
ABSENT = 2.0  # a node of the map that is not there at that instant (not added yet, or removed)
EMPTY, FULL = 0.15, 1.0  # the part of the colour map used: an idle node stays visibly coloured, unlike no node


@dataclass
class Layout:
    """Where each node's cell is, and the labels of one level's domains along the x axis."""

    cells: dict[str, tuple[int, int]] = field(default_factory=dict)  # node -> (row, column)
    rows: int = 0
    columns: int = 0
    spans: list[list[tuple[str, int, int]]] = field(default_factory=list)  # per level: (value, first, last column)

    def labels(self) -> list[tuple[str, float]]:
        """(label, centre column) of each domain of the narrowest level whose domains fit along the axis."""
        for depth in range(len(self.spans) - 1, -1, -1):
            if len(self.spans[depth]) <= MAX_LABELS or depth == 0:
                return [(v or "(unlabelled)", (a + b) / 2) for v, a, b in self.spans[depth]]
        return []


def natural(text: str) -> tuple[tuple[int, int | str], ...]:
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in re.split(r"(\d+)", text) if p)


def layout(tree: TopologyTree) -> Layout:
    """Columns of nodes per narrowest domain, walked from the graph's root; a domain of many nodes (or a
    cluster without levels) wraps into several columns so the map stays roughly square."""
    out = Layout(spans=[[] for _ in tree.levels])
    groups = [d.size for d in tree.domains[-1]] if tree.levels else [len(tree)]
    out.rows = max(1, min(max(groups, default=1), max(8, math.ceil(math.sqrt(len(tree))))))

    def key(vertex: Hashable) -> tuple[tuple[int, int | str], ...]:
        domain = tree.domain(vertex)
        return natural(domain.value if domain is not None else str(vertex))

    def walk(vertex: Hashable, depth: int) -> None:
        children = sorted(tree.children(vertex), key=key)
        first = out.columns
        if depth == len(tree.levels) - 1:
            for i, name in enumerate(children):
                out.cells[str(name)] = (i % out.rows, out.columns + i // out.rows)
            out.columns += max(1, math.ceil(len(children) / out.rows))
        else:
            for i, child in enumerate(children):
                if i and depth < len(tree.levels) - 2:
                    out.columns += 1  # a wider domain than the narrowest ends here
                walk(child, depth + 1)
        domain = tree.domain(vertex)
        if domain is not None:
            out.spans[depth].append((domain.value, first, out.columns - 1))

    if len(tree):
        walk(ROOT, -1)
    return out


def shares(snapshot: Snapshot, where: Layout, resource: str) -> npt.NDArray[np.float64]:
    """The map's cells: bound share per node, NO_RESOURCE for nodes without the resource, ABSENT for nodes of the
    map missing at that instant, NaN where the layout has no node."""
    grid = np.full((where.rows, where.columns), np.nan)
    for row, column in where.cells.values():
        grid[row, column] = ABSENT
    for node in snapshot.nodes:
        row, column = where.cells[node.name]
        capacity = node.allocatable.get(resource, 0)
        grid[row, column] = snapshot.held.get(node.name, 0) / capacity if capacity else NO_RESOURCE
    return grid


def heatmap_figure(results: Sequence[SimResult], moments: Sequence[float], titles: Sequence[str]) -> Figure | None:
    """Rows: policies; columns: the instants. Every panel draws the same layout (all nodes any instant had)."""
    rows = [(r, r.occupancy) for r in results if r.occupancy is not None]
    if not rows or not moments:
        return None
    snapshots = [[occupancy.at(t) for t in moments] for _, occupancy in rows]
    seen: dict[str, NodeInfo] = {n.name: n for line in snapshots for s in line for n in s.nodes}
    if not seen:
        return None
    tree = TopologyTree(rows[0][1].levels, seen.values())
    where = layout(tree)
    resource = rows[0][0].resource
    width = min(4.4, max(2.4, 0.16 * where.columns))
    height = min(3.0, max(1.3, 0.2 * where.rows))
    figure = Figure(figsize=(0.8 + width * len(moments), 1.2 + height * len(rows)), layout="constrained")
    axes = figure.subplots(len(rows), len(moments), sharex=True, sharey=True, squeeze=False)
    cmap = ListedColormap(colormaps["YlGnBu"](np.linspace(EMPTY, FULL, 256))).with_extremes(
        bad="white", under="#b5b5b5", over="#ececec"
    )
    unit = resource.rsplit("/", 1)[-1].upper() if "/" in resource else resource.upper()
    ticks = where.labels()
    edges = where.rows * where.columns <= 600  # small clusters: one visible square per node
    mesh = None
    for i, ((result, _), line) in enumerate(zip(rows, snapshots, strict=True)):
        for j, snapshot in enumerate(line):
            ax = axes[i, j]
            grid = shares(snapshot, where, resource)
            mesh = ax.pcolormesh(
                grid,
                cmap=cmap,
                vmin=0,
                vmax=1,
                edgecolors="white" if edges else "face",
                linewidth=0.6 if edges else 0,
            )
            held = sum(snapshot.held.values())
            offered = sum(n.allocatable.get(resource, 0) for n in snapshot.nodes)
            share = f"{held / offered:.0%} of {unit}s bound" if offered else f"no {unit} offered"
            ax.set_title(f"{titles[j]}\n{share}" if i == 0 else share, fontsize="small")
            off = [where.cells[n.name] for n in snapshot.nodes if not (n.ready and not n.unschedulable)]
            if off:
                ax.scatter([c + 0.5 for _, c in off], [r + 0.5 for r, _ in off], marker="x", s=14, color="#b03030")
            ax.set_xticks([c + 0.5 for _, c in ticks], [label for label, _ in ticks], rotation=90, fontsize=7)
            ax.set_yticks([])
            ax.set_xlim(0, where.columns)
            ax.set_ylim(where.rows, 0)
            for spine in ax.spines.values():
                spine.set_color("#bbbbbb")
        axes[i, 0].set_ylabel(result.policy.value, fontsize="medium", fontweight="bold")
    assert mesh is not None
    figure.colorbar(mesh, ax=axes, location="right", shrink=0.8, label=f"share of the node's {unit} bound")
    figure.legend(
        handles=[
            Patch(facecolor="#b5b5b5", label=f"node without {unit}"),
            Patch(facecolor="#ececec", label="node not there at that instant"),
            Line2D([], [], linestyle="", marker="x", color="#b03030", label="cordoned or NotReady"),
        ],
        loc="outside lower center",
        ncols=3,
        frameon=False,
        fontsize="small",
    )
    gap = f", a gap where a {tree.levels[-2].rsplit('/', 1)[-1]} ends" if len(tree.levels) > 1 else ""
    figure.suptitle(f"Where {unit} is bound: one cell per node, one column per {_narrowest(tree)}{gap}")
    return figure


def _narrowest(tree: TopologyTree) -> str:
    return tree.levels[-1].rsplit("/", 1)[-1] if tree.levels else "group of nodes"

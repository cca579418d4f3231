"""The `phalanx` command (also installed as `kubectl-phalanx`, so `kubectl phalanx …` works)."""

from __future__ import annotations

from contextlib import AbstractContextManager
from importlib import metadata
from importlib.resources import as_file, files
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from scheduler.cli.render import decisions_table, render_scenario
from scheduler.sim.replay import decide
from scheduler.sim.scenario import ScenarioError, load_scenario

app = typer.Typer(
    name="phalanx",
    help="Phalanx: a workload-aware secondary scheduler for Kubernetes.",
    no_args_is_help=True,
    add_completion=False,
)
BUNDLED = ("demo",)


@app.command()
def simulate(
    scenario: Annotated[
        str,
        typer.Argument(help=f"A scenario YAML file, or the name of a bundled one ({', '.join(BUNDLED)})."),
    ] = "demo",
) -> None:
    """Load a scenario into an in-memory cluster, show it, and decide every pending gang with the engine."""
    console = Console()
    try:
        with _scenario_path(scenario) as path:
            loaded = load_scenario(path)
    except ScenarioError as exc:
        console.print(f"[bold red]error:[/] {exc}", highlight=False)
        raise typer.Exit(code=2) from exc
    render_scenario(console, loaded)
    _, decisions = decide(loaded)
    console.print(decisions_table(decisions))
    scheduled = [d for d in decisions if d.scheduled]
    pods = sum(len(d.plan.assignments) for d in scheduled if d.plan)
    console.print(f"{len(scheduled)}/{len(decisions)} units scheduled, {pods} pods placed.", highlight=False)


@app.command()
def version() -> None:
    """Print the installed version."""
    typer.echo(f"phalanx {metadata.version('phalanx')}")


def _scenario_path(name: str) -> AbstractContextManager[Path]:
    if name in BUNDLED and not Path(name).exists():
        return as_file(files("scheduler.sim").joinpath("scenarios", f"{name}.yaml"))
    return as_file(Path(name))


if __name__ == "__main__":
    app()

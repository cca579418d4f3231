"""The `phalanx` command (also installed as `kubectl-phalanx`, so `kubectl phalanx …` works)."""

from __future__ import annotations

import difflib
from contextlib import AbstractContextManager
from dataclasses import replace
from importlib import metadata
from importlib.resources import as_file, files
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.progress import Progress, TaskID
from rich.text import Text

from scheduler.cli.html import write_html
from scheduler.cli.logs import configure
from scheduler.cli.render import (
    comparison_table,
    decision_reasons,
    decisions_table,
    print_key_figures,
    render_scenario,
)
from scheduler.sim.generate import ARRIVAL
from scheduler.sim.replay import decide
from scheduler.sim.report import ReportDirError, check_writable, job_classes, summarize_all, write_report
from scheduler.sim.scenario import Policy, Scenario, ScenarioError, bundled_scenarios, load_scenario
from scheduler.sim.simulator import SimResult, Simulation

app = typer.Typer(
    name="phalanx",
    help="Phalanx: a workload-aware secondary scheduler for Kubernetes.",
    no_args_is_help=True,
    add_completion=False,
)
BUNDLED = bundled_scenarios()


@app.command()
def simulate(
    scenario: Annotated[
        str,
        typer.Argument(help=f"A scenario YAML file, or the name of a bundled one ({', '.join(BUNDLED)})."),
    ] = "demo",
    policy: Annotated[
        list[Policy] | None,
        typer.Option("--policy", "-p", help="Policies to compare (default: the scenario's, else all)."),
    ] = None,
    report_dir: Annotated[
        Path | None, typer.Option(help="Where to write report.json and charts (default: reports/<scenario>).")
    ] = None,
    html: Annotated[
        bool, typer.Option("--html", help="Also write report.html: every table and chart in one self-contained page.")
    ] = False,
) -> None:
    """Replay a scenario on an in-memory cluster with each policy, and compare them in a report."""
    # The engine logs what the operator's log should show (gangs bound, preemptions); a simulation's story is
    # its report, so only warnings come through.
    configure("WARNING", json=False)
    console = Console()
    # Before the simulation, not after: a big scenario runs for minutes before it has anything to write. A
    # folder given is checked even before the scenario loads; the default one is named after the scenario.
    try:
        if report_dir is not None:
            check_writable(report_dir)
        with _scenario_path(scenario) as path:
            loaded = load_scenario(path)
        folder = report_dir or Path("reports") / loaded.name
        check_writable(folder)
    except (ScenarioError, ReportDirError) as exc:
        _fail(console, exc)
    render_scenario(console, loaded)
    at_start = tuple(p for p in loaded.pods if not float(p.metadata.annotations.get(ARRIVAL, 0) or 0))
    if at_start:
        _, decisions = decide(replace(loaded, pods=at_start))
        title = "Decisions at t=0 (phalanx, queue order: priority, then age)"
        console.print(decisions_table(decisions, title=title, width=console.width))
        for reason in decision_reasons(decisions):
            console.print(reason, highlight=False)
        scheduled = [d for d in decisions if d.scheduled]
        pods = sum(len(d.plan.assignments) for d in scheduled if d.plan)
        console.print(f"{len(scheduled)}/{len(decisions)} units scheduled, {pods} pods placed.", highlight=False)
    policies = policy or loaded.simulation.policies
    try:
        results = _replay(console, loaded, policies)
    except ScenarioError as exc:
        _fail(console, exc)
    summaries = summarize_all(results, job_classes(loaded))
    console.print(comparison_table(summaries))
    print_key_figures(console, loaded, summaries)
    try:
        files = write_report(loaded.name, results, summaries, folder)
        if html:
            files.append(write_html(folder, loaded, summaries, files, decisions if at_start else []))
    except OSError as exc:
        _fail(console, exc)
    console.print("Report: " + ", ".join(str(f) for f in files), highlight=False, markup=False)


def _fail(console: Console, exc: Exception) -> NoReturn:
    """Print the error as it is: a message quoting the user's input (a regex, a list) is not Rich markup."""
    console.print(Text.assemble(("error: ", "bold red"), str(exc)), highlight=False)
    raise typer.Exit(code=2) from exc


def _replay(console: Console, scenario: Scenario, policies: list[Policy]) -> list[SimResult]:
    results = []
    with Progress(console=console, transient=True) as progress:
        for policy in policies:
            task = progress.add_task(f"simulating {policy.value}", total=1.0)

            def advance(fraction: float, task: TaskID = task) -> None:
                progress.update(task, completed=fraction)

            simulation = Simulation(scenario, policy, progress=advance)
            results.append(simulation.run())
            progress.update(task, completed=1.0)
    return results


@app.command()
def run(
    config: Annotated[
        Path | None, typer.Option(help="Configuration file (YAML); flags and PHALANX_* override it.")
    ] = None,
    kubeconfig: Annotated[
        str | None, typer.Option(help="Kubeconfig (default: $KUBECONFIG, ~/.kube/config, in-cluster).")
    ] = None,
    context: Annotated[str | None, typer.Option(help="Kubeconfig context.")] = None,
    scheduler_name: Annotated[str | None, typer.Option(help="Pods with this schedulerName are ours.")] = None,
    level: Annotated[
        list[str] | None, typer.Option("--level", help="Topology level label keys, widest first (repeat).")
    ] = None,
    time_limit: Annotated[float | None, typer.Option(help="Solver time limit per decision, seconds.")] = None,
    # One name per switch: typer would add a negation to each, and --no-preemption's would be --no-no-preemption.
    no_preemption: Annotated[bool, typer.Option("--no-preemption", help="Never preempt.")] = False,
    forbid_pdb_violations: Annotated[
        bool, typer.Option("--forbid-pdb-violations", help="Never violate a PodDisruptionBudget.")
    ] = False,
    own_victims_only: Annotated[
        bool, typer.Option("--own-victims-only", help="Only preempt pods this scheduler placed.")
    ] = False,
    qps: Annotated[float | None, typer.Option(help="Client-side API rate limit.")] = None,
    metrics_port: Annotated[int | None, typer.Option(help="Port of /metrics, /healthz, /readyz (0: off).")] = None,
    no_leader_election: Annotated[
        bool, typer.Option("--no-leader-election", help="Schedule without holding the lease.")
    ] = False,
    lease_namespace: Annotated[
        str | None, typer.Option(help="Namespace of the lease (default $POD_NAMESPACE, else default).")
    ] = None,
    lease_seconds: Annotated[float | None, typer.Option(help="Lease duration; a standby takes over after it.")] = None,
    log_format: Annotated[str, typer.Option(help="json or console.")] = "json",
) -> None:
    """Run the scheduler against a cluster."""
    import asyncio

    from scheduler.api.config import ConfigError, load_config
    from scheduler.kube.connection import KubeconfigError
    from scheduler.kube.health import PortInUseError
    from scheduler.kube.operator import LeadershipLostError, operator_config, run_operator

    flags: dict[str, tuple[str, Any]] = {  # configuration field -> (flag, value)
        "schedulerName": ("--scheduler-name", scheduler_name),
        "topologyLevels": ("--level", level),
        "solver.timeLimitSeconds": ("--time-limit", time_limit),
        "client.qps": ("--qps", qps),
        "metricsPort": ("--metrics-port", metrics_port),
        "leaderElection.leaseNamespace": ("--lease-namespace", lease_namespace),
        "leaderElection.leaseSeconds": ("--lease-seconds", lease_seconds),
        "preemption.enabled": ("--no-preemption", False if no_preemption else None),
        "preemption.allowPdbViolations": ("--forbid-pdb-violations", False if forbid_pdb_violations else None),
        "preemption.ownPodsOnly": ("--own-victims-only", True if own_victims_only else None),
        "leaderElection.enabled": ("--no-leader-election", False if no_leader_election else None),
    }
    given = {key: value for key, (_, value) in flags.items() if value is not None}
    try:
        settings = load_config(config, overrides=given, flags={key: flag for key, (flag, _) in flags.items()})
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=2) from exc
    configure(json=log_format == "json")
    try:
        asyncio.run(run_operator(operator_config(settings, kubeconfig, context)))
    except KubeconfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=2) from exc
    except LeadershipLostError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(code=1) from exc
    except PortInUseError as exc:
        typer.echo(f"error: {exc.strerror}", err=True)
        raise typer.Exit(code=2) from exc
    except KeyboardInterrupt:
        pass


@app.command()
def explain(
    podgroup: Annotated[str, typer.Argument(help="NAMESPACE/NAME or NAME (in --namespace).")],
    namespace: Annotated[str, typer.Option("--namespace", "-n")] = "default",
    kubeconfig: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Why a PodGroup is (not) scheduled: status, last decision, each pod's reason, and events."""
    import asyncio

    from scheduler.cli.render import render_explanation
    from scheduler.kube.explain import explain as fetch

    if "/" in podgroup:
        namespace, podgroup = podgroup.split("/", 1)
    console = Console()
    try:
        result = asyncio.run(fetch(namespace, podgroup, kubeconfig))
    except Exception as exc:
        console.print(f"[bold red]error:[/] {exc}", highlight=False)
        raise typer.Exit(code=1) from exc
    render_explanation(console, result)


@app.command()
def top(
    namespace: Annotated[str, typer.Option("--namespace", "-n")] = "default",
    all_namespaces: Annotated[bool, typer.Option("--all-namespaces", "-A", help="Every namespace.")] = False,
    interval: Annotated[float, typer.Option(min=0.2, help="Seconds between refreshes.")] = 2.0,
    once: Annotated[bool, typer.Option(help="Print one frame and exit (1 if a read failed).")] = False,
    kubeconfig: Annotated[str | None, typer.Option()] = None,
    scheduler_name: Annotated[str, typer.Option(help="Pods with this schedulerName are ours.")] = "phalanx",
) -> None:
    """Live: the queue, waiting gangs and why, running gangs by domain, the latest decisions (q quits)."""
    from scheduler.cli.top_live import main

    try:
        code = main(None if all_namespaces else namespace, interval, once, kubeconfig, scheduler_name)
    except KeyboardInterrupt:
        code = 0
    raise typer.Exit(code=code)


@app.command()
def version() -> None:
    """Print the installed version."""
    typer.echo(f"phalanx {metadata.version('phalanx')}")


def _scenario_path(name: str) -> AbstractContextManager[Path]:
    if name in BUNDLED and not Path(name).exists():
        return as_file(files("scheduler.sim").joinpath("scenarios", f"{name}.yaml"))
    if not Path(name).exists():
        close = difflib.get_close_matches(name, BUNDLED, n=1)
        hint = f"; did you mean {close[0]}?" if close else ""
        raise ScenarioError(f"{name}: no such file, and not a bundled scenario (those are: {', '.join(BUNDLED)}){hint}")
    return as_file(Path(name))


if __name__ == "__main__":
    app()

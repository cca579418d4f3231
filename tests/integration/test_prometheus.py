"""A real Prometheus (Debian's, tests/integration/prometheus.py) scraping `phalanx run` every second while gangs
are scheduled, preempted and refused, with manifests/monitoring/rules.yaml loaded: the series move as they
should, every rule evaluates, the alerts the scenario provokes are pending, and every query of the Grafana
dashboard answers; promtool checks and unit-tests the rules.

The operator talks to the API server through the fault proxy (tests/integration/faultproxy.py), which cuts
its PriorityClass watch every second or two (relists) and refuses the first bindings of one gang (bind errors);
every other request passes untouched. The test reads and writes the API server directly.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import math
import re
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes_asyncio import client

from tests.integration.apiserver import ApiServer
from tests.integration.faultproxy import FaultProxy, FaultRates
from tests.integration.operator_harness import (
    GROUP,
    VERSION,
    OperatorProcess,
    all_bound,
    api_client_for,
    eventually,
    kubelet,
    make_nodes,
    pod_body,
    pod_group_body,
    unique,
)
from tests.integration.prometheus import Prometheus, PrometheusError, Series, prometheus_bin_dir, values

Check = Callable[[Series], bool]
MONITORING = Path(__file__).resolve().parents[2] / "manifests" / "monitoring"
RULES = MONITORING / "rules.yaml"
# The PriorityClass watch lives a second or two, then its connection is cut: restarts and relists, while the
# watches the decisions depend on are left alone.
WATCH_CUTS = FaultRates(watch_lifetime_s=(1.0, 2.0), watch_cut=1.0)
HELD_S = 1.0  # the victims are held terminating at least this long after the preemption is decided
REFUSED_BINDINGS = 2  # of the gang "flaky", answered 500 before any of its bindings goes through
# The dashboard's panels ask over Grafana's $__rate_interval; here over a window that holds the whole scenario.
RATE_WINDOW = "5m"
# Panels that may show only zeros after this scenario: nothing is over the time limit, no eviction waits for
# its answer by the time the panel is asked, and a plan proven optimal has a gap of 0.
QUIET_PANELS = {"Evictions in flight", "Decisions over the time limit", "Optimality gap of placed plans (p99)"}
# Why units wait at the end: "huge" fits nowhere, "partial" lacks pods; the preemptor no longer waits.
WAITING = {"resources": 1.0, "quorum": 1.0}


@pytest.fixture(scope="module")
def prometheus_bin() -> Path:
    try:
        return prometheus_bin_dir()
    except PrometheusError as exc:  # fail, never skip: a missing Prometheus must not look like a green run
        pytest.fail(str(exc), pytrace=False)


def promtool(bin_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(bin_dir / "promtool"), *args], cwd=MONITORING, capture_output=True, text=True, check=False
    )


def test_the_rules_pass_promtool_check_rules(prometheus_bin: Path) -> None:
    result = promtool(prometheus_bin, "check", "rules", RULES.name)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_the_rules_pass_their_unit_tests_under_promtool_test_rules(prometheus_bin: Path) -> None:
    result = promtool(prometheus_bin, "test", "rules", "rules_test.yaml")
    assert result.returncode == 0, result.stdout + result.stderr


@dataclass
class Scenario:
    """What the scenario did, for the tests to find in Prometheus."""

    low: str  # the two priority classes
    high: str
    held_s: float  # the victims were held terminating at least this long after the preemption was decided
    checkpoint_scheduled: float  # scheduled attempts Prometheus had seen after the first gang was bound


@dataclass
class Monitored:
    prometheus: Prometheus
    scenario: Scenario


def one(series: Series) -> float:
    assert len(series) == 1, series
    return values(series)[0]


def at_least(n: float) -> Check:
    return lambda series: bool(series) and sum(values(series)) >= n


async def run_scenario(api: client.ApiClient, prometheus: Prometheus, scheduler: str) -> Scenario:
    """Gangs bound, one preempted whole by a higher-priority gang (its victims held terminating until Prometheus
    has seen the preemptor wait), one whose first bindings are refused, one that fits nowhere, one short of
    its quorum."""
    core: Any = client.CoreV1Api(api)
    objects: Any = client.CustomObjectsApi(api)
    scheduling: Any = client.SchedulingV1Api(api)
    namespace, pool, spare = unique("prom"), unique("pool"), unique("spare")
    low, high = unique("low"), unique("high")
    await core.create_namespace({"metadata": {"name": namespace}})
    await scheduling.create_priority_class({"metadata": {"name": low}, "value": 10})
    await scheduling.create_priority_class({"metadata": {"name": high}, "value": 1000})
    await make_nodes(api, pool, racks=1, per_rack=2)  # 16 GPUs
    await make_nodes(api, spare, racks=1, per_rack=1)

    async def gang(name: str, size: int, min_count: int, gpus: int, cls: str, node_pool: str, **spec: Any) -> None:
        body = pod_group_body(name, min_count, priorityClassName=cls, **spec)
        await objects.create_namespaced_custom_object(GROUP, VERSION, namespace, "podgroups", body)
        for i in range(size):
            pod = pod_body(f"{name}-{i}", node_pool, name, gpus, cls)
            pod["spec"]["schedulerName"] = scheduler
            await core.create_namespaced_pod(namespace, pod)

    release = threading.Event()
    async with kubelet(api, namespace, finalize=release.is_set):
        await gang("batch", 2, 2, 8, low, pool, disruptionMode="PodGroup")  # fills the pool
        await gang("partial", 1, 3, 1, low, spare)  # 1 of its 3 pods: waits for quorum
        await eventually(all_bound(api, namespace, "batch-", 2), what="the low-priority gang bound")
        scheduled = 'phalanx_schedule_attempts_total{result="scheduled"}'
        checkpoint = one(await prometheus.wait_for(scheduled, at_least(1), what="the first gang's attempt scraped"))
        # Only now that Prometheus has the counters (a counter's rise before its first scrape is lost to rate()):
        await gang("flaky", 1, 1, 1, low, spare)
        await gang("urgent", 2, 2, 8, high, pool)  # room only once the whole batch gang is gone
        await gang("huge", 3, 3, 8, low, pool)  # fits nowhere, and may not preempt the urgent gang
        waiting = 'phalanx_unschedulable_units{family="preemption"}'
        await prometheus.wait_for(waiting, at_least(1), what="the preemptor seen waiting for its victims")
        # Its wait counts from its decision, as the preemption's stages do: once it reads HELD_S, the victims
        # have been terminating at least that long.
        longest = f'phalanx_longest_wait_seconds{{priority_class="{high}"}}'
        await prometheus.wait_for(longest, at_least(HELD_S), what=f"the preemptor waiting {HELD_S} s")
        release.set()
        await eventually(all_bound(api, namespace, "urgent-", 2), within=30, what="the preemptor bound")
        await eventually(all_bound(api, namespace, "flaky-", 1), within=30, what="the refused gang bound at last")
    return Scenario(low, high, HELD_S, checkpoint)


@pytest.fixture(scope="module")
def monitored(
    apiserver: ApiServer, phalanx_crds: list[str], prometheus_bin: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Monitored]:
    folder = tmp_path_factory.mktemp("prometheus")
    scheduler = unique("phalanx-prom")
    refused = itertools.count()

    def refuse(method: str, path: str) -> int | None:
        flaky = method == "POST" and path.endswith("/binding") and "/pods/flaky-" in path
        return 500 if flaky and next(refused) < REFUSED_BINDINGS else None

    cut = FaultProxy(apiserver.url, apiserver.ca_path, WATCH_CUTS, exempt=lambda m, path: "priorityclasses" not in path)
    with cut as proxy:
        proxy.refuse = refuse
        kubeconfig = proxy.write_kubeconfig(apiserver.kubeconfig_path, folder / "kubeconfig-proxy")
        operator = OperatorProcess(kubeconfig, folder / "operator.log", "--scheduler-name", scheduler)
        target = operator.metrics_url.removeprefix("http://")
        try:
            with Prometheus(prometheus_bin, folder / "prometheus", [target], [RULES]) as prometheus:
                operator.wait_ready()
                scenario = asyncio.run(_scenario(apiserver.kubeconfig_path, prometheus, scheduler))
                yield Monitored(prometheus, scenario)
                print(prometheus.log_tail())  # shown when a test failed
        finally:
            operator.stop()
            print(operator.log_tail(120))
            print("faults injected:", proxy.counts())


async def _scenario(kubeconfig: Path, prometheus: Prometheus, scheduler: str) -> Scenario:
    async with api_client_for(kubeconfig) as api:
        return await run_scenario(api, prometheus, scheduler)


def settled(monitored: Monitored, expr: str, check: Check, what: str = "") -> Series:
    """The answer to `expr` once `check` holds (the last scrapes may still be on their way)."""
    return asyncio.run(monitored.prometheus.wait_for(expr, check, within=20, what=what))


def by(label: str, series: Series) -> dict[str, float]:
    return {s["metric"][label]: float(s["value"][1]) for s in series}


def equal(n: float) -> Check:
    return lambda series: bool(series) and sum(values(series)) == n


def test_the_scraped_series_move_as_the_gangs_are_scheduled_preempted_and_refused(monitored: Monitored) -> None:
    s = monitored.scenario
    m = monitored
    assert one(settled(m, "phalanx_leader", equal(1))) == 1
    scheduled = settled(m, 'phalanx_schedule_attempts_total{result="scheduled"}', at_least(s.checkpoint_scheduled + 2))
    assert one(scheduled) > s.checkpoint_scheduled  # after the first gang: the preemption, then its admission
    settled(m, 'phalanx_schedule_attempts_total{result="unschedulable"}', at_least(2), "huge and partial decided")
    # The SLIs: each bound gang observed once under its priority class.
    settled(m, f'phalanx_gang_wait_duration_seconds_count{{priority_class="{s.low}"}}', equal(2), "batch and flaky")
    settled(m, f'phalanx_gang_wait_duration_seconds_count{{priority_class="{s.high}"}}', equal(1), "urgent")
    settled(m, f'phalanx_scheduling_sli_duration_seconds_count{{priority_class="{s.high}"}}', equal(1))
    # Why units wait, by family.
    families = settled(m, "phalanx_unschedulable_units > 0", lambda found: by("family", found) == WAITING)
    assert by("family", families) == WAITING
    longest = settled(m, f'phalanx_longest_wait_seconds{{priority_class="{s.low}"}}', at_least(0.5))
    assert one(longest) > 0
    # The preemption: one decision, the whole batch gang its victims, timed through each stage.
    settled(m, "phalanx_preemption_attempts_total", equal(1))
    settled(m, "phalanx_preemption_victims_sum", equal(2))
    settled(m, 'phalanx_preemption_duration_seconds_count{stage="bound"}', equal(1))
    gone = one(settled(m, 'phalanx_preemption_duration_seconds_sum{stage="victims-gone"}', at_least(s.held_s)))
    assert one(settled(m, 'phalanx_preemption_duration_seconds_sum{stage="bound"}', at_least(gone))) >= gone
    assert one(settled(m, 'phalanx_preemption_duration_seconds_count{stage="given-up"}', equal(0))) == 0
    settled(m, 'phalanx_queue_incoming_units_total{event="victims-gone"}', equal(1))
    settled(m, 'phalanx_queue_incoming_units_total{event="new"}', at_least(5), "every gang let in once as new")
    assert one(settled(m, "phalanx_evictions_in_flight", equal(0))) == 0
    # The API calls: bindings (the refused ones under their code), the victims' deletions.
    settled(m, 'phalanx_api_request_duration_seconds_count{verb="bind",code="200"}', at_least(5))
    settled(m, 'phalanx_api_request_duration_seconds_count{verb="bind",code="500"}', equal(REFUSED_BINDINGS))
    settled(m, 'phalanx_api_request_duration_seconds_count{verb="delete",code="200"}', at_least(2))
    settled(m, "phalanx_bind_errors_total", equal(REFUSED_BINDINGS))
    # The cut PriorityClass watch: restarted and relisted; no other kind was touched.
    settled(m, 'phalanx_watch_restarts_total{kind="PriorityClass"}', at_least(2))
    settled(m, 'phalanx_watch_relists_total{kind="PriorityClass"}', at_least(2))
    assert one(settled(m, 'phalanx_watch_relists_total{kind="Pod"}', equal(0))) == 0


def alerts(monitored: Monitored) -> dict[str, list[dict[str, Any]]]:
    return {r["name"]: r.get("alerts", []) for r in monitored.prometheus.rules() if r["type"] == "alerting"}


def test_every_rule_evaluates_on_the_scraped_series_and_the_provoked_alerts_are_pending(
    monitored: Monitored,
) -> None:
    seen: list[dict[str, list[dict[str, Any]]]] = []

    async def provoked() -> bool:
        seen.append(await asyncio.to_thread(alerts, monitored))
        return bool(seen[-1]["PhalanxRelistStorm"] and seen[-1]["PhalanxBindErrors"])

    try:
        asyncio.run(eventually(provoked, within=20, what="the relist and bind-error alerts pending"))
    except AssertionError as exc:
        ratio = monitored.prometheus.query("phalanx:bind_errors:ratio_rate5m")
        raise AssertionError(f"{exc}; alerts last seen: {seen[-1]}; bind error ratio: {ratio}") from exc
    rules = monitored.prometheus.rules()
    groups = yaml.safe_load(RULES.read_text())["groups"]
    assert sorted(r["name"] for r in rules) == sorted(r.get("record") or r["alert"] for g in groups for r in g["rules"])
    for rule in rules:
        assert rule["health"] == "ok", (rule["name"], rule.get("lastError"))
    found = alerts(monitored)
    (storm,) = found["PhalanxRelistStorm"]
    assert storm["labels"]["kind"] == "PriorityClass"
    (refused,) = found["PhalanxBindErrors"]
    for alert in (storm, refused):
        assert alert["state"] == "pending"  # they must hold for 10 minutes before they fire
    assert found["PhalanxNoLeader"] == []  # a replica leads
    assert found["PhalanxGangWaitingTooLong"] == []  # nothing has waited an hour
    recorded = monitored.prometheus.query("phalanx:bind_errors:ratio_rate5m")
    assert one(recorded) > 0.05


def panel_queries() -> list[tuple[str, str]]:
    dashboard = json.loads((MONITORING / "dashboard.json").read_text())
    return [(p["title"], t["expr"]) for p in dashboard["panels"] for t in p.get("targets", [])]


def test_every_dashboard_query_answers_and_shows_what_the_scenario_did(monitored: Monitored) -> None:
    queries = panel_queries()
    assert len(queries) >= 20
    empty, flat = [], []
    for title, expr in queries:
        asked = re.sub(r"\$__rate_interval", RATE_WINDOW, expr)
        assert "$" not in asked, f"{title}: a Grafana variable this test does not stand in for: {expr}"
        series = monitored.prometheus.query(asked)  # a query error raises, naming the query
        if not series:
            empty.append((title, asked))
        elif title not in QUIET_PANELS and not any(math.isfinite(v) and v > 0 for v in values(series)):
            flat.append((title, asked, series))
    assert empty == []
    assert flat == []

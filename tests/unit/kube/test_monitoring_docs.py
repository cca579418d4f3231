"""docs/metrics.md and manifests/monitoring/ against what the code exports, so neither can drift: every series
documented with its type, labels and help text, every value of the bounded labels named, every rule and alert
documented, the PrometheusRule the same as rules.yaml, and every rule and dashboard query reading only series
that exist. (promtool and a real Prometheus check the rules and queries themselves: tests/integration.)"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.metrics import MetricWrapperBase

from scheduler.api.podgroup import SolverStatus
from scheduler.engine.observer import EVENTS, FAMILIES, STAGES
from scheduler.kube.metrics import RESULT, Metrics

ROOT = Path(__file__).resolve().parents[3]
DOCS = ROOT / "docs" / "metrics.md"
MONITORING = ROOT / "manifests" / "monitoring"
SERIES_ROW = re.compile(r"^\| `(phalanx_\w+)` \| (\w+) \| (.+?) \| (.+) \|$")
HISTOGRAM_PARTS = ("_bucket", "_sum", "_count")


def exported() -> dict[str, tuple[str, tuple[str, ...], str]]:
    """Series name as scraped -> (type, label names, help), for every metric the operator's registry holds."""
    metrics = Metrics()
    found: dict[str, tuple[str, tuple[str, ...], str]] = {}
    for metric in vars(metrics).values():
        if isinstance(metric, MetricWrapperBase):
            kind = str(metric._type)
            name = metric._name + ("_total" if kind == "counter" else "")
            found[name] = (kind, tuple(metric._labelnames), metric._documentation)
    # Every family the registry exports is one of those attributes: none is registered out of sight.
    families = {f.name + ("_total" if f.type == "counter" else "") for f in metrics.registry.collect()}
    assert families == found.keys()
    return found


def documented() -> dict[str, tuple[str, tuple[str, ...], str]]:
    rows = {}
    for line in DOCS.read_text().splitlines():
        if match := SERIES_ROW.match(line):
            name, kind, labels, help_text = match.groups()
            assert name not in rows, f"{name} documented twice"
            rows[name] = (kind, tuple(re.findall(r"`(\w+)`", labels)), help_text)
    return rows


def test_the_docs_list_every_series_the_registry_exports_with_its_type_labels_and_help_and_no_other() -> None:
    assert documented() == exported()


def label_row(label: str) -> str:
    rows = [line for line in DOCS.read_text().splitlines() if line.startswith(f"| `{label}` |")]
    assert len(rows) == 1, f"docs/metrics.md has {len(rows)} rows for the label {label}"
    return rows[0]


@pytest.mark.parametrize(
    ("label", "values"),
    [
        ("result", sorted(set(RESULT.values()))),
        ("status", [s.value for s in SolverStatus]),
        ("event", list(EVENTS)),
        ("family", list(FAMILIES)),
        ("stage", list(STAGES)),
    ],
)
def test_the_docs_name_every_value_of_each_bounded_label(label: str, values: list[str]) -> None:
    row = label_row(label)
    missing = [v for v in values if f"`{v}`" not in row]
    assert missing == []


def rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load((MONITORING / "rules.yaml").read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def test_the_prometheusrule_carries_exactly_the_groups_of_rules_yaml() -> None:
    plain = yaml.safe_load((MONITORING / "rules.yaml").read_text())
    wrapped = yaml.safe_load((MONITORING / "prometheusrule.yaml").read_text())
    assert (wrapped["apiVersion"], wrapped["kind"]) == ("monitoring.coreos.com/v1", "PrometheusRule")
    assert wrapped["spec"] == plain, "copy the groups of rules.yaml into prometheusrule.yaml"


def test_every_recording_rule_and_alert_is_documented() -> None:
    text = DOCS.read_text()
    names = [rule.get("record") or rule["alert"] for rule in rules()]
    assert [n for n in names if f"`{n}`" not in text] == []


def dashboard_queries() -> list[tuple[str, str]]:
    dashboard = json.loads((MONITORING / "dashboard.json").read_text())
    return [(p["title"], t["expr"]) for p in dashboard["panels"] for t in p.get("targets", [])]


def test_every_rule_and_dashboard_query_reads_only_series_phalanx_exports_or_the_rules_record() -> None:
    series = exported()
    readable = set(series)
    readable |= {
        name + part for name, (kind, _, _) in series.items() if kind == "histogram" for part in HISTOGRAM_PARTS
    }
    recorded = {rule["record"] for rule in rules() if "record" in rule}
    queries = [(rule.get("record") or rule["alert"], rule["expr"]) for rule in rules()] + dashboard_queries()
    unknown = []
    for where, expr in queries:
        unknown += [(where, n) for n in re.findall(r"\bphalanx_\w+", expr) if n not in readable]
        unknown += [(where, n) for n in re.findall(r"\bphalanx:[\w:]+", expr) if n not in recorded]
    assert unknown == []


def test_every_series_phalanx_exports_is_on_the_dashboard() -> None:
    read = {n for _, expr in dashboard_queries() for n in re.findall(r"\bphalanx_\w+", expr)}
    shown = {re.sub(r"_(bucket|sum|count)$", "", n) if n not in exported() else n for n in read}
    assert sorted(exported().keys() - shown) == []


def test_every_dashboard_panel_has_its_own_id_and_reads_the_prometheus_chosen_on_the_dashboard() -> None:
    dashboard = json.loads((MONITORING / "dashboard.json").read_text())
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    assert [v["name"] for v in dashboard["templating"]["list"]] == ["datasource"]
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        refs = [t["refId"] for t in panel["targets"]]
        assert refs, panel["title"]
        assert len(refs) == len(set(refs)), panel["title"]

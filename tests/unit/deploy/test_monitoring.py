"""deploy/monitoring/: the dashboard loads as Grafana JSON and the alert rules parse, and
every metric either names is one the code exports (a renamed metric breaks this test, not a
dashboard nobody looks at until an incident)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[3]
MONITORING = ROOT / "deploy" / "monitoring"
# Ray exports a replica metric named `bulkhead_x` as `ray_bulkhead_x` (counters + `_total`,
# histograms + `_bucket`); `bulkhead monitor` writes `bulkhead_drift_*` and live accuracy.
_SUFFIXES = ("_total", "_bucket", "_sum", "_count")


def _exported() -> set[str]:
    names: set[str] = set()
    metrics = (ROOT / "serving" / "metrics.py").read_text()
    names |= {f"ray_{m}" for m in re.findall(r'metrics\.\w+\(\s*"(bulkhead_\w+)"', metrics)}
    report = (ROOT / "bulkhead" / "monitoring" / "report.py").read_text()
    names |= set(re.findall(r"# TYPE (bulkhead_\w+) gauge", report))
    return names


def _named(expr: str) -> set[str]:
    found = set(re.findall(r"\b((?:ray_)?bulkhead_\w+)", expr))
    return {next((n[: -len(s)] for s in _SUFFIXES if n.endswith(s)), n) for n in found}


def test_the_dashboard_is_grafana_json_with_only_exported_metrics() -> None:
    dashboard = json.loads((MONITORING / "grafana-dashboard.json").read_text())
    assert dashboard["uid"] and dashboard["panels"]
    assert {v["name"] for v in dashboard["templating"]["list"]} == {"datasource", "model"}
    exported = _exported()
    assert "ray_bulkhead_payload_records" in exported and "bulkhead_drift_statistic" in exported
    for panel in dashboard["panels"]:
        assert set(panel["gridPos"]) == {"h", "w", "x", "y"}
        for target in panel["targets"]:
            unknown = _named(target["expr"]) - exported
            assert not unknown, (panel["title"], unknown)


def test_the_alert_rules_parse_and_name_only_exported_metrics() -> None:
    rule = yaml.safe_load((MONITORING / "alerts.yaml").read_text())
    assert rule["kind"] == "PrometheusRule"
    exported = _exported()
    alerts = [r for group in rule["spec"]["groups"] for r in group["rules"]]
    assert {"BulkheadDrift", "BulkheadPayloadRecordsDropped", "BulkheadServerErrors"} <= {
        a["alert"] for a in alerts
    }
    for alert in alerts:
        assert alert["expr"].count("(") == alert["expr"].count(")"), alert["alert"]
        assert not (_named(alert["expr"]) - exported), alert["alert"]

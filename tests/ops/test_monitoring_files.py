"""Monitoring files: the Grafana dashboard and the Prometheus alert rules read only the metrics
the platform exports, and cover what an operator watches."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "codex32-dashboard.json"
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yaml"


def _exported_metrics() -> set[str]:
    """Every series the platform defines (the flask exporter's two request series included),
    by the name Prometheus sees."""
    from prometheus_client.metrics import MetricWrapperBase

    from codex32.observability import execution_metrics, metrics

    names = {"flask_http_request_total", "flask_http_request_duration_seconds"}
    for module in (metrics, execution_metrics):
        for value in vars(module).values():
            if isinstance(value, MetricWrapperBase):
                counter = value._type == "counter"
                names.add(f"{value._name}_total" if counter else value._name)
    return names


METRICS = _exported_metrics()

_NOT_METRICS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and",
                "or", "unless", "offset", "le", "inf", "nan"}


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression reads (histogram series mapped to their family)."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    expr = re.sub(r"\{[^}]*\}", "", expr)
    expr = re.sub(r"\[[^\]]*\]", "", expr)
    expr = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", expr)
    names = set()
    for match in re.finditer(r"(?<![\w.$])([A-Za-z_:][\w:]*)\s*(\()?", expr):
        name = match.group(1)
        if match.group(2) or name.lower() in _NOT_METRICS:
            continue
        names.add(re.sub(r"_(bucket|sum|count)$", "", name))
    return names


def test_metric_name_extraction():
    expr = ('histogram_quantile(0.99, sum by (le, url_rule) (rate('
            'flask_http_request_duration_seconds_bucket{status=~"5.."}[5m]))) > 1e-3 '
            'and time() - max(codex32_worker_heartbeat_timestamp_seconds) > 120')
    assert metric_names(expr) == {"flask_http_request_duration_seconds",
                                  "codex32_worker_heartbeat_timestamp_seconds"}


def balanced(expr: str) -> bool:
    """Brackets open and close in order (a cheap guard against a truncated query)."""
    pairs = {")": "(", "]": "[", "}": "{"}
    stack: list[str] = []
    for char in re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr):
        if char in "([{":
            stack.append(char)
        elif char in pairs and (not stack or stack.pop() != pairs[char]):
            return False
    return not stack


def dashboard_targets() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [target["expr"] for panel in dashboard["panels"]
            for target in panel.get("targets", [])]


def test_dashboard_has_the_operations_panels():
    dashboard = json.loads(DASHBOARD.read_text())
    titles = {panel["title"].lower() for panel in dashboard["panels"]}
    for wanted in ("request rate", "p99 latency", "error rate", "executions", "queue depth",
                   "database connections", "active bots", "llm cost"):
        assert wanted in titles
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    assert dashboard["uid"] and all("gridPos" in panel for panel in dashboard["panels"])
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["query"] == "prometheus"


def test_dashboard_queries_read_only_the_platforms_metrics():
    exprs = dashboard_targets()
    assert exprs
    used = set()
    for expr in exprs:
        assert balanced(expr), expr
        used |= metric_names(expr)
    assert used <= METRICS, used - METRICS
    assert used == METRICS  # every metric the platform exports is on the dashboard


def test_alert_rules_cover_errors_latency_queue_age_and_stalled_workers():
    rules = [rule for group in yaml.safe_load(ALERTS.read_text())["groups"]
             for rule in group["rules"]]
    names = [rule["alert"] for rule in rules]
    assert len(names) == len(set(names))
    for rule in rules:
        assert balanced(rule["expr"]), rule["alert"]
        assert metric_names(rule["expr"]) <= METRICS, rule["alert"]
        assert re.fullmatch(r"\d+[smh]", rule["for"])
        assert rule["labels"]["severity"] in ("page", "warning")
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]
    covered = set().union(*(metric_names(rule["expr"]) for rule in rules))
    assert {"flask_http_request_total", "flask_http_request_duration_seconds",
            "codex32_queue_oldest_job_age_seconds",
            "codex32_worker_heartbeat_timestamp_seconds"} <= covered
    (errors,) = [r for r in rules if 'status=~"5.."' in r["expr"]]
    assert errors["labels"]["severity"] == "page"

"""Prometheus metrics: request metrics by endpoint template, and the platform's own series.

Under gunicorn with PROMETHEUS_MULTIPROC_DIR set, every worker writes its samples to that
folder and ``/metrics`` aggregates them. Labels never carry user ids or raw paths.
"""

from __future__ import annotations

import hmac
import os
from timeit import default_timer

from flask import Flask, Response, g, request
from prometheus_client import Counter, Gauge, Histogram

from codex32.config import Settings
from codex32.errors import Unauthorized

# What METRICS_TOKEN guards, when it is set.
GUARDED_PATHS = frozenset({"/metrics", "/health"})

BOTS_CREATED = Counter("bots_created_total", "Bots created")
API_CALLS = Counter("api_calls_total", "API calls by endpoint template", ["endpoint"])
LLM_TOKENS = Counter("llm_tokens_total", "LLM tokens by provider, model and direction",
                     ["provider", "model", "direction"])
LLM_COST = Counter("llm_cost_usd_total", "LLM cost in USD by provider and model",
                   ["provider", "model"])
LLM_REQUESTS = Counter("llm_requests_total", "LLM gateway requests by the provider and model "
                       "that answered (or last failed) and status",
                       ["provider", "model", "status"])
LLM_FALLBACKS = Counter("llm_fallbacks_total", "Failed attempts the gateway moved on from, by "
                        "provider, model and error kind", ["provider", "model", "error"])
LLM_CACHE = Counter("llm_cache_lookups_total", "LLM gateway cache lookups by result",
                    ["result"])
LLM_LATENCY = Histogram("llm_request_duration_seconds", "LLM gateway request latency by the "
                        "provider and model that answered", ["provider", "model"])
PLUGIN_CALLS = Histogram("plugin_call_duration_seconds", "Plugin call latency",
                         ["plugin", "kind", "operation"])
PLUGIN_ERRORS = Counter("plugin_call_errors_total", "Plugin call errors",
                        ["plugin", "kind", "operation", "error"])
DB_CONNECTIONS = Gauge("database_connections", "Database connections checked out",
                       ["pool"], multiprocess_mode="livesum")
# The request series prometheus_flask_exporter would export, under its names (dashboards and
# alerts use them). Kept here because its own exports only the first app of a process.
REQUEST_DURATION = Histogram("flask_http_request_duration_seconds",
                             "Flask HTTP request duration in seconds",
                             ["method", "url_rule", "status"])
REQUEST_TOTAL = Counter("flask_http_request_total", "Total number of HTTP requests",
                        ["method", "status"])


_exporter = None


def init_app(app: Flask, settings: Settings) -> None:
    """Expose ``/metrics`` (optionally behind METRICS_TOKEN) and count requests."""
    global _exporter
    if _exporter is None:
        # One exporter or the other, by the environment: import only the one used.
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            from prometheus_flask_exporter.multiprocess import (
                GunicornInternalPrometheusMetrics as Exporter,
            )
        else:
            from prometheus_flask_exporter import PrometheusMetrics as Exporter
        # Only /metrics from the exporter: it measures requests of the first app only.
        _exporter = Exporter.for_app_factory(export_defaults=False, path="/metrics")
    _exporter.init_app(app)
    _measure_requests(app)
    token = settings.metrics_token

    @app.before_request
    def _protect_metrics() -> None:
        # /health too: its checks name the sandbox's isolation, broken plugins and their
        # versions, the queue's backlog (an operator's view); the probes' /health/alive and
        # /health/ready stay open.
        if token and request.path in GUARDED_PATHS:
            given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
            if not hmac.compare_digest(given.encode(), token.encode()):  # bytes: any text
                raise Unauthorized(f"{request.path} needs the METRICS_TOKEN bearer token")

    @app.before_request
    def _count_call() -> None:
        if request.url_rule is not None and request.path.startswith("/api/"):
            API_CALLS.labels(endpoint=request.url_rule.rule).inc()


def _measure_requests(app: Flask) -> None:
    """Count and time each request of ``app`` by route template (never the raw path); a
    failed request is measured by its 500 response (Flask runs after-request hooks on it)."""

    @app.before_request
    def _start_timer() -> None:
        g.metrics_started = default_timer()

    @app.after_request
    def _observe(response: Response) -> Response:
        if request.path != "/metrics" and "metrics_started" in g:
            status = str(response.status_code)
            REQUEST_DURATION.labels(method=request.method, url_rule=_rule(),
                                    status=status).observe(
                max(default_timer() - g.pop("metrics_started"), 0))
            REQUEST_TOTAL.labels(method=request.method, status=status).inc()
        return response


def _rule() -> str:
    return request.url_rule.rule if request.url_rule is not None else "None"

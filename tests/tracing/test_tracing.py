"""Tracing's edges: a client's ``traceparent`` (a parent, nothing more), ids in the log lines,
the settings, the off path, and the OTLP export the standard variables configure."""

from __future__ import annotations

import http.server
import io
import json
import logging
import threading
from collections.abc import Iterator

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.trace import SpanKind

from codex32.config import ConfigError, Settings
from codex32.observability import request_tracing, tracing
from codex32.observability.logging import JsonFormatter, LogContextFilter
from tests.conftest import make_settings, sign_up

GIVEN_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
GIVEN_SPAN = "00f067aa0ba902b7"
MALFORMED = [
    "garbage",
    f"00-{'0' * 32}-{GIVEN_SPAN}-01",  # an all-zero trace id is invalid
    f"00-{GIVEN_TRACE}-{'0' * 16}-01",  # so is an all-zero parent
    f"ff-{GIVEN_TRACE}-{GIVEN_SPAN}-01",  # version ff is forbidden
    f"00-{GIVEN_TRACE.upper()}-{GIVEN_SPAN}-01",  # upper case is not W3C
    f"00-{GIVEN_TRACE}-{GIVEN_SPAN}-01-extra",  # version 00 has exactly four fields
    f"00-{GIVEN_TRACE}-{GIVEN_SPAN}-01" + "x" * 5000,
    f"00-{GIVEN_TRACE}-{GIVEN_SPAN}-0g",
    '00-"}{"trace_id": "forged"}',
    "",
]


@pytest.fixture()
def json_lines() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(LogContextFilter())
    logger = logging.getLogger("codex32.request")
    previous = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield stream
    logger.removeHandler(handler)
    logger.setLevel(previous)


@pytest.fixture(scope="module")
def member(traced):
    return sign_up(traced[0].test_client())


def _bots(member, spans, **headers: str):
    spans.clear()
    response = member.call("GET", "/api/v1/bots", headers=headers)
    assert response.status_code == 200, response.json
    return spans.one("GET /api/v1/bots")


def test_a_well_formed_traceparent_is_the_parent_of_the_requests_span(member, spans):
    span = _bots(member, spans, traceparent=f"00-{GIVEN_TRACE}-{GIVEN_SPAN}-01",
                 tracestate="vendor=opaque", baggage="workspace_id=someone-else")
    assert span.kind is SpanKind.SERVER
    assert f"{span.context.trace_id:032x}" == GIVEN_TRACE
    assert span.parent is not None and span.parent.is_remote
    assert f"{span.parent.span_id:016x}" == GIVEN_SPAN
    assert span.context.span_id != int(GIVEN_SPAN, 16)  # the server's own span
    # Only the parent is taken: no tracestate, no baggage, and the workspace is the caller's.
    assert not span.context.trace_state and not span.parent.trace_state
    assert span.attributes["codex32.workspace_id"] == member.workspace_id


@pytest.mark.parametrize("value", MALFORMED)
def test_a_malformed_traceparent_is_ignored(member, spans, json_lines, value):
    span = _bots(member, spans, traceparent=value)
    assert span.parent is None  # a new trace, as if no header came
    assert f"{span.context.trace_id:032x}" not in (GIVEN_TRACE, "0" * 32)
    line = json.loads(json_lines.getvalue().splitlines()[-1])
    assert line["trace_id"] == f"{span.context.trace_id:032x}"  # ours, never the header's
    assert "forged" not in json_lines.getvalue()


def test_a_request_log_line_carries_its_trace_and_span_ids(member, spans, json_lines):
    span = _bots(member, spans, **{"X-Request-ID": "req-1"})
    line = json.loads(json_lines.getvalue().splitlines()[-1])
    assert line["request_id"] == "req-1"
    assert line["trace_id"] == f"{span.context.trace_id:032x}"
    assert line["span_id"] == f"{span.context.span_id:016x}"
    assert span.attributes["codex32.request_id"] == "req-1"


def test_a_failed_statement_marks_its_span_failed_by_type_only(traced, spans):
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    from codex32 import runtime

    rt = runtime.of(traced[0])
    with pytest.raises(DBAPIError), rt.sessions() as session:
        session.execute(text("SELECT 1 / 0 AS secret_value"))
    failed = spans.one("SELECT")
    assert failed.status.status_code.name == "ERROR"
    assert failed.attributes["error.type"] == "DivisionByZero"
    assert not failed.events  # no exception message recorded


def test_a_statements_quoted_literals_never_reach_its_span(traced, spans):
    from sqlalchemy import text

    from codex32 import runtime

    with runtime.of(traced[0]).sessions() as session:
        session.execute(text("SELECT 'hunter2' AS a, E'it''s' AS b, $q$dollar$q$ AS c, :p AS d"),
                        {"p": "parameter-value"})
    query = spans.one("SELECT").attributes["db.query.text"]
    assert query == "SELECT '?' AS a, E'?' AS b, '?' AS c, %(p)s AS d"


def test_tracing_is_off_unless_the_environment_asks(tmp_path):
    base = {"CODEX32_ENV": "test", "CODEX32_DATA_DIR": str(tmp_path)}
    assert Settings.from_env(base).traces_exporter == "none"
    assert Settings.from_env({**base, "OTEL_TRACES_EXPORTER": "OTLP"}).traces_exporter == "otlp"
    assert Settings.from_env({**base, "OTEL_TRACES_EXPORTER": "otlp",
                              "OTEL_SDK_DISABLED": "true"}).traces_exporter == "none"
    with pytest.raises(ConfigError, match="OTEL_TRACES_EXPORTER"):
        Settings.from_env({**base, "OTEL_TRACES_EXPORTER": "jaeger"})


def test_with_tracing_off_nothing_is_installed(make_app, data_dir, traced):
    tracing.shutdown()
    try:
        app = make_app()
        assert not tracing.enabled()
        assert request_tracing._open not in app.before_request_funcs.get(None, [])
        assert tracing.carrier() == {} and tracing.log_ids() == {}
        with tracing.span("anything") as span:
            assert span is None
    finally:
        tracing.configure(make_settings(data_dir), "web", exporter=traced[1].exporter)


class _Collector(http.server.BaseHTTPRequestHandler):
    received: list[ExportTraceServiceRequest] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append(ExportTraceServiceRequest.FromString(body))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        return None


def test_spans_are_exported_over_otlp_where_the_standard_variables_say(
        monkeypatch, data_dir, traced):
    server = http.server.HTTPServer(("127.0.0.1", 0), _Collector)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                       f"http://127.0.0.1:{server.server_port}/v1/traces")
    monkeypatch.setenv("OTEL_SERVICE_NAME", "codex32-test-export")
    try:
        assert tracing.configure(make_settings(data_dir, traces_exporter="otlp"), "worker")
        with tracing.span("exported"):
            pass
        tracing.shutdown()  # flushes the batch
    finally:
        server.shutdown()
        # Give the module's other tests their in-memory exporter back.
        tracing.configure(make_settings(data_dir), "web", exporter=traced[1].exporter)
    names = [span.name for request in _Collector.received for resource in request.resource_spans
             for scope in resource.scope_spans for span in scope.spans]
    services = {attribute.value.string_value for request in _Collector.received
                for resource in request.resource_spans
                for attribute in resource.resource.attributes if attribute.key == "service.name"}
    assert names == ["exported"] and services == {"codex32-test-export"}

"""Across processes: a request served here, its run in a real ``codex32 worker`` process
exporting over OTLP (configured by the standard variables) to a collector on 127.0.0.1; the
worker's spans continue the request's trace, parented by the span that queued the job."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.conftest import sign_up
from tests.execution.conftest import TRIVIAL, WorkerStarter, bot_with, finished, run, wait_for


class Collector(http.server.ThreadingHTTPServer):
    """An OTLP/HTTP trace receiver: every span it was sent, with its service name."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Receive)
        self.spans: list[tuple[str, object]] = []

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server_port}/v1/traces"


class _Receive(http.server.BaseHTTPRequestHandler):
    server: Collector

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        for resource in ExportTraceServiceRequest.FromString(body).resource_spans:
            service = next((a.value.string_value for a in resource.resource.attributes
                            if a.key == "service.name"), "")
            for scope in resource.scope_spans:
                self.server.spans.extend((service, span) for span in scope.spans)
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        return None


@pytest.fixture()
def collector() -> Iterator[Collector]:
    server = Collector()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()


@pytest.fixture()
def traced_worker(database, tmp_path, collector):
    starter = WorkerStarter(database, tmp_path)
    yield starter(OTEL_TRACES_EXPORTER="otlp",
                  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=collector.endpoint,
                  OTEL_BSP_SCHEDULE_DELAY="100")
    starter.kill_all()


def test_the_worker_process_continues_the_requests_trace(traced, spans, collector,
                                                         traced_worker):
    tenant = sign_up(traced[0].test_client())
    bot = bot_with(tenant, TRIVIAL)
    spans.clear()
    execution_id = run(tenant, bot["id"])["id"]
    sent = spans.one("send codex32.run_execution")
    assert finished(tenant, execution_id)["status"] == "succeeded"

    def worker_span():  # this execution's (the worker may run other tests' leftover jobs)
        return next((span for service, span in collector.spans
                     if service == "codex32-worker"
                     and span.name == "process codex32.run_execution"
                     and any(a.key == "codex32.execution_id"
                             and a.value.string_value == execution_id
                             for a in span.attributes)), None)

    processed = wait_for(worker_span, timeout=15, message="the worker's span at the collector")
    assert processed.trace_id == sent.context.trace_id.to_bytes(16, "big")
    assert processed.parent_span_id == sent.context.span_id.to_bytes(8, "big")
    in_trace = [span for _, span in collector.spans if span.trace_id == processed.trace_id]
    names = {span.name for span in in_trace}
    assert "execute bot" in names and {"SELECT", "UPDATE"} <= names

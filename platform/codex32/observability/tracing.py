"""Distributed tracing (OpenTelemetry): one trace from an HTTP request through its database
statements and the jobs it queues, to their runs in the worker and the plugin and LLM calls
those make.

Off by default (``OTEL_TRACES_EXPORTER`` unset or ``none``): :func:`configure` then installs
nothing, every helper here returns at once (a shared no-op context manager, an empty dict),
and no hook, listener or middleware is added. On (``otlp`` or ``console``), the SDK reads the
other standard ``OTEL_*`` variables itself (endpoint, headers, sampler, service name).

What a span may carry (docs/operations.md, "Tracing"): ids (request, workspace, execution,
job, plugin), routes, statuses, SQL text with placeholders (never parameter values, and its
quoted literals masked),
provider and model names, token counts, error types. Never a prompt, a completion, a body, a
query string, a header value, a secret, a user id, an IP address or an exception message.

Only the W3C ``traceparent`` header is read from a request, and only as the parent of the
request's span (a malformed one is ignored, ``tracestate`` and ``baggage`` are never read);
a job carries the ``traceparent`` of the span that queued it in its arguments.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter
    from sqlalchemy.engine import Engine

    from codex32.config import Settings

TRACEPARENT = "traceparent"
MAX_QUERY_TEXT = 2000  # characters of SQL kept on a statement's span

_tracer: trace.Tracer | None = None  # None: tracing is off in this process
_provider: TracerProvider | None = None
_propagator = TraceContextTextMapPropagator()
_OFF: contextlib.nullcontext[None] = contextlib.nullcontext()
_ENGINE_SPAN = "codex32_statement_span"


def configure(settings: Settings, process: str, exporter: SpanExporter | None = None) -> bool:
    """Turn tracing on for this process when ``settings`` ask for it (or ``exporter`` is
    given: tests pass an in-memory one, exported synchronously); False when it stays off.

    Calling it again replaces the previous configuration (its spans are flushed first).
    """
    global _tracer, _provider
    shutdown()
    if exporter is None and settings.traces_exporter == "none":
        return False
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    from codex32 import __version__

    resource = Resource.create({"service.version": settings.release or __version__,
                                "deployment.environment.name": settings.env})
    if str(resource.attributes.get("service.name", "")).startswith("unknown_service"):
        resource = resource.merge(Resource({"service.name": f"codex32-{process}"}))
    provider = TracerProvider(resource=resource)  # the sampler from OTEL_TRACES_SAMPLER
    if exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    else:
        provider.add_span_processor(BatchSpanProcessor(_exporter(settings.traces_exporter)))
    _provider = provider
    _tracer = provider.get_tracer("codex32", __version__)
    return True


def _exporter(name: str) -> SpanExporter:
    if name == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter
        return ConsoleSpanExporter()
    # OTLP over HTTP/protobuf; endpoint, headers, timeout and TLS from OTEL_EXPORTER_OTLP_*.
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    return OTLPSpanExporter()


def shutdown() -> None:
    """Flush and stop this process's tracing (at exit; before reconfiguring)."""
    global _tracer, _provider
    provider, _provider, _tracer = _provider, None, None
    if provider is not None:
        provider.shutdown()


def enabled() -> bool:
    """Whether this process records spans."""
    return _tracer is not None


def span(name: str, kind: SpanKind = SpanKind.INTERNAL,
         attributes: Mapping[str, Any] | None = None,
         parent: Any = None) -> contextlib.AbstractContextManager[trace.Span | None]:
    """A span around a block, current within it (None, and nothing done, when tracing is
    off). An exception leaving the block marks the span failed with its type only."""
    if _tracer is None:
        return _OFF
    return _current(_tracer, name, kind, attributes, parent)


@contextlib.contextmanager
def _current(tracer: trace.Tracer, name: str, kind: SpanKind,
             attributes: Mapping[str, Any] | None, parent: Any) -> Iterator[trace.Span]:
    # Exceptions are recorded by type alone: a message may quote what must not leave.
    with tracer.start_as_current_span(name, context=parent, kind=kind, attributes=attributes,
                                      record_exception=False,
                                      set_status_on_exception=False) as current:
        try:
            yield current
        except BaseException as exc:
            if "error.type" not in (getattr(current, "attributes", None) or {}):
                fail(current, type(exc).__name__)  # unless the block said what failed
            raise


def fail(current: trace.Span | None, error_type: str) -> None:
    """Mark ``current`` failed with ``error_type`` (a class or kind name, never a message)."""
    if current is not None:
        current.set_attribute("error.type", error_type)
        current.set_status(Status(StatusCode.ERROR, error_type))


def carrier() -> dict[str, str]:
    """``{"traceparent": ...}`` for the current span, to carry into a job; empty when off or
    outside any span."""
    if _tracer is None:
        return {}
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return {}
    return {TRACEPARENT: f"00-{context.trace_id:032x}-{context.span_id:016x}-"
                         f"{int(context.trace_flags):02x}"}


def parent_from(traceparent: object) -> Any:
    """The context whose remote parent a W3C ``traceparent`` value names; an empty context
    (a new trace) when it is missing or malformed. Nothing else of the carrier is read."""
    if not isinstance(traceparent, str) or len(traceparent) > 128:
        return None
    return _propagator.extract({TRACEPARENT: traceparent})


def log_ids() -> dict[str, str]:
    """``trace_id`` and ``span_id`` of the current span for a log line; empty when off."""
    if _tracer is None:
        return {}
    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return {}
    return {"trace_id": f"{context.trace_id:032x}", "span_id": f"{context.span_id:016x}"}


# --- database statements ---------------------------------------------------------------------


# A quoted literal in SQL text ('...', E'...', $tag$...$tag$): a value written into the
# statement instead of passed as a parameter (``CREATE ROLE ... PASSWORD '...'``, say).
_LITERAL = re.compile(r"'(?:[^']|'')*'|\$(\w*)\$.*?\$\1\$", re.DOTALL)


def _statement_attributes(sql: str) -> dict[str, Any]:
    """The statement's span attributes: its text with every quoted literal masked."""
    return {"db.system.name": "postgresql",
            "db.query.text": _LITERAL.sub("'?'", sql[:MAX_QUERY_TEXT])}


def _statement_name(sql: str) -> str:
    words = sql.lstrip().split(None, 1)
    return words[0].upper() if words else "SQL"


def statements(queries: Sequence[str]) -> contextlib.AbstractContextManager[trace.Span | None]:
    """A client span around statements sent on the driver directly (the fast path of
    :mod:`codex32.db.driver`, which SQLAlchemy's events do not see)."""
    if _tracer is None:
        return _OFF
    attributes = _statement_attributes(";\n".join(queries))
    if len(queries) > 1:
        attributes["db.operation.batch.size"] = len(queries)
        name = "BATCH"
    else:
        name = _statement_name(queries[0])
    return _current(_tracer, name, SpanKind.CLIENT, attributes, None)


def instrument_engine(engine: Engine) -> None:
    """Give each statement ``engine`` runs a client span (only when tracing is on; the
    listeners stay cheap if it is turned off later)."""
    if _tracer is None:
        return
    from sqlalchemy import event

    def before(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any,
               executemany: bool) -> None:
        if _tracer is not None:
            conn.info[_ENGINE_SPAN] = _tracer.start_span(
                _statement_name(statement), kind=SpanKind.CLIENT,
                attributes=_statement_attributes(statement))

    def after(conn: Any, *_: Any) -> None:
        current = conn.info.pop(_ENGINE_SPAN, None)
        if current is not None:
            current.end()

    def failed(context: Any) -> None:
        connection = context.connection
        current = connection.info.pop(_ENGINE_SPAN, None) if connection is not None else None
        if current is not None:
            fail(current, type(context.original_exception).__name__)
            current.end()

    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "after_cursor_execute", after)
    event.listen(engine, "handle_error", failed)

"""Tracing on, spans kept in memory: an app built after tracing was configured, per module."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from codex32.observability import tracing
from tests.conftest import make_settings


class Spans:
    """The spans finished so far, and questions about their tree."""

    def __init__(self, exporter: InMemorySpanExporter) -> None:
        self.exporter = exporter

    def all(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

    def clear(self) -> None:
        self.exporter.clear()

    def named(self, prefix: str) -> list[ReadableSpan]:
        return [span for span in self.all() if span.name.startswith(prefix)]

    def one(self, prefix: str, **attributes: Any) -> ReadableSpan:
        found = [span for span in self.named(prefix)
                 if all((span.attributes or {}).get(k) == v for k, v in attributes.items())]
        assert len(found) == 1, (prefix, [span.name for span in self.all()])
        return found[0]

    def descends(self, span: ReadableSpan, ancestor: ReadableSpan) -> bool:
        """Whether ``ancestor`` is on ``span``'s chain of parents (by span id)."""
        by_id = {s.context.span_id: s for s in self.all()}
        current: ReadableSpan | None = span
        while current is not None and current.parent is not None:
            if current.parent.span_id == ancestor.context.span_id:
                return True
            current = by_id.get(current.parent.span_id)
        return False


@pytest.fixture(scope="module")
def traced(database, data_dir) -> Iterator[tuple[Any, Spans]]:
    """An app of a process whose tracing is on, exporting to memory; off again after."""
    from codex32.app import create_app

    spans = Spans(InMemorySpanExporter())
    tracing.configure(make_settings(data_dir), "web", exporter=spans.exporter)
    try:
        yield create_app(make_settings(data_dir), database.urls), spans
    finally:
        tracing.shutdown()


@pytest.fixture()
def spans(traced) -> Spans:
    traced[1].clear()
    return traced[1]


@pytest.fixture()
def traced_client(traced):
    return traced[0].test_client()

"""Structured logs: one JSON object per line, carrying the request's context.

The request path (and the worker, per job) calls :func:`bind_log_context` with the request id,
workspace id and user id; every record logged afterwards in the same context carries them. The
context lives in a :class:`~contextvars.ContextVar`, so threads and tasks never see each other's
fields, and a field that was never bound is simply absent from the line.

Fields of a line: ``timestamp`` (UTC, ISO 8601), ``level``, ``logger``, ``message``, then the bound
context (``request_id``, ``workspace_id``, ``user_id``, ...), ``trace_id`` and ``span_id`` when
tracing is on and a span is current, and anything passed with ``extra=``;
the request log line passes ``method``, ``path`` (the route template, never the raw URL),
``status`` and ``latency_ms``. This module formats; it decides nothing about what to log.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json as jsonlib
import logging
import re
import sys
import types
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from typing import Any, TextIO

import orjson

from codex32.observability import tracing

_context: ContextVar[Mapping[str, Any]] = ContextVar(
    "codex32_log_context", default=types.MappingProxyType({})
)

# Attributes every LogRecord has; anything else on a record came from ``extra`` or the context.
_RECORD_ATTRIBUTES = frozenset(
    vars(logging.LogRecord("", logging.INFO, "", 0, "", None, None))
) | {"message", "asctime", "taskName"}

_HANDLER_MARK = "_codex32_handler"


def bind_log_context(**fields: Any) -> None:
    """Add fields to every record logged from the current context; ``None`` unbinds a field."""
    merged = dict(_context.get())
    for name, value in fields.items():
        if value is None:
            merged.pop(name, None)
        else:
            merged[name] = value
    _context.set(merged)


def clear_log_context() -> None:
    """Forget every bound field (end of a request or a job)."""
    _context.set({})


def get_log_context() -> dict[str, Any]:
    """The fields currently bound, as a new dict."""
    return dict(_context.get())


@contextlib.contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """Bind fields for the duration of a block, then restore the previous context."""
    token = _context.set(dict(_context.get()))
    try:
        bind_log_context(**fields)
        yield
    finally:
        _context.reset(token)


class LogContextFilter(logging.Filter):
    """Copy the bound context onto each record; fields passed with ``extra=`` win."""

    def filter(self, record: logging.LogRecord) -> bool:
        for name, value in _context.get().items():
            if not hasattr(record, name):
                setattr(record, name, value)
        if tracing.enabled():
            for name, value in tracing.log_ids().items():
                if not hasattr(record, name):
                    setattr(record, name, value)
        return True


class JsonFormatter(logging.Formatter):
    """Render a record as one line of JSON (newlines in messages and tracebacks are escaped)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "timestamp": dt.datetime.fromtimestamp(record.created, dt.UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name, value in vars(record).items():
            if name not in _RECORD_ATTRIBUTES and not name.startswith("_"):
                entry[name] = value
        if record.exc_info:
            entry["exc_info"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exc_info"] = record.exc_text
        if record.stack_info:
            entry["stack_info"] = self.formatStack(record.stack_info)
        try:
            return orjson.dumps(entry, default=str).decode()
        except (TypeError, orjson.JSONEncodeError):  # e.g. an integer wider than 64 bits
            return jsonlib.dumps(entry, default=str, ensure_ascii=False)


# Control characters but newline and tab, and what some readers take for a line break.
_UNSAFE_TEXT = re.compile("[\x00-\x08\x0b-\x1f\x7f\x85\u2028\u2029]")


class TextFormatter(logging.Formatter):
    """Human-readable lines for a terminal, with the bound context appended as ``key=value``.

    Messages carry user strings (names, addresses): a record's further lines (a mail's body,
    a traceback, a newline in a name) are indented, so none reads as a record of its own, and
    other control characters (a carriage return, a terminal escape) are written escaped.
    """

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extras = [f"{name}={value}" for name, value in vars(record).items()
                  if name not in _RECORD_ATTRIBUTES and not name.startswith("_")]
        line = f"{line} [{' '.join(extras)}]" if extras else line
        line = _UNSAFE_TEXT.sub(lambda found: repr(found.group())[1:-1], line)
        return line.replace("\n", "\n    ")


def parse_level(level: str | int) -> int:
    """``"info"``, ``"INFO"`` or ``20`` as a logging level; anything else is a ValueError."""
    if isinstance(level, int):
        return level
    text = str(level).strip()
    if text.isdigit():
        return int(text)
    value = logging.getLevelName(text.upper())
    if not isinstance(value, int):
        raise ValueError(f"unknown log level {level!r} (LOG_LEVEL): use DEBUG, INFO, WARNING, "
                         "ERROR or CRITICAL")
    return value


# The loggers of the HTTP clients the SDKs and plugins use (httpx, and the httpx2 fork).
QUIET_CLIENT_LOGGERS = ("httpx", "httpcore", "httpx2", "httpcore2")


def configure_logging(level: str, json: bool = True, stream: TextIO | None = None) -> None:
    """Send every log record to one stream handler on the root logger, JSON by default.

    Idempotent: calling it again (the gunicorn master, then the app factory in each worker)
    replaces the handler it installed before instead of adding a second one. Handlers that
    others installed (pytest's capture, for one) are left alone.
    """
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, _HANDLER_MARK, False):
            root.removeHandler(handler)
            handler.close()
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    setattr(handler, _HANDLER_MARK, True)
    handler.setFormatter(JsonFormatter() if json else TextFormatter())
    handler.addFilter(LogContextFilter())
    root.addHandler(handler)
    root_level = parse_level(level)
    root.setLevel(root_level)
    # Outbound HTTP clients log a line per request at INFO naming the full URL (for some
    # providers a key rides in its query string) and repeating what the request log and the
    # gateway's ledger say: warnings and errors only, all of it when DEBUG is asked for.
    for name in QUIET_CLIENT_LOGGERS:
        logging.getLogger(name).setLevel(
            logging.NOTSET if root_level <= logging.DEBUG else logging.WARNING)
    logging.captureWarnings(True)

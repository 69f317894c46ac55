"""The HTTP request's span: opened before any other request hook, closed after every teardown.

Installed by the app factory only when tracing is on (:mod:`codex32.observability.tracing`),
so with tracing off a request runs no code of this module. The span is a server span named
``METHOD /route/<template>``; its parent is the request's W3C ``traceparent`` header when it
is well formed (a client's own trace continues into ours), a new trace otherwise. The header
only chooses the parent: it grants nothing, and ``tracestate`` and ``baggage`` are not read.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, g, request
from opentelemetry.trace import SpanKind

from codex32.db import tenancy
from codex32.observability import tracing

_SPAN = "codex32_span"


def init_app(app: Flask) -> None:
    """Open a span per request; call it before the other request hooks are registered."""
    if not tracing.enabled():
        return
    app.before_request_funcs.setdefault(None, []).insert(0, _open)
    app.after_request(_describe)
    # Teardown functions run last-registered first: inserted first, this one runs last.
    app.teardown_request_funcs.setdefault(None, []).insert(0, _close)


def _open() -> None:
    parent = tracing.parent_from(request.headers.get(tracing.TRACEPARENT))
    manager = tracing.span(f"HTTP {request.method}", kind=SpanKind.SERVER, parent=parent,
                           attributes={"http.request.method": request.method,
                                       "url.scheme": request.scheme})
    current = manager.__enter__()
    g.setdefault(_SPAN, (manager, current))


def _describe(response: Response) -> Response:
    opened = g.get(_SPAN)
    if opened is None or opened[1] is None:
        return response
    current = opened[1]
    route = request.url_rule.rule if request.url_rule else None
    if route:
        current.update_name(f"{request.method} {route}")
        current.set_attribute("http.route", route)
    current.set_attribute("http.response.status_code", response.status_code)
    request_id = g.get("request_id")
    if request_id:
        current.set_attribute("codex32.request_id", str(request_id))
    workspace_id = tenancy.current_workspace()
    if workspace_id:
        current.set_attribute("codex32.workspace_id", workspace_id)
    if response.status_code >= 500:
        tracing.fail(current, str(response.status_code))
    return response


def _close(error: BaseException | None) -> None:
    opened: Any = g.pop(_SPAN, None)
    if opened is None:
        return
    manager, current = opened
    if error is not None:
        tracing.fail(current, type(error).__name__)
    manager.__exit__(None, None, None)


"""Which API version answers a request: by path, or by the ``Accept-Version`` header.

The rules (docs/api.md, "Versions"):

- A versioned path (``/api/v1/…``, ``/api/v2/…``) decides. An ``Accept-Version`` header sent
  with it must name the same version: a different one is a 400 (a client bug made visible,
  never silently ignored); an unknown one is a 406.
- An unversioned path that is no route of its own (``/api/bots``) is served by the version
  the header names, or by the latest version without one. The docs and other routes that
  exist unversioned (``/api/openapi.json``, ``/api/docs``) are left alone.
- Every answer under ``/api/v1`` or ``/api/v2`` carries ``API-Version``.

This module and the error shapes it installs are the one place versions differ outside the
thin per-version views; both versions call the same services. v1 is not deprecated while v2
covers only part of it, so it carries no ``Deprecation``/``Sunset`` header.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask, Response, request
from werkzeug.exceptions import MethodNotAllowed, NotFound

from codex32.api.v2 import problems
from codex32.errors import DomainError, NotAcceptable, add_error_shape

SUPPORTED = ("1", "2")
LATEST = "2"
HEADER = "Accept-Version"
RESPONSE_HEADER = "API-Version"
ENVIRON_VERSION = "codex32.api_version"
ENVIRON_PROBLEM = "codex32.api_version_problem"
_VERSIONED = re.compile(r"^/api/v(\d+)(?:/|$)")
_NAMED = re.compile(r"^v?(\d+)(?:\.0)?$", re.IGNORECASE)


def parse(header: str) -> str | None:
    """The version a header value names (``2``, ``v2``, ``2.0``), or None."""
    found = _NAMED.match(header.strip())
    return str(int(found.group(1))) if found else None


class VersionRouter:
    """WSGI middleware: choose the version before Flask routes the request."""

    def __init__(self, app: Flask, wsgi: Callable[..., Iterable[bytes]]) -> None:
        self.app = app
        self.wsgi = wsgi

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]):
        path = environ.get("PATH_INFO", "")
        if path.startswith("/api/"):
            self._route(environ, path)
        return self.wsgi(environ, start_response)

    def _route(self, environ: dict[str, Any], path: str) -> None:
        header = environ.get("HTTP_ACCEPT_VERSION")
        asked = parse(header) if header is not None else None
        versioned = _VERSIONED.match(path)
        if header is not None and asked not in SUPPORTED:
            environ[ENVIRON_PROBLEM] = NotAcceptable(
                f"{HEADER} {header[:20]!r} is not a version of this API; "
                f"supported: {', '.join(SUPPORTED)}",
                errors={"headers": {HEADER: [f"one of {', '.join(SUPPORTED)}"]}})
            environ[ENVIRON_VERSION] = versioned.group(1) if versioned else LATEST
            return
        if versioned:
            environ[ENVIRON_VERSION] = versioned.group(1)
            if asked is not None and asked != versioned.group(1):
                environ[ENVIRON_PROBLEM] = DomainError(
                    f"the path asks for version {versioned.group(1)} and {HEADER} for "
                    f"version {asked}; send one, or the same in both",
                    errors={"headers": {HEADER: [f"must be {versioned.group(1)} on this path"]}})
            return
        if self._exists(environ):
            return
        version = asked or LATEST
        environ[ENVIRON_VERSION] = version
        environ["PATH_INFO"] = f"/api/v{version}/{path[len('/api/'):]}"

    def _exists(self, environ: dict[str, Any]) -> bool:
        try:
            self.app.url_map.bind_to_environ(environ).match()
        except MethodNotAllowed:
            return True
        except NotFound:
            return False
        except Exception:  # a redirect or the like: the route exists
            return True
        return True


def requested() -> str | None:
    """The version answering the current request, if it is an API request."""
    return request.environ.get(ENVIRON_VERSION)


def _speaks_problems() -> bool:
    return requested() == "2"


def init_app(app: Flask) -> None:
    """Route by version, refuse unknown or conflicting versions, label the answers, and
    answer v2's errors as problem details."""
    app.wsgi_app = VersionRouter(app, app.wsgi_app)  # type: ignore[method-assign]
    add_error_shape(app, _speaks_problems, problems.render)

    @app.before_request
    def _refuse_bad_versions() -> None:
        problem = request.environ.get(ENVIRON_PROBLEM)
        if problem is not None:
            raise problem

    @app.after_request
    def _label(response: Response) -> Response:
        version = requested()
        if version is not None:
            response.headers[RESPONSE_HEADER] = version
            response.vary.add(HEADER)
        return response

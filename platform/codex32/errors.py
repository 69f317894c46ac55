"""Domain errors and the one handler that turns every error into flask-smorest's JSON shape.

Services raise these; nothing calls ``abort()`` deep inside. The body is
``{"code", "status", "message", "errors"?}`` with the matching HTTP status, unless an error
shape added by :func:`add_error_shape` claims the request (API v2 answers RFC 9457 problem
details: :mod:`codex32.api.v2.problems`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from http import HTTPStatus
from typing import Any

import psycopg
from flask import Flask, Response, current_app, jsonify
from sqlalchemy.exc import DBAPIError
from werkzeug.exceptions import HTTPException

from codex32.plugins.errors import (
    ConfigInvalid,
    ProviderAuthError,
    ProviderError,
    ProviderRateLimited,
    ProviderTimeout,
)

log = logging.getLogger(__name__)


class DomainError(Exception):
    """Base of the errors a service raises on purpose; ``status`` is the HTTP status.

    The request that raises one writes nothing, unless ``keep_writes``: the error reports
    what was just recorded (see docs/architecture.md, "Transactions").
    """

    status = 400
    # What went wrong, for a client that branches on it (``context_length_exceeded``,
    # ``budget_exceeded``): an error shape may show it (the OpenAI-compatible endpoint's
    # ``code``); None for most errors, whose status says enough.
    reason: str | None = None

    def __init__(self, message: str, errors: dict[str, Any] | None = None,
                 headers: dict[str, str] | None = None, keep_writes: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.errors = errors
        self.headers = headers or {}
        self.keep_writes = keep_writes


class Malformed(DomainError):
    """A request body that cannot be read (malformed JSON, nesting too deep): 400."""

    status = 400


class Unauthorized(DomainError):
    status = 401

    def __init__(self, message: str = "authentication required", **kwargs: Any) -> None:
        kwargs.setdefault("headers", {"WWW-Authenticate": "Bearer"})
        super().__init__(message, **kwargs)


class Forbidden(DomainError):
    status = 403


class NotFound(DomainError):
    status = 404


class Conflict(DomainError):
    status = 409


class TooLarge(DomainError):
    status = 413


class UnsupportedMediaType(DomainError):
    status = 415


class NotAcceptable(DomainError):
    """A representation the API cannot give (an unknown ``Accept-Version``): 406."""

    status = 406


class Invalid(DomainError):
    status = 422


class RateLimited(DomainError):
    status = 429

    def __init__(self, message: str, retry_after: float) -> None:
        seconds = max(1, int(retry_after + 0.999))
        super().__init__(message, headers={"Retry-After": str(seconds)})
        self.retry_after = seconds


class BadGateway(DomainError):
    status = 502


class GatewayTimeout(DomainError):
    status = 504


def from_plugin_error(error: Exception, plugin: str) -> DomainError:
    """Map a plugin's error to the API error a client sees (never leaking secrets)."""
    if isinstance(error, ConfigInvalid):
        return Invalid(f"{plugin}: {error}",
                       errors={"json": error.errors} if error.errors else None)
    if isinstance(error, ProviderRateLimited):
        return RateLimited(f"{plugin} is rate limiting requests", error.retry_after or 1)
    if isinstance(error, ProviderTimeout):
        return GatewayTimeout(f"{plugin} did not answer in time")
    if isinstance(error, ProviderAuthError):
        return BadGateway(f"{plugin} rejected the configured credentials")
    if isinstance(error, ProviderError):
        return BadGateway(f"{plugin} failed: {error}")
    return BadGateway(f"{plugin} failed unexpectedly")


def error_body(status: int, message: str, errors: Any = None) -> dict[str, Any]:
    """The JSON error shape shared by every error response."""
    body: dict[str, Any] = {"code": status, "status": HTTPStatus(status).phrase,
                            "message": message}
    if errors:
        body["errors"] = errors
    return body


Renderer = Callable[[int, str, Any, dict[str, str] | None, str | None], Response]
_SHAPES = "codex32.error_shapes"


def add_error_shape(app: Flask, claims: Callable[[], bool], render: Renderer) -> None:
    """Answer errors of the requests ``claims`` accepts with ``render`` instead of the
    default JSON shape (the first shape that claims a request renders it). ``render`` takes
    the status, message, field errors, headers and the error's :attr:`DomainError.reason`."""
    app.extensions.setdefault(_SHAPES, []).append((claims, render))


def _respond(status: int, message: str, errors: Any = None,
             headers: dict[str, str] | None = None, reason: str | None = None):
    for claims, render in current_app.extensions.get(_SHAPES, ()):
        if claims():
            return render(status, message, errors, headers, reason)
    response = jsonify(error_body(status, message, errors))
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def register_error_handlers(app: Flask) -> None:
    """Install the handlers that give every error the JSON shape and the right status."""

    @app.errorhandler(DomainError)
    def _domain(error: DomainError):
        return _respond(error.status, error.message, error.errors, error.headers,
                        error.reason)

    @app.errorhandler(HTTPException)
    def _http(error: HTTPException):
        data = getattr(error, "data", None) or {}
        errors = data.get("messages") if isinstance(data, dict) else None
        status = error.code or 500
        message = (error.description or error.name) if status != 422 else "the request is invalid"
        if status == 422 and errors:
            message = first_message(errors) or message
        headers = {name: value for name, value in error.get_headers()
                   if name.lower() != "content-type"}
        headers.update(data.get("headers") or {})
        return _respond(status, message, errors, headers)

    @app.errorhandler(DBAPIError)
    @app.errorhandler(psycopg.Error)
    def _database(error: Exception):
        found = race(error)
        if found is None:
            return _unexpected(error)
        status, message, headers = found
        log.warning("a request met a concurrent change: %s", message, exc_info=True)
        return _respond(status, message, headers=headers)

    @app.errorhandler(Exception)
    def _unexpected(error: Exception):
        log.exception("unhandled error")
        return _respond(500, "internal error; the request was not applied")


# The database's refusals of a write that met another request's (services check what they
# can first; these are the windows between such a check and the write).
_RACES: tuple[tuple[type[psycopg.Error], int, str, dict[str, str]], ...] = (
    (psycopg.errors.ForeignKeyViolation, 409, "something this request refers to was deleted "
     "while it ran; nothing was applied", {}),
    (psycopg.errors.UniqueViolation, 409, "this conflicts with a change made at the same "
     "moment; nothing was applied", {}),
    *((kind, 503, "the database stopped this request to let a concurrent one finish (a "
       "deadlock or serialization failure); nothing was applied: send it again",
       {"Retry-After": "1"}) for kind in (psycopg.errors.DeadlockDetected,
                                          psycopg.errors.SerializationFailure)),
)


def race(error: BaseException) -> tuple[int, str, dict[str, str]] | None:
    """The answer to a database error that a concurrent request caused (status, message,
    headers), or None for any other error."""
    original = error.orig if isinstance(error, DBAPIError) else error
    for kind, status, message, headers in _RACES:
        if isinstance(original, kind):
            return status, message, headers
    return None


def first_invalid(errors: Any, path: str = "") -> tuple[str, str] | None:
    """The first invalid input of nested marshmallow messages: its path (``json.name``) and
    its message."""
    if isinstance(errors, dict):
        for key, value in errors.items():
            found = first_invalid(value, f"{path}.{key}" if path else str(key))
            if found:
                return found
    elif isinstance(errors, list) and errors:
        first = errors[0]
        return (path, first) if isinstance(first, str) else first_invalid(first, path)
    return None


def first_message(errors: Any) -> str | None:
    """A one-line summary of nested marshmallow messages, e.g. ``json.name: too long``."""
    found = first_invalid(errors)
    return f"{found[0]}: {found[1]}" if found else None

"""Typed errors: one exception class per kind of failure, carrying the server's problem details.

v2 answers errors as RFC 9457 problem details (``type``, ``title``, ``status``, ``detail``,
``instance``, ``request_id``, ``errors``); v1 as ``{code, status, message, errors}``. Both land in
the same fields here, so callers catch ``NotFound`` whichever version answered.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from contextvars import ContextVar
from email.utils import parsedate_to_datetime
from typing import Any, ParamSpec, Protocol, TypeVar

import httpx

T = TypeVar("T")
R = TypeVar("R")
P = ParamSpec("P")


class Codex32Error(Exception):
    """Any failure of a Codex-32 call: an error answer, a timeout, an unreachable server."""

    status: int | None = None

    def __init__(self, detail: str, *, status: int | None = None, type: str | None = None,
                 title: str | None = None, instance: str | None = None,
                 request_id: str | None = None, errors: list[dict[str, Any]] | None = None,
                 retry_after: float | None = None, body: Any = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.status = status if status is not None else self.__class__.status
        self.type = type
        self.title = title
        self.instance = instance
        self.request_id = request_id
        self.errors = errors or []
        self.retry_after = retry_after
        self.body = body

    def __str__(self) -> str:
        where = f" ({self.request_id})" if self.request_id else ""
        return f"{self.status or ''} {self.detail}{where}".strip()


class TransportError(Codex32Error):
    """The server could not be reached, or the connection broke (no answer to read)."""


class Timeout(TransportError):
    """The call took longer than the client's timeout."""


class APIError(Codex32Error):
    """The server answered with an error status."""


class BadRequest(APIError):
    status = 400


class Unauthenticated(APIError):
    """401: missing, wrong or expired credentials (after one refresh, for tokens)."""

    status = 401


class Forbidden(APIError):
    """403: the caller's role lacks the permission."""

    status = 403


class NotFound(APIError):
    """404: missing, or another workspace's (the API does not tell them apart)."""

    status = 404


class Conflict(APIError):
    status = 409


class InvalidInput(APIError):
    """422: ``errors`` lists each invalid field (``location``, ``pointer``/name, ``detail``)."""

    status = 422


class RateLimited(APIError):
    """429 (after the client's retries, for a call it may retry); ``retry_after`` is the
    server's wait, in seconds."""

    status = 429


class ServerError(APIError):
    """5xx (502, 503 and 504 after the client's retries, for a call it may retry)."""


BY_STATUS: dict[int, type[APIError]] = {
    400: BadRequest, 401: Unauthenticated, 403: Forbidden, 404: NotFound, 409: Conflict,
    422: InvalidInput, 429: RateLimited}


def retry_after(headers: Mapping[str, str]) -> float | None:
    """The ``Retry-After`` header in seconds (delta-seconds or an HTTP date); None if absent."""
    value = headers.get("retry-after") or headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


def from_answer(status: int, headers: Mapping[str, str], content: bytes) -> APIError:
    """The exception for an error answer, from its problem details (v2) or v1 error body."""
    try:
        body: Any = json.loads(content) if content else None
    except ValueError:
        body = None
    cls = BY_STATUS.get(status, ServerError if status >= 500 else APIError)
    fields: dict[str, Any] = {"status": status, "body": body, "retry_after": retry_after(headers)}
    if isinstance(body, dict) and "detail" in body:  # v2: problem details
        fields.update(type=body.get("type"), title=body.get("title"),
                      instance=body.get("instance"), request_id=body.get("request_id"),
                      errors=body.get("errors") if isinstance(body.get("errors"), list) else [])
        detail = str(body["detail"])
    elif isinstance(body, dict) and "message" in body:  # v1: {code, status, message, errors}
        fields.update(title=body.get("status"), request_id=headers.get("x-request-id"),
                      errors=_v1_errors(body.get("errors")))
        detail = str(body["message"])
    else:
        fields["request_id"] = headers.get("x-request-id")
        detail = content.decode("utf-8", "replace")[:500] or f"HTTP {status}"
    return cls(detail, **fields)


def _v1_errors(errors: Any) -> list[dict[str, Any]]:
    """v1's ``{location: {field: [messages]}}`` as v2's list of ``{location, pointer, detail}``."""
    if not isinstance(errors, dict):
        return []
    found = []
    for location, by_field in errors.items():
        if not isinstance(by_field, dict):
            found.append({"location": location, "pointer": "", "detail": str(by_field)})
            continue
        for name, messages in by_field.items():
            for message in messages if isinstance(messages, list) else [messages]:
                found.append({"location": location, "pointer": f"/{name}",
                              "detail": str(message)})
    return found


class Answer(Protocol):
    """A generated client's ``Response``: what ``expect`` reads."""

    @property
    def status_code(self) -> int: ...

    @property
    def headers(self) -> MutableMapping[str, str]: ...

    @property
    def content(self) -> bytes: ...

    @property
    def parsed(self) -> Any: ...


def expect(answer: Answer, model: type[T]) -> T:
    """The answer's model, or the typed error its status says."""
    if answer.status_code >= 400:
        raise from_answer(answer.status_code, answer.headers, answer.content)
    if not isinstance(answer.parsed, model):
        raise APIError(f"unexpected answer for {model.__name__}", status=answer.status_code,
                       body=answer.content[:500])
    return answer.parsed


def expect_empty(answer: Answer) -> None:
    """Nothing, or the typed error the answer's status says (for 204 answers)."""
    if answer.status_code >= 400:
        raise from_answer(answer.status_code, answer.headers, answer.content)


def call(operation: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """Run a generated operation; httpx's failures and unreadable answers become typed errors."""
    _last.answer = None
    try:
        return operation(*args, **kwargs)
    except CAUGHT as exc:
        raise _typed(exc, getattr(_last, "answer", None)) from exc


async def acall(operation: Callable[P, Awaitable[R]], *args: P.args, **kwargs: P.kwargs) -> R:
    """``call`` for a generated ``asyncio_detailed`` operation (``AsyncCodex32``)."""
    _last_async.set(None)
    try:
        return await operation(*args, **kwargs)
    except CAUGHT as exc:
        raise _typed(exc, _last_async.get()) from exc


# What a generated operation raises that ``_typed`` turns into a typed error: httpx's failures,
# and a body the generated model cannot read.
CAUGHT = (httpx.TransportError, ValueError, KeyError, TypeError)


def _typed(exc: Exception, answer: httpx.Response | None) -> Codex32Error:
    """The typed error for one of ``CAUGHT``."""
    if isinstance(exc, httpx.TimeoutException):
        return Timeout(f"timed out: {exc}")
    if isinstance(exc, httpx.TransportError):
        return TransportError(f"could not reach the server: {exc}")
    if answer is not None and answer.status_code >= 400:  # e.g. v1's refresh, a proxy's 502
        return from_answer(answer.status_code, answer.headers, answer.content)
    return APIError(f"unreadable answer: {exc!r}")


_last = threading.local()
_last_async: ContextVar[httpx.Response | None] = ContextVar("codex32_last_answer", default=None)


def remember(answer: httpx.Response) -> None:
    """An httpx response hook: the thread's latest answer, for ``call`` to read when the
    generated client cannot parse it (an error answer from another layer or API version)."""
    _last.answer = answer


async def aremember(answer: httpx.Response) -> None:
    """``remember`` for ``AsyncCodex32`` (per task: a context variable)."""
    _last_async.set(answer)

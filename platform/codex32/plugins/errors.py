"""Errors a plugin raises. The core maps each to an API error (see ``codex32.errors``).

Plugins translate their SDK's exceptions into these; the message must never contain a secret.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from typing import TypeVar, cast

from codex32.observability.sentry import is_sensitive_key, mask_string

MAX_DETAIL = 300
# Shorter secret values are not taken out of messages: they would blank out ordinary words.
SHORTEST_REDACTED = 4

E = TypeVar("E", bound=BaseException)


def redacted(text: str, *secrets: str | None, limit: int = MAX_DETAIL) -> str:
    """``text`` fit for an error message: every given secret replaced (the longest first, so a
    secret inside another leaves no piece of it behind), cut to ``limit``."""
    for secret in sorted(filter(None, secrets), key=len, reverse=True):
        text = text.replace(secret, "[redacted]")
    return text if len(text) <= limit else text[:limit - 1] + "…"


def scrubbed(error: E, secrets: Iterable[str | None]) -> E:
    """``error`` with each of ``secrets`` taken out of its arguments (its message) and, for
    :class:`ConfigInvalid`, out of its field errors, in place; the core calls it on every
    error that leaves a plugin, so a secret a plugin quoted is never shown."""
    values = [value for value in secrets
              if isinstance(value, str) and len(value) >= SHORTEST_REDACTED]
    if not values:
        return error

    def clean(value: object) -> object:
        if isinstance(value, str):
            return redacted(value, *values, limit=len(value) * 10 + 100)
        if isinstance(value, list | tuple):
            return type(value)(clean(item) for item in value)
        if isinstance(value, dict):
            return {clean(key): clean(item) for key, item in value.items()}
        return value

    error.args = tuple(clean(arg) for arg in error.args)
    if isinstance(error, ConfigInvalid):
        error.errors = cast(dict[str, list[str]], clean(error.errors))
    return error


# The folders of an absolute path (what follows is kept: the file's own name says enough).
_FOLDERS = re.compile(r"""(?<![\w:/.~-])/(?:[^\s/'"(),:;]+/)+""")
# Values of the process's environment shorter than this are not taken out (a flag, a port).
SHORTEST_ENVIRONMENT_SECRET = 8


def scrubbed_text(text: str, limit: int = 2 * MAX_DETAIL) -> str:
    """``text`` a plugin raised outside any workspace's call (a load error) fit to show a
    workspace's admin: the values of the environment's secret variables, secrets by their
    shape (``token=...``, ``sk-...``, URL passwords) and the folders of absolute paths taken
    out, cut to ``limit``. No workspace's secret can be in it: none was read yet."""
    environment = [value for name, value in os.environ.items()
                   if is_sensitive_key(name) and len(value) >= SHORTEST_ENVIRONMENT_SECRET]
    text = mask_string(redacted(text, *environment, limit=len(text) * 10 + 100))
    return redacted(_FOLDERS.sub("…/", text), limit=limit)


class PluginError(Exception):
    """Base class of every error a plugin may raise on purpose."""


class ConfigInvalid(PluginError):
    """The workspace's configuration for a plugin is invalid (API: 422)."""

    def __init__(self, message: str, errors: dict[str, list[str]] | None = None) -> None:
        super().__init__(message)
        self.errors = errors or {}


# What went wrong, as the core's retry policy reads it (``ProviderError.kind``):
RATE_LIMITED = "rate_limited"      # 429: retry the same model after Retry-After
OVERLOADED = "overloaded"          # 529, 503: retry, then fall back
SERVER = "server"                  # other 5xx: retry, then fall back
CONNECTION = "connection"          # no answer at all: retry, then fall back
TIMEOUT = "timeout"                # no answer in time: retry within the deadline
CONTEXT_LENGTH = "context_length"  # the prompt is too long for this model: next model
AUTH = "auth"                      # 401/403: stop, name the provider
CONTENT_POLICY = "content_policy"  # refused for its content: stop, name the provider
INVALID_REQUEST = "invalid_request"  # other 4xx: the request is wrong, stop
UNKNOWN = "unknown"                # anything else: fall back without retrying

ERROR_KINDS = (RATE_LIMITED, OVERLOADED, SERVER, CONNECTION, TIMEOUT, CONTEXT_LENGTH, AUTH,
               CONTENT_POLICY, INVALID_REQUEST, UNKNOWN)


def kind_of_status(status: int | None) -> str:
    """The error kind an HTTP status means when nothing more specific is known."""
    if status is None:
        return UNKNOWN
    if status == 429:
        return RATE_LIMITED
    if status in (503, 529):
        return OVERLOADED
    if status >= 500:
        return SERVER
    if status in (401, 403):
        return AUTH
    if status == 408:
        return TIMEOUT
    return INVALID_REQUEST if status >= 400 else UNKNOWN


class ProviderError(PluginError):
    """The remote provider failed or answered something unusable (API: 502).

    ``status`` is the upstream's HTTP status when there was one: the core may show it (never
    the upstream's body) where the message itself is not shown, as in a provider's ``/test``.
    ``kind`` (one of :data:`ERROR_KINDS`) tells the core's retry policy what happened; by
    default it follows ``status``. ``retry_after`` is the provider's Retry-After in seconds.
    Third-party providers that set neither keep working: the core then falls back.
    """

    default_kind = UNKNOWN

    def __init__(self, message: str, *, status: int | None = None, kind: str | None = None,
                 retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.kind = kind or (kind_of_status(status) if status is not None
                             else self.default_kind)
        self.retry_after = retry_after


class ProviderAuthError(ProviderError):
    """The provider rejected the credentials (API: 502, message says credentials)."""

    default_kind = AUTH

    def __init__(self, message: str, *, status: int | None = None, kind: str | None = None,
                 retry_after: float | None = None) -> None:
        super().__init__(message, status=status, kind=kind or AUTH, retry_after=retry_after)


class ProviderTimeout(ProviderError):
    """The provider did not answer in time (API: 504)."""

    default_kind = TIMEOUT

    def __init__(self, message: str, *, status: int | None = None, kind: str | None = None,
                 retry_after: float | None = None) -> None:
        super().__init__(message, status=status, kind=kind or TIMEOUT, retry_after=retry_after)


class ProviderRateLimited(ProviderError):
    """The provider asked us to slow down (API: 429 with ``Retry-After``)."""

    default_kind = RATE_LIMITED

    def __init__(self, message: str, retry_after: float | None = None, *,
                 status: int | None = None, kind: str | None = None) -> None:
        super().__init__(message, status=status, kind=kind or RATE_LIMITED,
                         retry_after=retry_after)

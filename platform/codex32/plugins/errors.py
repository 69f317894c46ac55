"""Errors a plugin raises. The core maps each to an API error (see ``codex32.errors``).

Plugins translate their SDK's exceptions into these; the message must never contain a secret.
"""

from __future__ import annotations

MAX_DETAIL = 300


def redacted(text: str, *secrets: str | None, limit: int = MAX_DETAIL) -> str:
    """``text`` fit for an error message: every given secret replaced (the longest first, so a
    secret inside another leaves no piece of it behind), cut to ``limit``."""
    for secret in sorted(filter(None, secrets), key=len, reverse=True):
        text = text.replace(secret, "[redacted]")
    return text if len(text) <= limit else text[:limit - 1] + "…"


class PluginError(Exception):
    """Base class of every error a plugin may raise on purpose."""


class ConfigInvalid(PluginError):
    """The workspace's configuration for a plugin is invalid (API: 422)."""

    def __init__(self, message: str, errors: dict[str, list[str]] | None = None) -> None:
        super().__init__(message)
        self.errors = errors or {}


class ProviderError(PluginError):
    """The remote provider failed or answered something unusable (API: 502).

    ``status`` is the upstream's HTTP status when there was one: the core may show it (never
    the upstream's body) where the message itself is not shown, as in a provider's ``/test``.
    """

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class ProviderAuthError(ProviderError):
    """The provider rejected the credentials (API: 502, message says credentials)."""


class ProviderTimeout(ProviderError):
    """The provider did not answer in time (API: 504)."""


class ProviderRateLimited(ProviderError):
    """The provider asked us to slow down (API: 429 with ``Retry-After``)."""

    def __init__(self, message: str, retry_after: float | None = None, *,
                 status: int | None = None) -> None:
        super().__init__(message, status=status)
        self.retry_after = retry_after

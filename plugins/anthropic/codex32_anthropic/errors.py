"""The Anthropic SDK's exceptions as :mod:`codex32.plugins.errors` types, and the SDK itself,
imported on first use."""

from __future__ import annotations

from types import ModuleType
from typing import TYPE_CHECKING

from codex32.plugins.api import (
    CONNECTION,
    CONTENT_POLICY,
    CONTEXT_LENGTH,
    OVERLOADED,
    TIMEOUT,
    ProviderAuthError,
    ProviderError,
    ProviderRateLimited,
    ProviderTimeout,
    RefusedConnection,
    redacted,
    retry_after_seconds,
)

if TYPE_CHECKING:
    import anthropic


def sdk() -> ModuleType:
    """The ``anthropic`` SDK, imported on first use: it takes about 2 s of CPU to import, which
    every process that loads the plugins (web workers, bot workers, commands) would pay at
    start-up even when no workspace uses Anthropic."""
    import anthropic

    return anthropic


def translate(exc: anthropic.AnthropicError, secret: str | None, *, quote: bool = True
              ) -> ProviderError:
    """The codex32 error for an SDK exception; its message never contains ``secret``.

    ``quote=False``: status and error class only, none of the API's text.

    529 ``overloaded_error`` becomes a plain :class:`ProviderError` (502), not a rate limit: the
    provider as a whole is short of capacity, so the core should fall back to another provider
    rather than tell the caller to slow down.
    """
    if isinstance(exc, sdk().APITimeoutError):
        return ProviderTimeout("Anthropic did not answer in time", kind=TIMEOUT)
    if isinstance(exc, sdk().APIConnectionError):
        if isinstance(exc.__cause__, RefusedConnection):
            return ProviderError(str(exc.__cause__))
        cause = type(exc.__cause__).__name__ if exc.__cause__ else "connection error"
        return ProviderError(f"could not reach the Anthropic API ({cause})", kind=CONNECTION)
    if isinstance(exc, sdk().APIStatusError):
        status = exc.status_code
        # From the body, not the status: an error event mid-stream arrives with a 200.
        error_type, message = _error_fields(exc.body) if quote else (None, None)
        label = f"{status} {error_type}" if error_type else str(status)
        if status in (401, 403) or error_type in ("authentication_error", "permission_error"):
            # Never pass the API's own words on here: they may describe the key.
            return ProviderAuthError(f"Anthropic rejected the credentials ({label})",
                                     status=status)
        detail = redacted(message or exc.message, secret) if quote else type(exc).__name__
        retry_after = retry_after_seconds(exc.response.headers)
        if status == 429 or error_type == "rate_limit_error":
            return ProviderRateLimited(f"Anthropic rate limit ({label}): {detail}",
                                       retry_after=retry_after, status=status)
        if status == 529 or error_type == "overloaded_error":
            return ProviderError(f"Anthropic is overloaded ({label}), try again later: {detail}",
                                 status=status, kind=OVERLOADED, retry_after=retry_after)
        return ProviderError(f"Anthropic answered {label}: {detail}", status=status,
                             kind=_kind_of(error_type, message), retry_after=retry_after)
    if not quote:
        return ProviderError(f"Anthropic failed ({type(exc).__name__})")
    return ProviderError(f"Anthropic client error ({type(exc).__name__}): "
                         f"{redacted(str(exc), secret)}")


def _kind_of(error_type: str | None, message: str | None) -> str | None:
    """A more precise kind than the status's, from the error body (None: the status's)."""
    text = (message or "").lower()
    if error_type == "invalid_request_error" and ("prompt is too long" in text
                                                  or "context window" in text
                                                  or "context length" in text):
        return CONTEXT_LENGTH
    if "content filtering policy" in text or "usage policy" in text:
        return CONTENT_POLICY
    return None


def _error_fields(body: object) -> tuple[str | None, str | None]:
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return None, None
    kind, message = error.get("type"), error.get("message")
    return (kind if isinstance(kind, str) else None,
            message if isinstance(message, str) else None)

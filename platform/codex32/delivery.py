"""POSTing to a URL a tenant supplied: checked and pinned per attempt, never redirected,
judged by status, retried with backoff, failing as a :mod:`codex32.plugins.errors` type; and
reading a Retry-After, which provider plugins need too.

Notifier plugins (webhook, Slack) deliver through :func:`deliver`; they add only what is
theirs (a signature per attempt, a reading of their service's error codes). No Flask here.
"""

from __future__ import annotations

import email.utils
import http.client
import logging
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from codex32.outbound import UnsafeURL, pinned_connection, resolve_url
from codex32.plugins.errors import (
    ProviderAuthError,
    ProviderError,
    ProviderRateLimited,
    ProviderTimeout,
)

log = logging.getLogger(__name__)

MAX_RESPONSE_BYTES = 16 * 1024
MAX_BACKOFF_SECONDS = 60.0


@dataclass(frozen=True)
class Answer:
    """What the receiver said: status, its Retry-After header and (the start of) its body."""

    status: int
    retry_after: str | None
    body: str


@dataclass(frozen=True)
class Failure:
    """Why one attempt failed, whether another may help, and what to raise if not."""

    reason: str
    retry: bool
    error: type[ProviderError] = ProviderError
    retry_after: float | None = None
    status: int | None = None  # the receiver's HTTP status, when it answered

    def exception(self, message: str) -> ProviderError:
        if issubclass(self.error, ProviderRateLimited):
            return self.error(message, retry_after=self.retry_after, status=self.status)
        return self.error(message, status=self.status)


@dataclass(frozen=True)
class Policy:
    """How hard to try: attempts, backoff base, per-attempt timeout, longest Retry-After."""

    attempts: int = 3
    backoff: float = 0.5
    timeout: float = 10.0
    max_retry_after: float = 60.0

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Policy:
        """The policy a plugin's config sets with :data:`POLICY_PROPERTIES`."""
        return cls(attempts=int(config.get("max_attempts", cls.attempts)),
                   backoff=float(config.get("backoff_seconds", cls.backoff)),
                   timeout=float(config.get("timeout_seconds", cls.timeout)),
                   max_retry_after=float(config.get("max_retry_after_seconds",
                                                    cls.max_retry_after)))


POLICY_PROPERTIES: dict[str, Any] = {
    "max_attempts": {
        "type": "integer", "minimum": 1, "maximum": 10, "default": Policy.attempts,
        "description": "Attempts per notification, the first included.",
    },
    "backoff_seconds": {
        "type": "number", "minimum": 0, "maximum": 60, "default": Policy.backoff,
        "description": "Wait before the second attempt; doubles after each failure.",
    },
    "timeout_seconds": {
        "type": "number", "exclusiveMinimum": 0, "maximum": 60, "default": Policy.timeout,
        "description": "Limit for connecting and for each read of one attempt.",
    },
    "max_retry_after_seconds": {
        "type": "number", "minimum": 0, "maximum": 600, "default": Policy.max_retry_after,
        "description": "Longest Retry-After honoured; a longer one ends the delivery "
                       "with a rate-limit error so the queue can retry it later.",
    },
}
"""The config properties of a :class:`Policy`, for a delivering plugin's ``config_schema``."""


Judge = Callable[[Answer, Policy], Failure | None]


def judge(answer: Answer, policy: Policy, refused: str = "the receiver refused the request",
          said: str | None = None) -> Failure | None:
    """The usual reading of an answer: 2xx is delivered; 3xx is a failure (no redirects);
    429 and 5xx retry (honouring Retry-After up to the policy's limit); 401/403 are
    credential failures; any other status is final."""
    said = said or f"answered {answer.status}"
    if 200 <= answer.status < 300:
        return None
    if 300 <= answer.status < 400:
        return Failure(f"{said}, a redirect; redirects are not followed", retry=False,
                       status=answer.status)
    if answer.status == 429 or answer.status >= 500:
        retry_after = parse_retry_after(answer.retry_after)
        if retry_after is not None and retry_after > policy.max_retry_after:
            return Failure(f"{said} with Retry-After {retry_after:g}s, longer than the "
                           f"{policy.max_retry_after:g}s allowed", retry=False,
                           error=ProviderRateLimited, retry_after=retry_after,
                           status=answer.status)
        error = ProviderRateLimited if answer.status == 429 else ProviderError
        return Failure(said, retry=True, error=error, retry_after=retry_after,
                       status=answer.status)
    if answer.status in (401, 403):
        return Failure(f"{said}; {refused}", retry=False, error=ProviderAuthError,
                       status=answer.status)
    return Failure(said, retry=False, status=answer.status)


def post_once(url: str, body: bytes, headers: Mapping[str, str],
              timeout: float) -> Answer | Failure:
    """One POST to ``url``, resolved and checked now and connected to what was checked."""
    try:
        target = resolve_url(url)
    except UnsafeURL as exc:
        return Failure(f"target refused: {exc}", retry=False)
    connection = pinned_connection(target, timeout=timeout)
    try:
        connection.request("POST", target.request_target, body=body, headers=dict(headers))
        response = connection.getresponse()
        text = response.read(MAX_RESPONSE_BYTES).decode(errors="replace").strip()
        return Answer(response.status, response.getheader("Retry-After"), text)
    except TimeoutError:
        return Failure(f"no answer within {timeout:g}s", retry=True, error=ProviderTimeout)
    except ssl.SSLCertVerificationError as exc:
        return Failure(f"TLS certificate rejected: {exc.verify_message}", retry=False)
    except (OSError, http.client.HTTPException) as exc:
        # Safe to show: these messages never carry the request's path.
        return Failure(f"connection failed: {type(exc).__name__}: {exc}", retry=True)
    finally:
        connection.close()


def deliver(url: str, body: bytes, headers: Callable[[], Mapping[str, str]], policy: Policy,
            what: str, *, reading: Judge = judge,
            sleep: Callable[[float], None] = time.sleep) -> None:
    """POST until delivered or out of attempts; raise the last failure's error.

    ``headers`` is called per attempt (a signature may carry the time); ``what`` names the
    delivery in logs and errors and must not contain a secret.
    """
    for attempt in range(1, policy.attempts + 1):
        outcome = post_once(url, body, headers(), policy.timeout)
        failure = reading(outcome, policy) if isinstance(outcome, Answer) else outcome
        if failure is None:
            return
        if not failure.retry or attempt == policy.attempts:
            raise failure.exception(f"{what} failed after {attempt} attempt(s): "
                                    f"{failure.reason}")
        delay = failure.retry_after
        if delay is None:
            delay = min(policy.backoff * 2 ** (attempt - 1), MAX_BACKOFF_SECONDS)
        log.warning("%s failed (attempt %d of %d): %s; retrying in %.2fs", what, attempt,
                    policy.attempts, failure.reason, delay)
        sleep(delay)


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a ``Retry-After`` value (seconds, possibly fractional, or an HTTP
    date); None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait from response headers: ``retry-after-ms`` (OpenAI, Anthropic) first,
    then ``retry-after``."""
    milliseconds = headers.get("retry-after-ms")
    if milliseconds:
        try:
            return max(0.0, float(milliseconds) / 1000)
        except ValueError:
            pass
    return parse_retry_after(headers.get("retry-after"))

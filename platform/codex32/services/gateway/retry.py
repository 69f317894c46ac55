"""The gateway's one retry policy: what each kind of provider failure leads to.

SDK retries are off in every first-party plugin, so this is the only place that retries.
Per deployment: retry on rate limits (honouring Retry-After when it fits in the deadline),
overload, 5xx, timeouts and connection errors, with full-jitter exponential backoff; then
fall back to the next deployment. A context-length error falls back without retrying; auth
errors, content-policy refusals and invalid requests stop at once. No I/O here.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from codex32.plugins.errors import (
    AUTH,
    CONNECTION,
    CONTENT_POLICY,
    CONTEXT_LENGTH,
    INVALID_REQUEST,
    OVERLOADED,
    RATE_LIMITED,
    SERVER,
    TIMEOUT,
)

RETRY = "retry"
FALLBACK = "fallback"
STOP = "stop"

RETRYABLE = frozenset({RATE_LIMITED, OVERLOADED, SERVER, TIMEOUT, CONNECTION})
FINAL = frozenset({AUTH, CONTENT_POLICY, INVALID_REQUEST})
# Failures that count towards a deployment's cooldown: the deployment's fault, not the request's.
COOLDOWN_KINDS = frozenset({RATE_LIMITED, OVERLOADED, SERVER, TIMEOUT, CONNECTION, AUTH})


@dataclass(frozen=True)
class Decision:
    """What to do after a failure, and how long to wait before a retry."""

    action: str
    delay: float = 0.0


@dataclass(frozen=True)
class RetryPolicy:
    """Attempts per deployment and the backoff between them (seconds)."""

    attempts_per_deployment: int = 2
    base_delay: float = 0.25
    max_delay: float = 8.0

    def decide(self, kind: str, attempt: int, remaining: float,
               retry_after: float | None = None) -> Decision:
        """After failure number ``attempt`` (1-based) of a deployment, with ``remaining``
        seconds left before the request's deadline."""
        if kind in FINAL:
            return Decision(STOP)
        if kind == CONTEXT_LENGTH or kind not in RETRYABLE:
            return Decision(FALLBACK)
        if attempt >= self.attempts_per_deployment:
            return Decision(FALLBACK)
        if retry_after is not None:
            # Honour the provider's wait only when the deadline leaves room for an answer.
            if retry_after > self.max_delay or retry_after >= remaining * 0.5:
                return Decision(FALLBACK)
            return Decision(RETRY, retry_after)
        delay = random.uniform(0, min(self.max_delay, self.base_delay * 2 ** (attempt - 1)))
        if delay >= remaining * 0.5:
            return Decision(FALLBACK)
        return Decision(RETRY, delay)

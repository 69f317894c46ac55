"""Retries, below authentication: an httpx transport that repeats a request answered 429 or 503
(or not delivered at all: connection refused) after the server's ``Retry-After``, within a
deadline.

The request is sent again as it is, headers included, so an execution's ``Idempotency-Key``
is the same on every attempt of one call. A wait that would end past the deadline is not
waited: the last answer is returned (and becomes ``RateLimited`` or ``ServerError``).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from codex32_client.errors import retry_after

RETRY_STATUSES = frozenset({429, 503})


@dataclass(frozen=True)
class RetryPolicy:
    """How hard one call tries: ``max_retries`` more attempts, all within ``deadline`` seconds
    from the first; without ``Retry-After``, full-jitter exponential backoff from
    ``backoff`` seconds up to ``max_backoff``."""

    max_retries: int = 3
    deadline: float = 30.0
    backoff: float = 0.5
    max_backoff: float = 8.0

    def wait(self, attempt: int, answer: httpx.Response | None) -> float:
        """Seconds to wait before retry number ``attempt + 1``."""
        asked = retry_after(answer.headers) if answer is not None else None
        if asked is not None:
            return asked
        return random.uniform(0, min(self.max_backoff, self.backoff * 2 ** attempt))


class RetryingTransport(httpx.BaseTransport):
    """Wraps a transport; retries what ``policy`` allows (see the module docstring)."""

    def __init__(self, inner: httpx.BaseTransport, policy: RetryPolicy,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.inner = inner
        self.policy = policy
        self.sleep = sleep

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        started = time.monotonic()
        attempt = 0
        while True:
            try:
                answer = self.inner.handle_request(request)
            except httpx.ConnectError:  # not delivered: safe to send again
                wait = self.policy.wait(attempt, None)
                if not self._allowed(attempt, started, wait):
                    raise
            else:
                if answer.status_code not in RETRY_STATUSES:
                    return answer
                wait = self.policy.wait(attempt, answer)
                if not self._allowed(attempt, started, wait):
                    return answer
                answer.read()
                answer.close()
            self.sleep(wait)
            attempt += 1

    def _allowed(self, attempt: int, started: float, wait: float) -> bool:
        return (attempt < self.policy.max_retries
                and time.monotonic() - started + wait <= self.policy.deadline)

    def close(self) -> None:
        self.inner.close()

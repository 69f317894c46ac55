"""Retries, below authentication: an httpx transport that sends a request again when a repeat
cannot do its work twice, after the server's ``Retry-After`` or a jittered backoff, within a
deadline. The policy is the same in the three SDKs (sdks/README.md):

- what: GET, HEAD, PUT and DELETE, and any request carrying an ``Idempotency-Key`` (the SDK
  sends one with ``executions.create``, the one POST the server deduplicates by it); a POST
  or PATCH without a key is never sent twice, whatever happened to it;
- when: an answer 429, 502, 503 or 504, or a connection error (refused, or dropped before an
  answer); never after a timeout;
- how long: ``Retry-After`` (seconds or an HTTP date) when the answer has one, else full-jitter
  exponential backoff; at most ``max_retries`` more attempts, and no wait that would end past
  ``deadline`` seconds from the first attempt: then the last answer (or error) is the call's.

The request is sent again as it is, headers included, so an execution's ``Idempotency-Key``
is the same on every attempt of one call.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx

from codex32_client.errors import retry_after

RETRY_STATUSES = frozenset({429, 502, 503, 504})
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE"})
IDEMPOTENCY_HEADER = "Idempotency-Key"
# No answer came, and the request may or may not have reached the server (a timeout is not
# one of them: the server may still be working on it).
CONNECTION_ERRORS = (httpx.ConnectError, httpx.RemoteProtocolError, httpx.ReadError,
                     httpx.WriteError)


def retriable(request: httpx.Request) -> bool:
    """Whether sending ``request`` twice cannot do its work twice."""
    return request.method in IDEMPOTENT_METHODS or IDEMPOTENCY_HEADER in request.headers


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

    def allows(self, attempt: int, started: float, wait: float) -> bool:
        """Whether retry number ``attempt + 1``, after ``wait`` seconds, is within the policy
        (``started``: the first attempt's ``time.monotonic()``)."""
        return (attempt < self.max_retries
                and time.monotonic() - started + wait <= self.deadline)


class RetryingTransport(httpx.BaseTransport):
    """Wraps a transport; retries what ``policy`` allows (see the module docstring)."""

    def __init__(self, inner: httpx.BaseTransport, policy: RetryPolicy,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.inner = inner
        self.policy = policy
        self.sleep = sleep

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if not retriable(request):
            return self.inner.handle_request(request)
        started = time.monotonic()
        attempt = 0
        while True:
            try:
                answer = self.inner.handle_request(request)
            except CONNECTION_ERRORS:
                wait = self.policy.wait(attempt, None)
                if not self.policy.allows(attempt, started, wait):
                    raise
            else:
                if answer.status_code not in RETRY_STATUSES:
                    return answer
                wait = self.policy.wait(attempt, answer)
                if not self.policy.allows(attempt, started, wait):
                    return answer
                answer.read()
                answer.close()
            self.sleep(wait)
            attempt += 1

    def close(self) -> None:
        self.inner.close()


class AsyncRetryingTransport(httpx.AsyncBaseTransport):
    """``RetryingTransport`` for ``AsyncCodex32``: the same policy, waiting with asyncio."""

    def __init__(self, inner: httpx.AsyncBaseTransport, policy: RetryPolicy,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.inner = inner
        self.policy = policy
        self.sleep = sleep

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if not retriable(request):
            return await self.inner.handle_async_request(request)
        started = time.monotonic()
        attempt = 0
        while True:
            try:
                answer = await self.inner.handle_async_request(request)
            except CONNECTION_ERRORS:
                wait = self.policy.wait(attempt, None)
                if not self.policy.allows(attempt, started, wait):
                    raise
            else:
                if answer.status_code not in RETRY_STATUSES:
                    return answer
                wait = self.policy.wait(attempt, answer)
                if not self.policy.allows(attempt, started, wait):
                    return answer
                await answer.aread()
                await answer.aclose()
            await self.sleep(wait)
            attempt += 1

    async def aclose(self) -> None:
        await self.inner.aclose()

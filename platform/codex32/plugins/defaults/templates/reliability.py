"""Reliability of a bot's external calls: retries, a circuit breaker, a cache, the metrics.

One source for every template: the template generator copies this module's code into each
generated bot.py (a bot has no other module in the sandbox); in this folder, each template's
bot.py imports it. ``Calls`` makes one run's external calls:

- retries a call that failed for a passing reason (no connection, a timeout, HTTP 408, 425,
  429 or 5xx) until ``RETRY_ATTEMPTS`` tries in all, after an exponential backoff with
  jitter (``BACKOFF_SECONDS`` doubled each time, at most ``BACKOFF_MAX_SECONDS``, each delay
  drawn between its half and itself); any other HTTP answer fails at once;
- keeps a circuit breaker per host: ``BREAKER_FAILURES`` calls in a row that failed for good
  open it, and calls to that host then fail at once for ``BREAKER_COOLDOWN_SECONDS``; the
  next call is a trial (half-open) that closes it or opens it again;
- serves a repeated read (``cache=True``) from a cache for ``CACHE_SECONDS``;
- counts what happened, for the bot's result (:meth:`Calls.metrics`), and logs each retry
  through ``context.logger``.

The breakers and the cache live in the bot's process: they serve repeats within a run, and
across runs where the process is kept. The settings are ``Calls``' class attributes: a bot
(or a test) may change them.
"""

from __future__ import annotations

import random
import time
import urllib.error
import urllib.parse
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")
_BREAKERS: dict[str, Breaker] = {}
_CACHE: dict[str, tuple[float, Any]] = {}


class CallFailed(RuntimeError):
    """An external call failed for good; ``status`` is the HTTP status when there was one."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class CircuitOpen(CallFailed):
    """The host's circuit breaker is open: the call was not made."""


class Breaker:
    """One host's circuit breaker: ``closed``, ``open`` (calls fail at once) or ``half-open``
    (the cooldown is over: one trial call decides)."""

    def __init__(self, failures: int, cooldown: float) -> None:
        self.threshold, self.cooldown = failures, cooldown
        self.failures = 0
        self.opened_at: float | None = None

    def state(self, now: float) -> str:
        """``closed``, ``open`` or ``half-open`` at ``now``."""
        if self.opened_at is None:
            return "closed"
        return "open" if now - self.opened_at < self.cooldown else "half-open"

    def succeeded(self) -> None:
        """A call went through: close."""
        self.failures, self.opened_at = 0, None

    def failed(self, now: float) -> None:
        """A call failed for good: open after enough in a row, or after a failed trial."""
        self.failures += 1
        if self.failures >= self.threshold or self.opened_at is not None:
            self.opened_at = now


class Calls:
    """One run's external calls, each through the cache, its host's breaker and retries."""

    RETRY_ATTEMPTS = 3  # tries of one call in all, the first included
    BACKOFF_SECONDS = 0.5  # the longest wait before the first retry; doubled for each next one
    BACKOFF_MAX_SECONDS = 8.0
    BREAKER_FAILURES = 3  # calls to a host in a row that failed for good open its breaker
    BREAKER_COOLDOWN_SECONDS = 60.0
    CACHE_SECONDS = 300.0
    RETRYABLE_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
    sleep = staticmethod(time.sleep)  # tests replace both, and so never wait
    clock = staticmethod(time.monotonic)

    def __init__(self, context: Any) -> None:
        self.log = context.logger
        self.started = self.clock()
        self.hosts: set[str] = set()
        self.counts = {"calls": 0, "attempts": 0, "retries": 0, "failures": 0,
                       "cache_hits": 0, "short_circuits": 0}
        self.call_ms = 0.0

    def call(self, what: str, url: str, request: Callable[[], T], *, cache: bool = False) -> T:
        """``request()``'s value, retried as the module says; ``what`` names it in messages.

        Raises :class:`CallFailed` (or :class:`CircuitOpen`) when the call fails for good;
        an error that is not a failure to reach the host (a ValueError...) passes unchanged.
        """
        if cache:
            hit = _CACHE.get(url)
            if hit is not None and self.clock() - hit[0] < self.CACHE_SECONDS:
                self.counts["cache_hits"] += 1
                return hit[1]
        host = urllib.parse.urlsplit(url).netloc or url
        self.hosts.add(host)
        breaker = _BREAKERS.setdefault(host, Breaker(self.BREAKER_FAILURES,
                                                     self.BREAKER_COOLDOWN_SECONDS))
        if breaker.state(self.clock()) == "open":
            self.counts["short_circuits"] += 1
            raise CircuitOpen(f"{what}: not tried, the circuit breaker of {host} is open "
                              f"({breaker.failures} failures in a row; it lets a call through "
                              f"{breaker.cooldown:g} s after the last)")
        self.counts["calls"] += 1
        jitter = random.SystemRandom()
        attempt = 0
        while True:
            attempt += 1
            self.counts["attempts"] += 1
            started = self.clock()
            try:
                value = request()
            except OSError as error:  # urllib's errors, timeouts, refused connections
                self.call_ms += (self.clock() - started) * 1000
                failure = error
            else:
                self.call_ms += (self.clock() - started) * 1000
                breaker.succeeded()
                if cache:
                    _CACHE[url] = (self.clock(), value)
                return value
            status = failure.code if isinstance(failure, urllib.error.HTTPError) else None
            reason = f"HTTP {status}" if status else (
                str(getattr(failure, "reason", "") or failure) or type(failure).__name__)
            passing = status is None or status in self.RETRYABLE_STATUSES
            if not passing or attempt == self.RETRY_ATTEMPTS:
                self.counts["failures"] += 1
                if passing:
                    breaker.failed(self.clock())
                tries = f" after {attempt} attempts" if passing else " (not retried)"
                raise CallFailed(f"{what} failed{tries}: {reason}", status) from failure
            delay = min(self.BACKOFF_MAX_SECONDS, self.BACKOFF_SECONDS * 2 ** (attempt - 1))
            delay = jitter.uniform(delay / 2, delay)
            self.log.warning("%s: attempt %d of %d failed (%s); retrying in %.2f s",
                             what, attempt, self.RETRY_ATTEMPTS, reason, delay)
            self.counts["retries"] += 1
            self.sleep(delay)

    @staticmethod
    def reset() -> None:
        """Forget every breaker and cached answer of this process (a test's fresh start)."""
        _BREAKERS.clear()
        _CACHE.clear()

    def metrics(self) -> dict[str, Any]:
        """What this run's calls did: counts, time spent calling and in all, breaker states."""
        now = self.clock()
        return {**self.counts, "call_ms": round(self.call_ms, 1),
                "run_ms": round((now - self.started) * 1000, 1),
                "breakers": {host: _BREAKERS[host].state(now) for host in sorted(self.hosts)}}

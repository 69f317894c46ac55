"""Fixed-window rate limits, shared through Redis when configured, in-process otherwise.

One limiter serves API limits per principal and login throttling. Redis failures never fail a
request: the limiter falls back to its in-process windows, warns when Redis starts failing,
and ``/health`` shows Redis failing until a call succeeds again (:meth:`RateLimiter.redis_failed`,
which the gateway's cooldown store reports to as well). After a failure Redis is left alone
for :data:`RETRY_SECONDS` (:attr:`RateLimiter.redis_usable`): a Redis that hangs costs its
socket timeout once, not on every count of every request.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

log = logging.getLogger(__name__)

RETRY_SECONDS = 5.0  # after a failed call, how long Redis is not asked again


@dataclass(frozen=True)
class Hit:
    """One count against one limit: ``amount`` more of ``key`` in its ``window``."""

    key: str
    limit: int
    window: float
    amount: int = 1


@dataclass(frozen=True)
class Counted:
    """What :meth:`RateLimiter.hit_in_order` counted, and the values of the keys it read
    (``read`` is None when it did not read them: counted in-process)."""

    decisions: list[Decision]
    read: list[bytes | None] | None


@dataclass(frozen=True)
class Decision:
    """The outcome of one hit against a limit."""

    allowed: bool
    limit: int
    remaining: int
    reset_after: float

    @property
    def headers(self) -> dict[str, str]:
        """IETF RateLimit headers (and Retry-After when refused)."""
        reset = str(max(1, int(self.reset_after + 0.999)))
        headers = {"RateLimit-Limit": str(self.limit),
                   "RateLimit-Remaining": str(max(0, self.remaining)),
                   "RateLimit-Reset": reset}
        if not self.allowed:
            headers["Retry-After"] = reset
        return headers


class MemoryWindows:
    """Per-process counters keyed by key, each with the window it counts in."""

    MAX_KEYS = 100_000  # past this many, the windows that have ended are dropped

    def __init__(self) -> None:
        # key -> (window start, window end, count)
        self._counts: dict[str, tuple[float, float, int]] = {}
        self._lock = threading.Lock()

    def incr(self, key: str, window: float, now: float, amount: int = 1) -> tuple[int, float]:
        start = now - (now % window)
        with self._lock:
            self._prune(now)
            seen_start, _, count = self._counts.get(key, (start, start + window, 0))
            if seen_start != start:
                count = 0
            count += amount
            self._counts[key] = (start, start + window, count)
        return count, start + window - now

    def incr_in_order(self, hits: Sequence[Hit], now: float) -> list[tuple[int, float]]:
        """:meth:`incr` of every hit, all or nothing: the counts each would reach, up to the
        first past its limit (then nothing is counted)."""
        counted: list[tuple[int, float]] = []
        with self._lock:
            self._prune(now)
            for hit in hits:
                start = now - (now % hit.window)
                seen_start, _, count = self._counts.get(hit.key, (start, 0.0, 0))
                counted.append((hit.amount + (count if seen_start == start else 0),
                                start + hit.window - now))
                if counted[-1][0] > hit.limit:
                    return counted
            for hit, (count, _) in zip(hits, counted, strict=True):
                start = now - (now % hit.window)
                self._counts[hit.key] = (start, start + hit.window, count)
        return counted

    def _prune(self, now: float) -> None:
        if len(self._counts) > self.MAX_KEYS:
            # Each key by its own window's end: a short window's hit must never drop a long
            # window still counting (a sign-in throttle, say).
            self._counts = {k: v for k, v in self._counts.items() if v[1] > now}

    def reset(self, key: str) -> None:
        with self._lock:
            self._counts.pop(key, None)


# Counts several windows all or nothing: each counter's count with its amount added, in
# order, up to the first past its limit; only when none is, every amount is added. ARGV[1]:
# how many of KEYS are counters; then three values per counter (limit, amount, seconds to
# keep it). The rest of KEYS are read (GET).
_COUNT_IN_ORDER = """
local counters = tonumber(ARGV[1])
local counts = {}
local refused = false
for i = 1, counters do
  counts[i] = tonumber(redis.call('GET', KEYS[i]) or '0') + tonumber(ARGV[3 * i])
  if counts[i] > tonumber(ARGV[3 * i - 1]) then
    refused = true
    break
  end
end
if not refused then
  for i = 1, counters do
    redis.call('INCRBY', KEYS[i], ARGV[3 * i])
    redis.call('EXPIRE', KEYS[i], ARGV[3 * i + 1])
  end
end
local read = {}
for i = counters + 1, #KEYS do
  read[i - counters] = redis.call('GET', KEYS[i])
end
return {counts, read}
"""


class RedisWindows:
    """Counters in Redis: INCR plus EXPIRE in one round trip, or several counters in one."""

    def __init__(self, client) -> None:
        self._client = client
        self._count_in_order = client.register_script(_COUNT_IN_ORDER)

    def incr(self, key: str, window: float, now: float, amount: int = 1) -> tuple[int, float]:
        start = int(now - (now % window))
        name = self._name(key, window, now)
        pipe = self._client.pipeline(transaction=True)
        pipe.incr(name, amount)
        pipe.expire(name, int(window) + 1)
        count, _ = pipe.execute()
        return int(count), start + window - now

    def incr_in_order(self, hits: Sequence[Hit], now: float, read: Sequence[str] = ()
                      ) -> tuple[list[tuple[int, float]], list[bytes | None]]:
        """:meth:`MemoryWindows.incr_in_order` in Redis, and the values of the ``read`` keys:
        one round trip (a Lua script, so no other client's count falls between them)."""
        names = [self._name(hit.key, hit.window, now) for hit in hits]
        values = [value for hit in hits
                  for value in (hit.limit, hit.amount, int(hit.window) + 1)]
        counts, found = self._count_in_order(keys=[*names, *read], args=[len(hits), *values])
        # A missing key is GET's false in Lua, which keeps its place and comes back as None.
        return ([(int(count), int(now - (now % hit.window)) + hit.window - now)
                 for count, hit in zip(counts, hits, strict=False)], found)

    def reset(self, key: str, window: float, now: float) -> None:
        # The one counter of the current window: no scan (a key may hold glob characters,
        # an email's local part may, and must never match another key's counters).
        self._client.delete(self._name(key, window, now))

    @staticmethod
    def _name(key: str, window: float, now: float) -> str:
        return f"codex32:rl:{key}:{int(now - (now % window))}"


class RateLimiter:
    """Counts hits per key per window, in Redis when available."""

    def __init__(self, redis_url: str | None = None, *, workers: int = 1) -> None:
        self._memory = MemoryWindows()
        self._redis: RedisWindows | None = None
        # Where windows begin and end (seconds since the epoch); a test may stop it.
        self.clock: Callable[[], float] = time.time
        self.failing = False  # the last call to Redis failed
        self._retry_at = 0.0  # time.monotonic() before which Redis is not asked again
        self.backend = "memory"
        if redis_url:
            try:
                import redis  # only with REDIS_URL

                client = redis.Redis.from_url(redis_url, socket_timeout=0.5,
                                              socket_connect_timeout=0.5)
                client.ping()
                self._redis = RedisWindows(client)
                self.backend = "redis"
            except Exception as exc:  # the platform runs on without Redis
                log.warning("REDIS_URL is set but Redis is unreachable (%s); rate limits fall "
                            "back to per-process counters", type(exc).__name__)
        if self._redis is None and workers > 1:
            log.warning("rate limits are per process with %d workers: set REDIS_URL to share "
                        "them", workers)

    @property
    def redis_client(self):
        """The Redis client the limiter counts in, or None (other shared state may use it)."""
        return self._redis._client if self._redis is not None else None

    @property
    def redis_usable(self) -> bool:
        """Whether to ask Redis now: one is configured and reachable at start, and no call
        failed in the last :data:`RETRY_SECONDS`."""
        return self._redis is not None and time.monotonic() >= self._retry_at

    def hit(self, key: str, limit: int, window: float, amount: int = 1) -> Decision:
        """Count ``amount`` hits (tokens, say); ``allowed`` is False once more than ``limit``
        fell in this window."""
        now = self.clock()
        return _decision(limit, *self._incr(key, window, now, amount))

    def hit_in_order(self, hits: Sequence[Hit], read: Sequence[str] = ()) -> Counted:
        """:meth:`hit` each of ``hits``, all or nothing: the decisions up to the first refused
        (the last returned), and then none is counted. A request one limit refuses uses up
        no other, nor its own (one oversized request would otherwise refuse every other
        for the rest of the window). In Redis, one round trip for all of them, which also
        reads the ``read`` keys (other state the caller keeps there, e.g. the gateway's
        cooldowns)."""
        now = self.clock()
        if self._redis is not None and self.redis_usable:
            try:
                counted, found = self._redis.incr_in_order(hits, now, read)
            except Exception as exc:
                self.redis_failed(exc, "rate limits count in-process")
            else:
                self.redis_answered()
                return Counted([_decision(hit.limit, *count)
                                for hit, count in zip(hits, counted, strict=False)], found)
        return Counted([_decision(hit.limit, *count) for hit, count in
                        zip(hits, self._memory.incr_in_order(hits, now), strict=False)], None)

    def reset(self, key: str, window: float) -> None:
        """Forget the hits of ``key`` in its current ``window`` (a successful login clears its
        failures)."""
        if self._redis is not None and self.redis_usable:
            try:
                self._redis.reset(key, window, self.clock())
            except Exception:
                log.debug("redis reset failed", exc_info=True)
        self._memory.reset(key)

    def redis_failed(self, exc: BaseException, fallback: str) -> None:
        """Note a failed Redis call and what stood in for it: a warning when Redis starts
        failing, and ``failing`` (shown by ``/health``) until a call succeeds."""
        if not self.failing:
            log.warning("Redis failed (%s); %s until it answers again", type(exc).__name__,
                        fallback)
        self.failing = True
        self._retry_at = time.monotonic() + RETRY_SECONDS

    def redis_answered(self) -> None:
        """Note a successful Redis call (ends a failing spell)."""
        if self.failing:
            log.info("Redis answers again")
            self.failing = False

    def _incr(self, key: str, window: float, now: float, amount: int = 1
              ) -> tuple[int, float]:
        if self._redis is not None and self.redis_usable:
            try:
                counted = self._redis.incr(key, window, now, amount)
            except Exception as exc:
                self.redis_failed(exc, "rate limits count in-process")
            else:
                self.redis_answered()
                return counted
        return self._memory.incr(key, window, now, amount)


def _decision(limit: int, count: int, reset_after: float) -> Decision:
    """The decision on a window that holds ``count`` against ``limit``."""
    return Decision(allowed=count <= limit, limit=limit, remaining=limit - count,
                    reset_after=reset_after)

"""What the gateway shares in one process: the rate limiter (Redis when configured) and the
defaults of its policies. The app factory and the worker call :func:`configure` at start-up;
without it the gateway counts rate limits per process and keeps cooldowns in the database.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from codex32.ratelimit import RateLimiter
from codex32.services.gateway import cooldown, prices, tokens
from codex32.services.gateway.retry import RetryPolicy


@dataclass
class GatewaySetup:
    """The gateway's per-process parts."""

    limiter: RateLimiter = field(default_factory=RateLimiter)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    deadline_seconds: float = 120.0


_setup = GatewaySetup()


def configure(limiter: RateLimiter | None = None, *, retry: RetryPolicy | None = None,
              deadline_seconds: float | None = None) -> GatewaySetup:
    """Install the process's limiter (its Redis, when it has one, also holds cooldowns)."""
    global _setup
    _setup = GatewaySetup(limiter=limiter or RateLimiter(), retry=retry or RetryPolicy(),
                          deadline_seconds=deadline_seconds or GatewaySetup.deadline_seconds)
    cooldown.use_redis(_setup.limiter.redis_client)
    # The tokenizer and the price table take about a second to load: off the request path.
    threading.Thread(target=_warm, name="codex32-gateway-warm", daemon=True).start()
    return _setup


def _warm() -> None:
    tokens.warm()
    prices.warm()


def current() -> GatewaySetup:
    """The process's gateway parts."""
    return _setup

"""What the gateway takes from the process: its runtime's rate limiter (whose Redis, when
configured, also holds cooldowns) and the defaults of its policies. Nothing is configured
here: the bootstrap builds the limiter with the runtime and warms the tables at start.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from codex32 import runtime
from codex32.ratelimit import RateLimiter
from codex32.services.gateway import prices, tokens
from codex32.services.gateway.retry import RetryPolicy

DEADLINE_SECONDS = 120.0


@dataclass(frozen=True)
class GatewaySetup:
    """The gateway's per-process parts."""

    limiter: RateLimiter
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    deadline_seconds: float = DEADLINE_SECONDS


def current() -> GatewaySetup:
    """The current runtime's gateway parts."""
    return GatewaySetup(limiter=runtime.current().limiter)


def warm_in_background() -> None:
    """Load the tokenizer and the price table (about a second) off the request path."""
    threading.Thread(target=_warm, name="codex32-gateway-warm", daemon=True).start()


def _warm() -> None:
    tokens.warm()
    prices.warm()

"""Admission of one gateway request before its provider call: its rate limits counted, and
which of its deployments are awake (not resting after failures).

With Redis both are one round trip: the rate limits' Lua script reads the cooldowns' keys too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from codex32.db import driver
from codex32.ratelimit import RateLimiter
from codex32.services.gateway import cooldown, ratelimits
from codex32.services.gateway.calls import Caller, Deployment


@dataclass(frozen=True)
class Admitted:
    """The ``x-ratelimit-*`` headers to answer with, and the deployments to try in order."""

    headers: dict[str, str]
    awake: list[Deployment]


def admit(limiter: RateLimiter, session: Session, workspace_id: str, caller: Caller,
          tokens: int, llm_settings: dict[str, Any], deployments: list[Deployment],
          read: driver.Rows | None = None) -> Admitted:
    """Count a request of ``tokens`` against the workspace's and the key's limits
    (:class:`~codex32.services.gateway.ratelimits.GatewayRateLimited` past one), then skip the
    deployments at rest; when all of them rest, all are tried (the last resort). ``read``:
    the rows of ``cooldown.DatabaseStore.RESTING``, when the caller read them already."""
    store = cooldown.store()
    asked = store.keys(workspace_id, deployments)
    hits = ratelimits.hits(workspace_id, caller, tokens, llm_settings)
    counted = limiter.hit_in_order(hits, read=asked)
    headers = ratelimits.decide(hits, counted.decisions)
    resting = store.resting(session, workspace_id, deployments, read, values=counted.read)
    return Admitted(headers, [d for d in deployments if d not in resting] or deployments)

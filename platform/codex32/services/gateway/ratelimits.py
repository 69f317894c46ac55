"""Rate limits of the gateway per workspace and per API key: requests and tokens per minute,
counted in Redis when REDIS_URL is set (shared by every process), else per process.

Limits come from ``settings.llm.rate_limits`` (``requests_per_minute``,
``tokens_per_minute`` for the workspace; ``per_key`` the same for each API key). A request is
charged its prompt tokens plus its ``max_tokens`` when it starts. Every answer carries
OpenAI-style ``x-ratelimit-*`` headers; a refusal is a 429 with them and Retry-After.
"""

from __future__ import annotations

from typing import Any, TypeVar

from codex32.errors import DomainError, RateLimited
from codex32.ratelimit import Decision, Hit
from codex32.services.gateway.calls import Caller

WINDOW = 60.0
E = TypeVar("E", bound=BaseException)


class GatewayRateLimited(RateLimited):
    """The workspace's or the key's requests or tokens per minute are used up (429)."""


def _limits(found: Any) -> dict[str, int]:
    found = found if isinstance(found, dict) else {}
    return {name: int(found[name]) for name in ("requests_per_minute", "tokens_per_minute")
            if isinstance(found.get(name), int) and found[name] > 0}


def _unit(hit: Hit) -> str:
    return hit.key.rsplit(":", 1)[1]


def hits(workspace_id: str, caller: Caller, tokens: int, llm_settings: dict[str, Any]
         ) -> list[Hit]:
    """The counts one request of ``tokens`` makes, in the order they are counted."""
    configured = llm_settings.get("rate_limits") or {}
    # The key's limits first, and nothing counted past the first refusal: a request its key
    # may not make must not use up the workspace's limit (one key starving the others).
    scopes = [(f"llm:ws:{workspace_id}", _limits(configured))]
    if caller.api_key_id is not None:
        scopes.insert(0, (f"llm:key:{caller.api_key_id}", _limits(configured.get("per_key"))))
    return [Hit(f"{prefix}:{unit}", limits[name], WINDOW, amount)
            for prefix, limits in scopes
            for name, unit, amount in (("requests_per_minute", "requests", 1),
                                       ("tokens_per_minute", "tokens", tokens))
            if name in limits]


def decide(counted: list[Hit], decisions: list[Decision]) -> dict[str, str]:
    """The ``x-ratelimit-*`` headers of the tightest limit counted, or
    :class:`GatewayRateLimited` carrying them (``decisions``: RateLimiter.hit_in_order's)."""
    tightest: dict[str, Decision] = {}
    for hit, decision in zip(counted, decisions, strict=False):
        unit = _unit(hit)
        if unit not in tightest or decision.remaining < tightest[unit].remaining:
            tightest[unit] = decision
    headers = headers_for(tightest)
    if decisions and not decisions[-1].allowed:  # the last counted is the one refused
        refused, hit = decisions[-1], counted[len(decisions) - 1]
        whose = "key" if hit.key.startswith("llm:key:") else "workspace"
        error = GatewayRateLimited(
            f"rate limit reached: {refused.limit} {_unit(hit)} per minute for this {whose}",
            refused.reset_after)
        error.headers.update(headers)
        raise error
    return headers


def carrying(error: E, headers: dict[str, str]) -> E:
    """``error`` (the API error of a request counted against the limits: its budget refused
    it, no deployment answered) with the ``x-ratelimit-*`` ``headers`` its count gave, as
    every counted answer carries them; its own headers (``Retry-After``) kept."""
    if isinstance(error, DomainError):
        error.headers = {**headers, **error.headers}
    return error


def headers_for(decisions: dict[str, Decision]) -> dict[str, str]:
    """OpenAI's header names: ``x-ratelimit-{limit,remaining,reset}-{requests,tokens}``."""
    headers = {}
    for unit, decision in decisions.items():
        headers[f"x-ratelimit-limit-{unit}"] = str(decision.limit)
        headers[f"x-ratelimit-remaining-{unit}"] = str(max(0, decision.remaining))
        headers[f"x-ratelimit-reset-{unit}"] = f"{max(0.0, decision.reset_after):.0f}s"
    return headers

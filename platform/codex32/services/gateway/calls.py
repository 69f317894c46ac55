"""The values that cross the gateway's boundary: who calls, what answered, every attempt.

No database and no provider calls here: plain data the router, the ledger and the API share.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from codex32.plugins.interfaces import ToolCall, Usage

PURPOSES = ("builder", "search", "bot", "gateway", "test")
MAX_MODEL_NAME = 200  # characters of a model name the ledger keeps (llm_usage.model and
# requested_model): what a provider reports is cut to it, a longer request refused (422)
MAX_TOKEN_COUNT = 2**31 - 1  # a token count the ledger keeps (its integer columns)


def reported_model(model: str | None, fallback: str) -> str:
    """The model a provider said answered, as the gateway records and caches it: without
    U+0000 (PostgreSQL's text refuses it), half a UTF-16 pair as "?" (it has no UTF-8 form)
    and at most ``MAX_MODEL_NAME`` characters; ``fallback`` when it said none. A workspace's
    ``base_url`` may name any server: a name it makes up must not fail the records of a
    call that was paid for."""
    name = (model or "").replace("\x00", "")[:MAX_MODEL_NAME]
    name = name.encode("utf-8", "replace").decode()
    return name or fallback


def stored_section(llm_settings: dict[str, Any], name: str) -> dict[str, Any]:
    """``settings.llm[name]`` as stored, or empty when it is not an object."""
    found = llm_settings.get(name)
    return found if isinstance(found, dict) else {}


def stored_number(section: dict[str, Any], name: str, default: float, lowest: float,
                  highest: float) -> float:
    """A number of a stored settings section, ``default`` unless it is one within the bounds
    the API accepts: a row saved before a validation existed must not crash every request."""
    value = section.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float) \
            or not lowest <= value <= highest:
        return default
    return value


_SURROGATE = re.compile("[\ud800-\udfff]")


def reported_text(text: str) -> str:
    """An answer's text with half a UTF-16 pair (an upstream's lone "\\ud800") as U+FFFD:
    such a character has no UTF-8 form, so no JSON answer could carry the text."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return _SURROGATE.sub("\ufffd", text)
    return text


def reported_usage(usage: Usage) -> Usage:
    """A provider's token counts within ``0..MAX_TOKEN_COUNT`` each (see
    :func:`reported_model`)."""
    counts = (usage.input_tokens, usage.output_tokens, usage.cached_input_tokens,
              usage.reasoning_tokens)
    if all(0 <= count <= MAX_TOKEN_COUNT for count in counts):
        return usage
    bounded = [min(max(int(count), 0), MAX_TOKEN_COUNT) for count in counts]
    return Usage(input_tokens=bounded[0], output_tokens=bounded[1],
                 cached_input_tokens=bounded[2], reasoning_tokens=bounded[3])


@dataclass(frozen=True)
class Caller:
    """Who a call is made for, as the ledger records it. Every field is optional."""

    user_id: uuid.UUID | None = None
    api_key_id: uuid.UUID | None = None
    bot_id: uuid.UUID | None = None
    execution_id: uuid.UUID | None = None
    conversation_id: str | None = None


@dataclass(frozen=True)
class Deployment:
    """One (provider, model) of a workspace's chain; ``model`` None means the provider's
    configured default model."""

    provider: str
    model: str | None = None

    @property
    def label(self) -> str:
        return f"{self.provider}/{self.model or 'default'}"


@dataclass(frozen=True)
class Attempt:
    """One failed attempt: which deployment, what kind of failure, the upstream status."""

    provider: str
    model: str | None
    kind: str
    status: int | None = None
    latency_ms: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {"provider": self.provider, "model": self.model, "error": self.kind,
                "status": self.status, "latency_ms": self.latency_ms}


@dataclass
class GatewayResult:
    """A chat answered through the gateway: the text, who answered, usage, exact cost."""

    text: str
    provider: str
    model: str
    usage: Usage = field(default_factory=Usage)
    cost_usd: Decimal | None = None
    finish_reason: str | None = None
    cache_hit: bool = False
    attempts: list[Attempt] = field(default_factory=list)
    usage_id: uuid.UUID | None = None
    latency_ms: int = 0
    headers: dict[str, str] = field(default_factory=dict)  # x-ratelimit-* for HTTP answers
    tool_calls: tuple[ToolCall, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """The platform's own response shape (``POST /api/v1/llm/chat``)."""
        return {
            "text": self.text, "provider": self.provider, "model": self.model,
            "tool_calls": calls_dicts(self.tool_calls),
            "finish_reason": self.finish_reason, "cache_hit": self.cache_hit,
            "usage": usage_dict(self.usage),
            "cost_usd": money_text(self.cost_usd),
            "attempts": [a.as_dict() for a in self.attempts],
            "usage_id": str(self.usage_id) if self.usage_id else None,
            "latency_ms": self.latency_ms,
        }


@dataclass
class GatewayEmbedding:
    """Texts embedded through the gateway: the vectors, who answered, usage, exact cost."""

    vectors: list[list[float]]
    provider: str
    model: str
    usage: Usage = field(default_factory=Usage)
    cost_usd: Decimal | None = None
    usage_id: uuid.UUID | None = None
    cache_hit: bool = False  # every vector came from the cache
    attempts: list[Attempt] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)  # x-ratelimit-* for HTTP answers


def money_text(value: Decimal | None) -> str | None:
    """A cost as exact text without trailing zeros ("2", "0.0015", "0"), never in exponent
    form (a sum of NUMERIC(20, 10) zeros is ``0E-10`` to ``str``)."""
    if value is None:
        return None
    return f"{value.normalize():f}"


def reported_calls(calls: tuple[ToolCall, ...]) -> tuple[ToolCall, ...]:
    """A provider's tool calls with their texts as :func:`reported_text` leaves them."""
    return tuple(ToolCall(id=reported_text(c.id), name=reported_text(c.name),
                          arguments=reported_text(c.arguments)) for c in calls)


def calls_dicts(calls: tuple[ToolCall, ...]) -> list[dict[str, str]]:
    """Tool calls as the platform shows and caches them."""
    return [{"id": c.id, "name": c.name, "arguments": c.arguments} for c in calls]


def calls_of(found: Any) -> tuple[ToolCall, ...]:
    """The tool calls of :func:`calls_dicts` (a cached answer's; none when not a list)."""
    return tuple(ToolCall(id=str(c.get("id", "")), name=str(c.get("name", "")),
                          arguments=str(c.get("arguments", "{}")))
                 for c in (found if isinstance(found, list) else []) if isinstance(c, dict))


def usage_dict(usage: Usage) -> dict[str, int]:
    """Token counts as the API shows them."""
    return {"input_tokens": usage.input_tokens, "cached_input_tokens": usage.cached_input_tokens,
            "output_tokens": usage.output_tokens, "reasoning_tokens": usage.reasoning_tokens,
            "total_tokens": usage.total_tokens}


def within(deadline_seconds: float | None, most: float) -> float:
    """A caller's deadline in seconds within the gateway's ``most``: None takes ``most``,
    0 is no time at all (never "no deadline")."""
    return most if deadline_seconds is None else min(deadline_seconds, most)

"""The usage ledger: one ``llm_usage`` row per gateway request, the Prometheus series, and
the usage report (``GET /api/v1/usage``).

A row names the purpose, the caller, the provider and model that answered, the attempts that
failed before it, the tokens as the provider reported them, and the cost as an exact decimal
(NULL when the price is unknown). Metrics carry provider, model and status only: never a
workspace or a user.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from codex32.db import rows
from codex32.db.gateway_models import LLMUsage
from codex32.errors import Invalid
from codex32.observability.metrics import (
    LLM_COST,
    LLM_FALLBACKS,
    LLM_LATENCY,
    LLM_REQUESTS,
    LLM_TOKENS,
)
from codex32.plugins.interfaces import Usage
from codex32.services.gateway.calls import Attempt, Caller, money_text

GROUPS = {
    # UTC days, whatever the database session's timezone (a managed server's default may
    # be another): the time in UTC, then truncated.
    "day": func.date_trunc("day", func.timezone("UTC", LLMUsage.created_at)),
    "model": LLMUsage.model,
    "provider": LLMUsage.provider,
    "purpose": LLMUsage.purpose,
    "user": LLMUsage.user_id,
    "bot": LLMUsage.bot_id,
    "api_key": LLMUsage.api_key_id,
}

# The statuses that are not failures: answered, still being answered or recorded, and
# settled by the sweep at the reserved maximum (most likely answered; never recorded).
NOT_FAILED = ("ok", "pending", "unsettled")
# The report's integer totals of a group, in its answer.
COUNTS = ("requests", "input_tokens", "cached_input_tokens", "output_tokens",
          "reasoning_tokens", "unpriced_requests", "cache_hits", "failed_requests",
          "pending_requests", "unsettled_requests")


def record(session: Session, workspace_id: uuid.UUID | str, *, kind: str, purpose: str,
           caller: Caller, provider: str | None, model: str | None,
           requested_model: str | None, usage: Usage, cost: Decimal | None, status: str,
           latency_ms: int, attempts: list[Attempt], cache_hit: bool = False,
           error: str | None = None) -> uuid.UUID:
    """Insert the request's ledger row in the caller's transaction and count its metrics."""
    row = entry(workspace_id, kind=kind, purpose=purpose, caller=caller, provider=provider,
                model=model, requested_model=requested_model, usage=usage, cost=cost,
                status=status, latency_ms=latency_ms, attempts=attempts, cache_hit=cache_hit,
                error=error)
    rows.insert(session, row)
    counted(row)
    return row.id


def entry(workspace_id: uuid.UUID | str, *, kind: str, purpose: str, caller: Caller,
          provider: str | None, model: str | None, requested_model: str | None, usage: Usage,
          cost: Decimal | None, status: str, latency_ms: int, attempts: list[Attempt],
          cache_hit: bool = False, error: str | None = None,
          usage_id: uuid.UUID | None = None) -> LLMUsage:
    """The ledger row of a request, to write with ``rows.insert`` or in a batch of the step's
    statements (then :func:`counted` once it is written). ``usage_id``: the id of the row
    written already (a chat's pending row, a hit's), else a new one."""
    return LLMUsage(
        workspace_id=uuid.UUID(str(workspace_id)), id=usage_id or uuid.uuid4(), kind=kind,
        purpose=purpose,
        provider=provider, model=model, requested_model=requested_model,
        user_id=caller.user_id, api_key_id=caller.api_key_id, bot_id=caller.bot_id,
        execution_id=caller.execution_id, conversation_id=caller.conversation_id,
        input_tokens=usage.input_tokens, cached_input_tokens=usage.cached_input_tokens,
        output_tokens=usage.output_tokens, reasoning_tokens=usage.reasoning_tokens,
        latency_ms=latency_ms, status=status, error=error, cache_hit=cache_hit, cost_usd=cost,
        attempts=[a.as_dict() for a in attempts])


# A model label is a name a tenant asked for or an upstream claimed: past this many
# (provider, model) pairs in a process, a new one is counted as "other", so made-up names
# cannot grow every process's series (and each scrape) without bound.
MAX_MODEL_LABELS = 1000
_labelled: set[tuple[str, str]] = set()


def _model_label(provider: str, model: str) -> str:
    if (provider, model) not in _labelled:
        if len(_labelled) >= MAX_MODEL_LABELS:
            return "other"
        _labelled.add((provider, model))
    return model


def counted(row: LLMUsage) -> None:
    """Prometheus series for a written ledger row (no workspace or user labels)."""
    provider = row.provider or "none"
    model = _model_label(provider, row.model or "none")
    LLM_REQUESTS.labels(provider=provider, model=model, status=row.status).inc()
    for attempt in row.attempts:
        LLM_FALLBACKS.labels(provider=attempt["provider"],
                             model=_model_label(attempt["provider"],
                                                attempt["model"] or "default"),
                             error=attempt["error"]).inc()
    if row.cache_hit:
        return
    LLM_LATENCY.labels(provider=provider, model=model).observe(row.latency_ms / 1000)
    for direction, tokens in (("input", row.input_tokens), ("output", row.output_tokens),
                              ("cached_input", row.cached_input_tokens),
                              ("reasoning", row.reasoning_tokens)):
        if tokens:
            LLM_TOKENS.labels(provider=provider, model=model, direction=direction).inc(tokens)
    if row.cost_usd:
        LLM_COST.labels(provider=provider, model=model).inc(float(row.cost_usd))


def report(session: Session, start: datetime | None, end: datetime | None,
           group_by: list[str]) -> dict[str, Any]:
    """Totals of the bound workspace's ledger between ``start`` and ``end``, grouped.

    ``cost_usd`` sums known costs. Each row counts in ``requests`` and, by status, in at most
    one of ``failed_requests`` (``error``, ``timeout``, ``cancelled``),
    ``pending_requests`` (still being answered or recorded: cost not known yet) and
    ``unsettled_requests`` (``unsettled``: its process ended before the answer was recorded,
    so the provider most likely answered; charged its reserved maximum, not a failure).
    ``unpriced_requests`` counts the rows but pending ones whose cost is unknown (NULL),
    failed and unsettled ones included: an unsettled row whose ``reserved_usd`` was NULL (no
    known price, so nothing was reserved) has a cost ``cost_usd`` leaves out; one charged
    its reserved amount is priced.
    """
    if start is not None and end is not None and _utc(start) > _utc(end):
        raise Invalid("from must not be after to",
                      errors={"query": {"from": ["must not be after to"]}})
    # A name given twice groups once (GraphQL's variables bound the list by nothing: 2000
    # "model" would be 2000 columns, past what the database takes).
    group_by = list(dict.fromkeys(group_by))
    unknown = sorted(set(group_by) - set(GROUPS))
    if unknown:
        raise Invalid(f"group_by takes {', '.join(GROUPS)}; not {', '.join(unknown)}",
                      errors={"query": {"group_by": [f"unknown: {', '.join(unknown)}"]}})
    keys: list[Any] = [GROUPS[name].label(name) for name in group_by]
    totals = [
        func.count().label("requests"),
        func.coalesce(func.sum(LLMUsage.input_tokens), 0).label("input_tokens"),
        func.coalesce(func.sum(LLMUsage.cached_input_tokens), 0).label("cached_input_tokens"),
        func.coalesce(func.sum(LLMUsage.output_tokens), 0).label("output_tokens"),
        func.coalesce(func.sum(LLMUsage.reasoning_tokens), 0).label("reasoning_tokens"),
        func.coalesce(func.sum(LLMUsage.cost_usd), 0).label("cost_usd"),
        func.count().filter(LLMUsage.cost_usd.is_(None), LLMUsage.status != "pending").label(
            "unpriced_requests"),
        func.count().filter(LLMUsage.cache_hit).label("cache_hits"),
        func.count().filter(LLMUsage.status.not_in(NOT_FAILED)).label("failed_requests"),
        func.count().filter(LLMUsage.status == "pending").label("pending_requests"),
        func.count().filter(LLMUsage.status == "unsettled").label("unsettled_requests"),
    ]
    query = select(*keys, *totals)
    # A bound naming no timezone is UTC, never the database session's timezone.
    if start is not None:
        query = query.where(LLMUsage.created_at >= _utc(start))
    if end is not None:
        query = query.where(LLMUsage.created_at < _utc(end))
    if keys:
        query = query.group_by(*keys).order_by(*keys)
    groups = []
    for row in session.execute(query).mappings():
        item = {name: _plain(row[name]) for name in group_by}
        item.update({name: row[name] for name in COUNTS})
        item["cost_usd"] = money_text(row["cost_usd"])
        groups.append(item)
    return {"from": start, "to": end, "group_by": group_by, "groups": groups}


def _utc(moment: datetime) -> datetime:
    """``moment`` with a time zone (UTC when it names none), to compare with another."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    return value

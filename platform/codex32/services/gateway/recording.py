"""A request's record over its pending ledger row: a prepared chat's answer written over the
pending one, the budget reservation settled and the answer cached (before the chat returns,
or after its HTTP response is sent when the caller defers it); an embedding's answer
(:func:`record`, from :mod:`.embeddings`); and the records of requests no deployment
answered (:func:`fail`, :func:`release`), chats' and embeddings' alike.

:class:`Prepared` is what :func:`.chat.prepare` hands on: the request with its route, limits
passed and budget reserved; chats (:mod:`.chat`) and streams (:mod:`.streaming`) both finish
here.
"""

from __future__ import annotations

import functools
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from codex32 import runtime
from codex32.db import driver, tenancy
from codex32.db.gateway_models import LLMUsage
from codex32.plugins.errors import TIMEOUT
from codex32.plugins.interfaces import ChatRequest, Usage
from codex32.runtime import background
from codex32.services.gateway import budgets, cache, ledger, notices, prices, records, routing
from codex32.services.gateway.calls import (
    Attempt,
    Caller,
    Deployment,
    GatewayResult,
    calls_dicts,
)
from codex32.services.gateway.router import RouteFailed

log = logging.getLogger(__name__)
# Takes the answer's record, to run once the answer is delivered (see :func:`.chat.chat`).
Defer = Callable[[Callable[[], None]], None]


@dataclass
class Pending:
    """A request whose ledger row is pending from its budget reservation on (a chat's, an
    embedding's): what its record, or its failure's, writes over that row."""

    workspace_id: str
    kind: str  # of the ledger row: chat or embedding
    purpose: str
    caller: Caller
    requested_model: str | None
    reservation: budgets.Reservation
    usage_id: uuid.UUID  # the request's ledger row: pending from the reservation on
    started: float


@dataclass
class PendingEmbedding(Pending):
    """An embedding past its reservation: what a timeout charges (:func:`_cut_short`)."""

    route: routing.EmbeddingRoute
    input_tokens: int  # the texts sent to the embedder, counted offline


@dataclass
class Prepared(Pending):
    """A chat ready for the router: its route, limits passed, budget reserved."""

    request: ChatRequest
    route: routing.Route
    deployments: list[Deployment]
    headers: dict[str, str]
    prompt_tokens: int
    deadline: float
    cache_key: bytes | None = None
    cache_policy: cache.CachePolicy = field(default_factory=cache.CachePolicy)
    hit: GatewayResult | None = None


def finish(session: Session, prepared: Prepared, result: GatewayResult, *, cacheable: bool,
           status: str = "ok", error: str | None = None, defer: Defer | None = None) -> None:
    """Price the answer and record it: its ledger row over the pending one, the budgets
    settled, the answer cached (one round trip with the commit), then notify budgets whose
    soft limit it crossed. ``defer``: hand the recording to it instead (see :func:`chat`):
    the row and the cache entry are built there too, off the answer's path."""
    instance = prepared.route.instances.get(result.provider)
    result.cost_usd = prices.cost(result.usage, result.provider, result.model,
                                  llm_settings=prepared.route.settings,
                                  is_language_model=getattr(instance, "is_language_model", True))
    result.latency_ms, result.usage_id = elapsed_ms(prepared), prepared.usage_id
    written = functools.partial(_written, prepared, result, cacheable=cacheable, status=status,
                                error=error)
    if defer is None:
        row, statements = written()
        record(session, prepared, row, statements, result.cost_usd)
        if statements:  # the answer was cached
            cache.after_store(prepared.workspace_id, prepared.cache_policy)
        return
    session.close()
    defer(functools.partial(_record_later, runtime.current(), prepared, written,
                            result.cost_usd))


def _written(prepared: Prepared, result: GatewayResult, *, cacheable: bool, status: str,
             error: str | None) -> tuple[LLMUsage, list[driver.Statement]]:
    """The answer's ledger row and the statements that cache the answer."""
    row = ledger_row(prepared, provider=result.provider, model=result.model,
                     usage=result.usage, cost=result.cost_usd, status=status,
                     attempts=result.attempts, error=error, latency_ms=result.latency_ms)
    statements: list[driver.Statement] = []
    if cacheable and status == "ok" and prepared.cache_key is not None:
        statements += cache.storing(
            prepared.workspace_id, prepared.cache_key,
            {"text": result.text, "provider": result.provider, "model": result.model,
             "finish_reason": result.finish_reason,
             **({"tool_calls": calls_dicts(result.tool_calls)} if result.tool_calls else {}),
             "usage": {"input_tokens": result.usage.input_tokens,
                       "output_tokens": result.usage.output_tokens,
                       "cached_input_tokens": result.usage.cached_input_tokens,
                       "reasoning_tokens": result.usage.reasoning_tokens}},
            prepared.cache_policy)
    return row, statements


def ledger_row(pending: Pending, *, provider: str | None, model: str | None, usage: Usage,
               cost: Decimal | None, status: str, attempts: list[Attempt],
               error: str | None, latency_ms: int | None = None) -> LLMUsage:
    """The request's ledger row, with the pending row's id (its latency until now unless
    ``latency_ms`` is given), marked ``settle_due`` when its reservation holds a budget: the
    settlement clears the mark, else the sweep settles it (records.sweep)."""
    row = ledger.entry(
        pending.workspace_id, kind=pending.kind, purpose=pending.purpose,
        caller=pending.caller, provider=provider, model=model,
        requested_model=pending.requested_model, usage=usage, cost=cost, status=status,
        latency_ms=elapsed_ms(pending) if latency_ms is None else latency_ms, attempts=attempts,
        error=error, usage_id=pending.usage_id)
    row.settle_due = bool(pending.reservation.budgets)
    return row


def record(session: Session, pending: Pending, row: LLMUsage,
           statements: list[driver.Statement], cost: Decimal | None, *,
           notify: Defer | None = None) -> None:
    """Write ``row`` over the pending one and ``statements`` (cache entries) committed
    durably, then the settlement in a transaction of its own (budgets.settlement_apart), in
    one round trip; then mark and notify the soft limits crossed (rare). ``notify``: hand
    the notices to it instead of sending them before returning (see :func:`_record_later`).
    A row the sweep settled first is left as it is, and not counted again in the metrics
    (the sweep counted it). A settlement that fails after the row committed leaves the row's
    ``settle_due`` (:func:`ledger_row`) for the sweep."""
    settlement = budgets.settlement_apart(pending.workspace_id, pending.reservation, cost,
                                          pending.usage_id)
    written = tenancy.execute_bound(
        session, pending.workspace_id,
        [records.replacing(row, returning=True), *statements, *settlement], commit=True)
    session.commit()
    # Soft limits crossed (rare) are marked in a transaction of their own.
    crossed = budgets.crossed(session, written[-1]) if settlement else []
    session.commit()
    session.close()
    if written[0][1]:
        ledger.counted(row)
    if not crossed:
        return
    if notify is None:
        notices.soft_limit_crossed(session, pending.workspace_id, crossed)
    else:
        notify(functools.partial(_notify_later, runtime.current(), pending.workspace_id,
                                 crossed))


def _record_later(owner: runtime.Runtime, prepared: Prepared,
                  written: Callable[[], tuple[LLMUsage, list[driver.Statement]]],
                  cost: Decimal | None) -> None:
    """:func:`record` in a session of its own, after the response was sent (outside the
    request's context), of the row and statements ``written`` builds. A failure is logged:
    the row stays pending for the sweep. Run on the process's background thread, shared by
    every workspace: the soft-limit notices, which wait for the workspace's notifiers, are
    sent on a lane of their own (background.NOTICES)."""
    with runtime.activated(owner), owner.sessions() as session:
        try:
            row, statements = written()
            with tenancy.bound(session, prepared.workspace_id):
                record(session, prepared, row, statements, cost,
                       notify=lambda work: background.run_later(work, background.NOTICES))
            if statements:  # the answer was cached
                cache.after_store(prepared.workspace_id, prepared.cache_policy)
        except Exception:
            log.exception("could not record an LLM call after its answer was sent; unless "
                          "its ledger row was written first, it stays pending until the "
                          "maintenance loop settles it",
                          extra={"workspace_id": prepared.workspace_id})


def _notify_later(owner: runtime.Runtime, workspace_id: str,
                  crossed: list[dict[str, Any]]) -> None:
    """Send the notices of soft limits crossed (marked already), in a session of its own."""
    with runtime.activated(owner), owner.sessions() as session, \
            tenancy.bound(session, workspace_id):
        notices.soft_limit_crossed(session, workspace_id, crossed)


def fail(session: Session, pending: Pending, failed: RouteFailed) -> None:
    """Record a request no deployment answered and settle its reservation: to nothing, or
    for a chat whose last attempt timed out, to its prompt (:func:`_cut_short`). Its status
    is ``timeout`` when the answer is a 504 (the deadline passed, or the last attempt timed
    out: :func:`.router.error_for`), else ``error``."""
    last = failed.attempts[-1] if failed.attempts else None
    usage, cost = _cut_short(pending, last)
    row = ledger_row(pending, provider=last.provider if last else None,
                     model=last.model if last else None, usage=usage, cost=cost,
                     status="timeout" if failed.deadline or (last is not None and last.kind
                                                             == TIMEOUT) else "error",
                     attempts=failed.attempts, error=last.kind if last else "deadline")
    if _replaced(session, row):
        budgets.settle(session, pending.reservation, cost, pending.usage_id)
    session.commit()
    session.close()
    ledger.counted(row)


def _cut_short(pending: Pending, last: Attempt | None) -> tuple[Usage, Decimal | None]:
    """What a failed request is charged: a chat or an embedding whose last attempt timed out
    (its deadline, or its provider's read timeout, cut it before the answer or the first
    piece of a stream) had its prompt or texts sent, which the provider may bill: their
    offline count as input tokens, priced at that deployment, as a stream cut after its
    first piece is charged (:func:`.tokens.filled`). Nothing for any other failure (refused,
    or never reached), nor at a free deployment (the offline provider, a local embedder)."""
    if last is None or last.kind != TIMEOUT:
        return Usage(), Decimal(0)
    if isinstance(pending, Prepared):
        paid = getattr(pending.route.instances.get(last.provider), "is_language_model", True)
        usage = Usage(input_tokens=pending.prompt_tokens)
    elif isinstance(pending, PendingEmbedding):
        paid = not getattr(pending.route.instances.get(last.provider), "costs_nothing", False)
        usage = Usage(input_tokens=pending.input_tokens)
    else:
        return Usage(), Decimal(0)
    if not paid:
        return Usage(), Decimal(0)
    return usage, prices.cost(usage, last.provider, last.model or "",
                              llm_settings=pending.route.settings, is_language_model=paid)


def release(session: Session, pending: Pending, error: BaseException | None = None) -> None:
    """Record the request as failed and give its reservation back after an unexpected
    failure (best effort: else the sweep settles its pending row)."""
    try:
        session.rollback()
        row = ledger_row(pending, provider=None, model=None, usage=Usage(), cost=Decimal(0),
                         status="error", attempts=[],
                         error=type(error).__name__ if error is not None else "unexpected")
        with tenancy.bound(session, pending.workspace_id):
            if _replaced(session, row):
                budgets.settle(session, pending.reservation, Decimal(0), pending.usage_id)
            session.commit()
    except Exception:
        log.warning("could not release a budget reservation", exc_info=True)
    finally:
        session.close()


def settle_stale(session: Session, workspace_id: str, before: datetime) -> int:
    """Settle the bound workspace's rows pending since before ``before`` at their reserved
    maximum (:func:`.records.sweep`), committed; then mark and notify the soft limits those
    charges crossed, as an answer's record does. How many rows were settled."""
    swept, charged = records.sweep(session, before)
    crossed = budgets.crossed(session, charged) if charged[1] else []
    session.commit()
    if crossed:
        notices.soft_limit_crossed(session, workspace_id, crossed)
    return swept


def _replaced(session: Session, row: LLMUsage) -> bool:
    """Write a failure's ``row`` over the pending one; whether it did. Not when the answer's
    record or the sweep wrote the row first: that one settled the reservation (or left it
    standing, its settlement lost), so settling again would hand back what other requests
    reserved, or drop the cost the row records."""
    return bool(driver.execute(session, *records.replacing(row, returning=True))[1])


def elapsed_ms(pending: Pending) -> int:
    """Milliseconds since the request began."""
    return int((time.monotonic() - pending.started) * 1000)

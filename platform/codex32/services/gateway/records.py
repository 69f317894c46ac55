"""A request's ledger row (a chat's, an embedding's) from its reservation to its record,
and the rows a process left pending.

The budget reservation's statement writes the request's row as ``pending`` (:data:`PENDING`,
with what it reserved) before any provider or embedder is called. The answer's record
replaces it (:func:`replacing`), whether written before the answer is returned (the
platform's own calls: builder, search, bots; every embedding) or after the HTTP response is
sent (the chat endpoints, see :func:`codex32.services.gateway.chat.chat`'s ``defer``). A
process that ends in between leaves the row pending, with its reservation standing; the
worker's maintenance loop settles rows older than :data:`STALE_AFTER_SECONDS`
(:func:`sweep`): status ``unsettled``, cost and spend the reserved maximum, which the call
cannot have exceeded, so no budget is overshot and no paid call is missing from the ledger
(docs/llm-gateway.md, "Recorded after the answer"). The same sweep settles rows whose record
was written but whose budget settlement (a transaction of its own) failed or was lost: they
still carry ``settle_due``, which the settlement clears.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from codex32.db import driver, rows
from codex32.db.gateway_models import MONEY_MAX, LLMUsage
from codex32.observability.metrics import LLM_REQUESTS
from codex32.services.gateway.calls import Caller
from codex32.services.gateway.periods import current, period_of

log = logging.getLogger(__name__)

# Far beyond any call (bounded by its deadline) and twice the longest stream the gateway
# relays (streaming.MAX_STREAM_SECONDS): only a row whose process is gone is this old.
STALE_AFTER_SECONDS = 3600.0
SWEEP_BATCH = 100  # workspaces swept per maintenance pass
UNSETTLED = ("no record of the answer: the process serving the request ended before writing "
             "it; charged the request's reserved maximum")

# The request's pending row, a CTE of the reservation's statement after ``reserved`` (the
# budgets it reserved on) and ``refused``: written when it reserved, not on a hit or refusal.
PENDING = """
    INSERT INTO llm_usage (workspace_id, id, kind, purpose, requested_model, user_id,
                           api_key_id, bot_id, execution_id, conversation_id, status,
                           reserved_usd, reserved_budgets)
    SELECT :ws, :usage_id, :kind, :purpose, :requested_model, :user_id, :api_key, :bot,
           :execution_id, :conversation_id, 'pending',
           CASE WHEN :unpriced THEN NULL ELSE CAST(:amount AS numeric) END,
           (SELECT COALESCE(jsonb_agg(jsonb_build_array(id, start)), '[]'::jsonb)
            FROM reserved)
    WHERE NOT EXISTS (SELECT FROM cached) AND NOT EXISTS (SELECT FROM refused)"""

# Locks the budgets named by ``{0}`` (a relation with an ``id`` column) in id order, as the
# reservation does: an UPDATE locks its rows in the order its plan meets them (the hash of an
# id, a row's place), and two statements locking a workspace's day and month budgets in
# opposite orders deadlock. The UPDATE joins it, so it meets a row only once locked here.
LOCKED_IN_ORDER = """
    locked AS (SELECT id FROM llm_budgets WHERE id IN (SELECT id FROM {0})
               ORDER BY id FOR UPDATE)"""
# The answer's row replaces the pending one unless the sweep settled it first.
_STILL_PENDING = "llm_usage.status = 'pending'"


def request_row(workspace_id: str, usage_id: uuid.UUID, purpose: str,
                requested_model: str | None, caller: Caller, latency_ms: int, *,
                kind: str = "chat") -> dict[str, Any]:
    """The parameters of the row the reservation's statement writes, a hit's
    (:data:`.cache.RECORD_HIT`) or a pending one (:data:`PENDING`) of ``kind`` (``chat`` or
    ``embedding``); the caller's API key and bot are the reservation's ``:api_key`` and
    ``:bot``."""
    return {"ws": uuid.UUID(workspace_id), "usage_id": usage_id, "kind": kind,
            "purpose": purpose,
            "requested_model": requested_model, "user_id": caller.user_id,
            "execution_id": caller.execution_id, "conversation_id": caller.conversation_id,
            "latency_ms": latency_ms}


def replacing(row: LLMUsage, *, returning: bool = False) -> driver.Statement:
    """The statement that writes ``row`` (a :func:`.ledger.entry` with the pending row's id)
    over the pending row, or inserts it when there is none (a database crash lost the
    reservation's uncommitted-to-disk transaction); a row the sweep settled, or a record
    wrote, is left as is. ``returning``: it returns a row when it wrote one, so the caller
    settles the reservation only then (the one that replaced the pending row settles it)."""
    return rows.upsert(row, only_where=_STILL_PENDING, returning=returning)


_WORKSPACES = text("SELECT workspace_id FROM pending_llm_workspaces(:before, :limit)")
# The bound workspace's stale rows, settled: each pending one at its reserved maximum (NULL
# when a price was unknown: nothing was reserved), status ``unsettled``; and each whose
# settlement is still due (``settle_due``: its record committed, its settlement failed or was
# lost) at its cost, as its settlement would have (a cost unknown: the reserved amount).
# What each reserved goes back and what it costs is spent, on each budget it was reserved on,
# in the budget's current period whichever period it reserved in (as the settlement does:
# periods.ROLLED), summed per budget in one UPDATE (an UPDATE's join applies one row per
# target; the budgets locked in id order, as the reservation and the settlement lock them).
_SETTLE_STALE = text(f"""
    WITH stale AS (
      UPDATE llm_usage SET status = 'unsettled', cost_usd = reserved_usd, error = :why
      WHERE status = 'pending' AND created_at < :before
      RETURNING id, reserved_usd, cost_usd, reserved_budgets),
    due AS (
      UPDATE llm_usage SET settle_due = false
      WHERE settle_due AND created_at < :before
      RETURNING id, reserved_usd, cost_usd, reserved_budgets),
    owing AS (SELECT * FROM stale UNION ALL SELECT * FROM due),
    owed AS (
      SELECT CAST(budget->>0 AS uuid) AS id,
             sum(COALESCE(owing.reserved_usd, 0)) AS reserved,
             sum(COALESCE(owing.cost_usd, owing.reserved_usd, 0)) AS amount
      FROM owing CROSS JOIN jsonb_array_elements(owing.reserved_budgets) AS budget
      WHERE owing.reserved_usd IS NOT NULL OR owing.cost_usd IS NOT NULL
      GROUP BY 1),
    {LOCKED_IN_ORDER.format('owed').strip()},
    settled AS (
      UPDATE llm_budgets AS b SET reserved_usd = GREATEST(b.reserved_usd - owed.reserved, 0),
                                  spent_usd = LEAST({current('spent_usd', 'b.')} + owed.amount,
                                                    {MONEY_MAX}),
                                  notified = {current('notified', 'b.')},
                                  period_start = {period_of('b.')},
                                  updated_at = now()
      FROM owed WHERE b.id = owed.id AND b.id IN (SELECT id FROM locked)
      RETURNING b.id, b.scope, b.scope_id, b.period, b.soft_limit_usd, b.spent_usd,
                b.notified, b.period_start)
    SELECT settled.*, (SELECT count(*) FROM stale) AS swept, (SELECT count(*) FROM due) AS due
    FROM (SELECT) AS one LEFT JOIN settled ON true""")


def stale_before(now: datetime | None = None) -> datetime:
    """Rows pending since before this are stale."""
    return (now or datetime.now(UTC)) - timedelta(seconds=STALE_AFTER_SECONDS)


def workspaces_with_stale(session: Session, before: datetime,
                          limit: int = SWEEP_BATCH) -> list[uuid.UUID]:
    """Workspaces holding rows pending since before ``before``, any workspace (a SECURITY
    DEFINER function reading only the workspace, status and time columns)."""
    return list(session.execute(_WORKSPACES, {"before": before, "limit": limit}).scalars())


def sweep(session: Session, before: datetime) -> tuple[int, driver.Rows]:
    """Settle the bound workspace's rows pending since before ``before``, and those whose
    settlement is due since then (in the caller's transaction); how many rows were pending
    (the others are logged), and the budgets charged, as the settlement returns them (for
    :func:`.budgets.crossed`)."""
    found = driver.execute(session, _SETTLE_STALE, {"before": before, "why": UNSETTLED})
    swept, due = int(found[1][0][-2]), int(found[1][0][-1])
    if swept:
        LLM_REQUESTS.labels(provider="none", model="none", status="unsettled").inc(swept)
    if due:
        log.warning("settled %d LLM calls whose budget settlement failed after their record",
                    due)
    return swept, (found[0], [row for row in found[1] if row[0] is not None])

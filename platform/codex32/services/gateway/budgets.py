"""Budgets: spending limits per workspace, API key or bot over a UTC day or month.

Before a call the gateway reserves the request's maximum cost on every budget that applies,
in one statement whose row locks serialize concurrent callers in every process; a budget
whose spend plus reservations already reached its hard limit refuses (429 naming it and when
it resets). So concurrent requests overshoot a hard limit by at most one request's maximum.
After the call the reservation is settled to the real cost, spent in the period current
then (a call that spans a period's end is charged to the new one, where its reservation
counted from the start: :mod:`.periods`). Every request of a workspace
locks the same rows, so no lock is held across a round trip or a WAL flush (see _RESERVE and
:func:`settlement_apart`; docs/llm-gateway.md, "The budget rows"). Crossing a soft limit notifies
the workspace's notifiers once per period. Replacing them (admins only) is audited; reading
them is not.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, select, text
from sqlalchemy.orm import Session

from codex32.auth.principal import Principal
from codex32.db import driver, tenancy
from codex32.db.gateway_models import MONEY_MAX, LLMBudget
from codex32.db.models import ApiKey, Bot
from codex32.errors import Invalid, RateLimited
from codex32.services import audit
from codex32.services.gateway.cache import FRESH_ANSWER, RECORD_HIT
from codex32.services.gateway.calls import Caller, money_text
from codex32.services.gateway.periods import current, period_of
from codex32.services.gateway.records import LOCKED_IN_ORDER, PENDING

SCOPES = ("workspace", "api_key", "bot")
PERIODS = ("day", "month")
MAX_BUDGETS = 200


class BudgetExceeded(RateLimited):
    """A hard limit is reached (429 with Retry-After until the period resets)."""

    reason = "budget_exceeded"


@dataclass
class Reservation:
    """What was reserved on which budgets (id → period start), to settle after the call."""

    amount: Decimal = Decimal(0)
    budgets: dict[uuid.UUID, datetime] = field(default_factory=dict)


def period_end(start: datetime, period: str) -> datetime:
    """When the period that began at ``start`` ends (UTC)."""
    if period == "day":
        return datetime.fromordinal(start.toordinal() + 1).replace(tzinfo=UTC)
    year, month = (start.year + 1, 1) if start.month == 12 else (start.year, start.month + 1)
    return datetime(year, month, 1, tzinfo=UTC)


def _name(scope: str, scope_id: Any, period: str) -> str:
    return f"{scope}{'' if scope_id is None else ':' + str(scope_id)}/{period}"


# One statement decides and reserves: it locks the budgets that apply (in id order, so two
# requests never lock each other's rows in opposite orders), refuses when one of them with a
# hard limit is spent (or the price is unknown) unless the call can cost nothing (a free
# provider: refusing it would protect no money), and otherwise reserves on all of them. The
# locking read returns each row's newest version (READ COMMITTED re-reads a row it waited
# for); the UPDATE computes its SET from the row it updates (never from the CTE's values, so
# no update is lost). Since nothing is left to decide in Python, the COMMIT goes in the same
# round trip (``driver.execute_batch(commit=True)``): a budget row stays locked for the
# statement's time in the server only, never for a round trip to a (busy) client; every
# request of a workspace queues on that row.
# It runs unless the response cache holds the answer: the lookup and the reservation share
# one statement, so one snapshot and one round trip (a hit reserves nothing; a NULL key never
# hits). A transaction that reserved commits without waiting for its WAL flush
# (synchronous_commit off, set by the UPDATE itself): the reservation is visible to every
# other transaction the moment it commits, which is all the concurrency bound needs, and the
# settlement's synchronous commit (with the ledger row) flushes it. A database crash can
# forget the reservations of calls in flight (never their spend: that is written with the
# ledger row).
_RESERVE = f"""
    WITH cached AS ({FRESH_ANSWER}),{{record}}
    applying AS (
      SELECT id, scope, scope_id, period, hard_limit_usd, {current('spent_usd')} AS spent,
             reserved_usd AS reserved, {period_of()} AS start
      FROM llm_budgets
      WHERE NOT EXISTS (SELECT FROM cached)
        AND ((scope = 'workspace' AND scope_id IS NULL)
             OR (scope = 'api_key' AND scope_id = :api_key)
             OR (scope = 'bot' AND scope_id = :bot))
      ORDER BY id FOR UPDATE),
    refused AS (
      SELECT * FROM applying
      WHERE hard_limit_usd IS NOT NULL
        AND (:unpriced OR (spent + reserved >= hard_limit_usd AND :amount > 0))
      ORDER BY scope, period LIMIT 1),
    reserved AS (
      UPDATE llm_budgets SET
        spent_usd = {current('spent_usd')},
        reserved_usd = LEAST(reserved_usd + :amount, {MONEY_MAX}),
        notified = {current('notified')},
        period_start = {period_of()}
      WHERE id IN (SELECT id FROM applying) AND NOT EXISTS (SELECT FROM refused)
      RETURNING id, period_start AS start,
                set_config('synchronous_commit', 'off', true) AS commit_mode){{pending}}
    SELECT (SELECT response FROM cached) AS cached, reserved.id, reserved.start,
           refused.scope, refused.scope_id, refused.period, refused.hard_limit_usd,
           refused.start AS refused_start
    FROM (SELECT) AS one LEFT JOIN reserved ON true LEFT JOIN refused ON true
"""
_LOOKUP_AND_RESERVE = text(_RESERVE.format(record="", pending=""))
# The same, and the request's ledger row written by it: a hit's (its one round trip, durable:
# a hit updates no budget, so its commit keeps synchronous_commit on), else a ``pending`` row
# holding what was reserved, which the answer's record replaces (records.PENDING).
_LOOKUP_RECORD_AND_RESERVE = text(_RESERVE.format(record=f" recorded AS ({RECORD_HIT}),",
                                                  pending=f", pending AS ({PENDING})"))


def reserve_unless_cached(session: Session, workspace_id: uuid.UUID | str, caller: Caller,
                          amount: Decimal | None, describe_unknown: str,
                          cache_key: bytes | None, row: dict[str, Any] | None = None
                          ) -> tuple[Reservation, dict[str, Any] | None]:
    """The cached answer for ``cache_key`` (nothing reserved; None never hits), else reserve
    ``amount`` on every budget that applies to ``caller``, in one statement whose round trip
    also commits the session's transaction (with whatever it holds: say the request's
    authentication), or begins, binds and commits one when none is open (a stream whose
    first reads came with its request's authentication). ``row``
    (:func:`.records.request_row`): the request's ledger row is written by that statement
    too, a hit's or, when it reserved, a ``pending`` one.

    ``amount`` None (the price is unknown) is refused when a hard limit applies: the budget
    could not bound the call. ``describe_unknown`` names the model for that message."""
    statement = _LOOKUP_AND_RESERVE if row is None else _LOOKUP_RECORD_AND_RESERVE
    session.flush()  # the caller's pending changes go in before the COMMIT (nothing if none)
    _, found = tenancy.execute_bound(session, workspace_id, [(statement, {
        **(row or {}), "key": cache_key, "api_key": caller.api_key_id, "bot": caller.bot_id,
        "amount": amount or Decimal(0), "unpriced": amount is None})], commit=True)[0]
    session.commit()  # already committed: ends the session's transaction
    reservation = Reservation(amount=amount or Decimal(0))
    if found[0][0] is not None:
        return reservation, found[0][0]
    if found[0][3] is not None:
        raise _refusal(found[0][3:], amount, describe_unknown)
    for _, budget_id, start, *_ in found:
        if budget_id is not None:  # None: no budget applies
            reservation.budgets[budget_id] = start
    return reservation, None


def _refusal(refused: tuple[Any, ...], amount: Decimal | None,
             describe_unknown: str) -> Exception:
    """The error for the budget the reservation statement refused on."""
    scope, scope_id, period, hard_limit, start = refused
    name = _name(scope, scope_id, period)
    if amount is None:
        return Invalid(f"budget {name} has a hard limit and the price of {describe_unknown} "
                       "is unknown: set its price in the workspace's settings.llm.prices")
    resets = period_end(start, period)
    wait = max(1.0, (resets - datetime.now(UTC)).total_seconds())
    return BudgetExceeded(f"budget {name} is spent (hard limit {money_text(hard_limit)} USD); it "
                          f"resets at {resets.isoformat()}", wait)


# All the reservation's budgets at once (one per row of the unnested array), once: only
# when it clears the request's ledger row's ``settle_due`` (written with the row, records.py),
# in the settlement's own transaction. Whichever settles first clears it: a settlement
# retried, or one after the maintenance loop settled the row (``unsettled``, never marked:
# a record that came that late writes nothing over it; or marked and settled for a
# settlement that failed), settles nothing twice (records.sweep). The reservation goes back
# and the cost is spent in the row's current period, whichever period it reserved in
# (:data:`.periods.ROLLED`).
_SETTLING = f"""
    WITH claimed AS (
      UPDATE llm_usage SET settle_due = false
      WHERE id = CAST(:usage_id AS uuid) AND settle_due RETURNING id),
    settled AS (
      SELECT * FROM unnest(CAST(:ids AS uuid[])) AS s (id)
      WHERE EXISTS (SELECT FROM claimed)),
    {LOCKED_IN_ORDER.format('settled').strip()}
    UPDATE llm_budgets AS b SET reserved_usd = GREATEST(b.reserved_usd - :reserved, 0),
                                spent_usd = LEAST({current('spent_usd', 'b.')} + :actual,
                                                  {MONEY_MAX}),
                                notified = {current('notified', 'b.')},
                                period_start = {period_of('b.')},
                                updated_at = now()
    FROM settled
    WHERE b.id = settled.id AND b.id IN (SELECT id FROM locked)
    RETURNING b.id, b.scope, b.scope_id, b.period, b.soft_limit_usd, b.spent_usd, b.notified,
              b.period_start"""
_SETTLE = text(_SETTLING)
# The same, committing without waiting for the WAL flush (set by the UPDATE itself, as
# _RESERVE does): for a settlement in a transaction of its own (settlement_apart).
_SETTLE_APART = text(_SETTLING + ", set_config('synchronous_commit', 'off', true)")

_MARK_NOTIFIED = text("""
    UPDATE llm_budgets SET notified = true
    WHERE id = :id AND period_start = :start AND NOT notified RETURNING id
""")


def settle(session: Session, reservation: Reservation, actual: Decimal | None,
           usage_id: uuid.UUID) -> list[dict[str, Any]]:
    """Replace the reservation with the real cost (in the caller's transaction), when the
    request's ledger row ``usage_id`` is marked ``settle_due`` (the mark cleared: settled
    once, whoever settles it).

    Returns the budgets whose soft limit this call crossed first in their period (each is
    returned once per period, to notify).
    """
    statement = settlement(reservation, actual, usage_id=usage_id)
    if statement is None:
        return []
    return crossed(session, driver.execute(session, *statement))


def settlement(reservation: Reservation, actual: Decimal | None, *,
               apart: bool = False, usage_id: uuid.UUID) -> driver.Statement | None:
    """The statement :func:`settle` runs (None: nothing was reserved), to batch with the
    step's other writes; hand its rows to :func:`crossed`. ``apart``: its transaction commits
    without waiting for the WAL flush (see :func:`settlement_apart`).

    ``actual`` None (the answer names a model whose price is unknown, though the one asked
    for was priced when reserving) spends the whole reservation, never nothing: a call of
    unknown cost is no free call under a hard limit (as the sweep settles a lost record)."""
    if not reservation.budgets:
        return None
    return _SETTLE_APART if apart else _SETTLE, {
        "ids": list(reservation.budgets), "reserved": reservation.amount,
        "actual": reservation.amount if actual is None else actual, "usage_id": usage_id}


def settlement_apart(workspace_id: uuid.UUID | str, reservation: Reservation,
                     actual: Decimal | None, usage_id: uuid.UUID) -> list[driver.Statement]:
    """The settlement in a transaction of its own, appended to a batch that commits first
    (say the ledger row's): ``COMMIT AND CHAIN`` (the next transaction begins at once), the
    binding, the settlement (its rows are the batch's last), committed without waiting for the
    WAL flush (the caller's ``commit=True`` sends that ``COMMIT``). Empty when nothing was
    reserved.

    A durable commit holds its row locks until the WAL is flushed; every request of a
    workspace settles on the same budget row, so they would queue for a flush each. Apart,
    the row is locked for the UPDATE's time only. A settlement lost (a crash) or failed
    (the connection lost, a statement refused) after the ledger row committed leaves the
    row's ``settle_due``: the maintenance loop settles it to the row's cost after an hour
    (records.sweep); until then the whole reservation stands in place of the real cost
    (never less, so never an overshoot).
    """
    statement = settlement(reservation, actual, apart=True, usage_id=usage_id)
    if statement is None:
        return []
    return [("COMMIT AND CHAIN", {}), tenancy.binding(workspace_id), statement]


def crossed(session: Session, settled: driver.Rows) -> list[dict[str, Any]]:
    """The budgets among ``settled`` (the settlement's rows) whose soft limit this call
    crossed first in their period, marked as notified."""
    found = []
    for budget_id, scope, scope_id, period, soft, spent, notified, start, *_ in settled[1]:
        if soft is None or notified or spent < soft:
            continue
        if session.execute(_MARK_NOTIFIED, {"id": budget_id, "start": start}).first():
            found.append({"budget": _name(scope, scope_id, period),
                          "soft_limit_usd": money_text(soft), "spent_usd": money_text(spent),
                          "resets_at": period_end(start, period).isoformat()})
    return found


# -- the admin API ------------------------------------------------------------------------

_OWNERS: dict[str, tuple[Any, str]] = {"api_key": (ApiKey, "API key"), "bot": (Bot, "bot")}


def _check_owners(session: Session, items: list[dict[str, Any]]) -> None:
    """422 unless each API key and bot budget names a key or bot of the bound workspace
    (another workspace's is hidden by row-level security: refused as one that does not
    exist). A budget on nothing would look like a limit and bound nothing."""
    for scope, (model, what) in _OWNERS.items():
        named = {item["scope_id"] for item in items if item["scope"] == scope}
        found = set(session.execute(select(model.id).where(model.id.in_(named))).scalars()
                    ) if named else set()
        for index, item in enumerate(items):
            if item["scope"] == scope and item["scope_id"] not in found:
                raise Invalid(f"budget {index}: no {what} {item['scope_id']} in this workspace",
                              errors={"json": {str(index): {"scope_id": [f"no such {what}"]}}})


def shown(row: LLMBudget) -> dict[str, Any]:
    """How the API shows a budget and its current period: its spend in that period (0 when
    its stored period is over), and what the calls in flight reserved (whenever they began:
    their cost goes to the current period, :mod:`.periods`)."""
    now = datetime.now(UTC)
    start = row.period_start
    current = start is not None and period_end(start, row.period) > now
    return {"id": row.id, "scope": row.scope, "scope_id": row.scope_id, "period": row.period,
            "soft_limit_usd": money_text(row.soft_limit_usd),
            "hard_limit_usd": money_text(row.hard_limit_usd),
            "spent_usd": money_text(row.spent_usd.normalize() if current else Decimal(0)),
            "reserved_usd": money_text(row.reserved_usd.normalize()),
            "period_start": start if current else None,
            "resets_at": period_end(start, row.period) if current and start else None}


def list_budgets(session: Session) -> list[dict[str, Any]]:
    """The workspace's budgets."""
    rows = session.execute(select(LLMBudget).order_by(LLMBudget.scope, LLMBudget.period)
                           ).scalars()
    return [shown(row) for row in rows]


def _limits(key: tuple, item: dict[str, Any], only: tuple[str, ...] = (
        "soft_limit_usd", "hard_limit_usd")) -> dict[str, Any]:
    """How the audit log names a budget (``key``: scope, scope id, period), with ``only``
    of its limits in ``item``."""
    return {"scope": key[0], "scope_id": str(key[1]) if key[1] else None, "period": key[2],
            **{name: money_text(item.get(name)) for name in only}}


def replace(session: Session, principal: Principal, items: list[dict[str, Any]]
            ) -> list[dict[str, Any]]:
    """Replace the workspace's budgets with ``items``; spend of a budget kept (same scope and
    period) carries over. The set it has already is no mutation: nothing written, not
    audited; a change's one audit row lists the budgets added, removed and changed (only the
    changed limits, before and after)."""
    if len(items) > MAX_BUDGETS:
        raise Invalid(f"at most {MAX_BUDGETS} budgets")
    wanted: dict[tuple, dict[str, Any]] = {}
    for index, item in enumerate(items):
        scope, scope_id = item["scope"], item.get("scope_id")
        if (scope == "workspace") != (scope_id is None):
            problem = "required" if scope != "workspace" else "not allowed"
            raise Invalid("scope_id is required for api_key and bot budgets, and not allowed "
                          "for the workspace's",
                          errors={"json": {str(index): {"scope_id": [problem]}}})
        soft, hard = item.get("soft_limit_usd"), item.get("hard_limit_usd")
        if soft is None and hard is None:
            raise Invalid("a budget needs a soft or a hard limit",
                          errors={"json": {str(index): {"hard_limit_usd": ["required"]}}})
        if soft is not None and hard is not None and soft > hard:
            why = f"above the hard limit ({money_text(hard)}): it would never be reached"
            raise Invalid(f"budget {index}: the soft limit is {why}",
                          errors={"json": {str(index): {"soft_limit_usd": [why]}}})
        key = (scope, scope_id, item["period"])
        if key in wanted:
            raise Invalid(f"budget {_name(*key)} is given twice")
        wanted[key] = item
    _check_owners(session, items)
    # One replacement of the workspace's budgets at a time: the row locks below serialize
    # nothing when a budget is new, and two replacements adding it would both insert it.
    session.execute(text("SELECT pg_advisory_xact_lock(hashtext('llm_budgets:' || :w))"),
                    {"w": str(principal.workspace_id)})
    existing = {(row.scope, row.scope_id, row.period): row
                for row in session.execute(  # in id order, as the reservation locks them
                    select(LLMBudget).order_by(LLMBudget.id).with_for_update()).scalars()}
    removed = [key for key in existing if key not in wanted]
    for key in removed:
        session.execute(delete(LLMBudget).where(LLMBudget.id == existing[key].id))
    added, changed = [], []
    for key, item in wanted.items():
        row = existing.get(key)
        if row is None:
            row = LLMBudget(workspace_id=principal.workspace_id, scope=key[0], scope_id=key[1],
                            period=key[2])
            session.add(row)
            added.append(_limits(key, item))
        recorded = audit.apply_changes(row, {"soft_limit_usd": item.get("soft_limit_usd"),
                                             "hard_limit_usd": item.get("hard_limit_usd")})
        if recorded:
            row.updated_at = datetime.now(UTC)
        if recorded and key in existing:
            changed.append({**_limits(key, {}, only=()), **{
                name: {side: money_text(value) for side, value in diff.items()}
                for name, diff in recorded.items()}})
    if not (removed or added or changed):
        return list_budgets(session)  # the budgets it has: no mutation, not audited
    recorded_all = {"added": added, "changed": changed,
                    "removed": [_limits(key, {}, only=()) for key in removed]}
    audit.record(session, principal, "llm_budgets.replace", "llm_budgets", "budgets",
                 {name: value for name, value in recorded_all.items() if value})
    session.commit()
    return list_budgets(session)

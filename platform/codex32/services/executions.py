"""Executions: queue a run of a bot, read runs, cancel one.

Queuing writes the execution row, its job (deferred on the session's own connection) and the
audit row in the caller's transaction, which the caller commits (docs/architecture.md,
"Transactions"), so a request that fails leaves none of them. The worker
(:mod:`codex32.execution.worker`) moves an execution from ``queued`` through ``running`` to a
final status; an execution never leaves a final status.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from functools import cache
from typing import Any, overload

from sqlalchemy import bindparam, inspect, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from codex32.auth.principal import Principal
from codex32.db.models import Bot, BotExecution
from codex32.errors import Conflict, Invalid, NotFound
from codex32.execution import queue
from codex32.services import audit
from codex32.services.bots import get as get_bot
from codex32.services.pages import (
    KeysetRequest,
    ListQuery,
    Page,
    PageRequest,
    Slice,
    fetch,
    paged,
)
from codex32.services.versions import get as get_version

STATUSES = ("queued", "running", "succeeded", "failed", "timed_out", "cancelled")
FINAL = frozenset({"succeeded", "failed", "timed_out", "cancelled"})
ACTIVE = ("queued", "running")
TRIGGERS = ("api", "schedule", "retry")
MAX_INPUT_DEPTH = 32


def create(session: Session, bot: Bot, *, version: int, input: dict[str, Any], trigger: str,
           attempt: int = 1, created_by: uuid.UUID | None = None,
           idempotency_key: str | None = None, retry_of: uuid.UUID | None = None,
           scheduled_for: datetime | None = None,
           not_before: datetime | None = None) -> BotExecution:
    """Add a queued execution of ``bot`` and defer its job, both in the current transaction."""
    execution = BotExecution(
        workspace_id=bot.workspace_id, id=uuid.uuid4(), bot_id=bot.id, version=version,
        status="queued", trigger=trigger, input=input, attempt=attempt,
        idempotency_key=idempotency_key, created_by=created_by, retry_of=retry_of,
        scheduled_for=scheduled_for, queued_at=datetime.now(UTC))
    session.add(execution)
    session.flush()  # a duplicate idempotency key or tick fails here, before the job exists
    execution.job_id = queue.defer_execution(session, bot.workspace_id, execution.id,
                                             not_before=not_before)
    return execution


def check_input(value: Any, depth: int = 0) -> None:
    """422 unless ``value`` is JSON PostgreSQL can store: no NUL characters, bounded nesting."""
    if depth > MAX_INPUT_DEPTH:
        raise Invalid("the input is nested too deeply",
                      errors={"json": {"input": [f"at most {MAX_INPUT_DEPTH} levels"]}})
    if isinstance(value, str) and "\x00" in value:
        raise Invalid("the input contains a NUL character",
                      errors={"json": {"input": ["NUL characters cannot be stored"]}})
    if isinstance(value, dict):
        for key, item in value.items():
            check_input(key, depth + 1)
            check_input(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            check_input(item, depth + 1)


def enqueue(session: Session, principal: Principal, bot_id: uuid.UUID, *,
            input: dict[str, Any] | None = None, version: int | None = None,
            idempotency_key: str | None = None) -> tuple[BotExecution, bool]:
    """Queue a run of a bot; returns the execution and whether it is new.

    With ``idempotency_key``, a request repeated in the same workspace returns the execution
    the first one created (``False``), whatever its body.
    """
    bot = get_bot(session, bot_id)
    if idempotency_key:
        existing = _by_key(session, idempotency_key, bot_id)
        if existing is not None:
            return existing, False
    if bot.status == "archived":
        raise Conflict("an archived bot does not run; change its status first")
    number = version if version is not None else bot.current_version
    if number == 0:
        raise Conflict("the bot has no code to run yet: add a version first")
    if version is not None:
        try:
            get_version(session, bot_id, version)
        except NotFound as exc:
            raise Invalid(f"the bot has no version {version}",
                          errors={"json": {"version": ["no such version"]}}) from exc
    event = input or {}
    check_input(event)
    try:
        # A savepoint of its own: a concurrent request's key fails this insert, and the
        # caller's transaction goes on to read what that request created.
        with session.begin_nested():
            execution = create(session, bot, version=number, input=event, trigger="api",
                               created_by=principal.user_id, idempotency_key=idempotency_key)
    except IntegrityError as exc:
        existing = (_by_key(session, idempotency_key, bot_id)
                    if idempotency_key and "uq_bot_executions_idempotency" in str(exc.orig)
                    else None)
        if existing is None:
            raise
        return existing, False
    audit.record(session, principal, "execution.create", "execution", execution.id,
                 {"bot_id": str(bot.id), "version": number, "trigger": "api",
                  "idempotency_key": idempotency_key, "input_keys": audit.keys_of(event)})
    session.flush()
    return execution, True


def check_idempotency_key(key: str, name: str = "idempotency_key",
                          location: str = "json") -> None:
    """422 unless an idempotency key is 1 to 255 printable ASCII characters (``name`` and
    ``location`` say where the caller gave it, for the error)."""
    if not 1 <= len(key) <= 255 or not key.isascii() or not key.isprintable():
        raise Invalid(f"{name} must be 1 to 255 printable ASCII characters",
                      errors={location: {name: ["1 to 255 printable ASCII characters"]}})


def _by_key(session: Session, key: str, bot_id: uuid.UUID) -> BotExecution | None:
    found = session.execute(select(BotExecution).where(
        BotExecution.idempotency_key == key)).scalar()
    if found is not None and found.bot_id != bot_id:
        raise Conflict("this Idempotency-Key was already used to run another bot")
    return found


def get(session: Session, execution_id: uuid.UUID, *, lock: bool = False) -> BotExecution:
    """The execution with this id in the bound workspace; another workspace's is 404 too."""
    query = select(BotExecution).where(BotExecution.id == execution_id)
    execution = session.execute(query.with_for_update() if lock else query).scalar()
    if execution is None:
        raise NotFound("execution not found")
    return execution


def detail(session: Session, execution_id: uuid.UUID) -> dict[str, Any]:
    """One execution as the API shows it, with ``retried_by``: the attempt that retried it."""
    execution = get(session, execution_id)
    shown = execution.column_values()
    shown["retried_by"] = session.execute(select(BotExecution.id).where(
        BotExecution.retry_of == execution.id)).scalar()
    return shown


@overload
def list_executions(session: Session, page: PageRequest, *, bot_id: uuid.UUID | None = None,
                    status: str | None = None, trigger: str | None = None) -> Page: ...


@overload
def list_executions(session: Session, page: KeysetRequest, *,
                    bot_id: uuid.UUID | None = None, status: str | None = None,
                    trigger: str | None = None) -> Slice: ...


def list_executions(session: Session, page: PageRequest | KeysetRequest, *,
                    bot_id: uuid.UUID | None = None, status: str | None = None,
                    trigger: str | None = None) -> Page | Slice:
    """Executions of the bound workspace, newest first, without their logs, input and result."""
    params = {name: value for name, value in (
        ("bot_id", bot_id), ("status", status), ("trigger", trigger)) if value}
    return fetch(session, page, _list_query(frozenset(params)), params)


LISTED_WITHOUT = ("logs", "input", "result")


@cache
def _list_query(by: frozenset[str]) -> ListQuery:
    columns = [attribute.class_attribute for attribute in inspect(BotExecution).column_attrs
               if attribute.key not in LISTED_WITHOUT]
    return paged(columns, [getattr(BotExecution, name) == bindparam(name) for name in sorted(by)],
                 (BotExecution.queued_at.desc(), BotExecution.id))


def list_for_bot(session: Session, bot_id: uuid.UUID, page: PageRequest | KeysetRequest,
                 *, status: str | None = None) -> Page | Slice:
    """Executions of one bot (404 when the bot is not in the workspace)."""
    found = list_executions(session, page, bot_id=bot_id, status=status)
    if not found.items:  # none (of this status): a bot that has not run, or no such bot
        get_bot(session, bot_id)
    return found


def cancel(session: Session, principal: Principal,
           execution_id: uuid.UUID) -> tuple[BotExecution, bool]:
    """Cancel an execution; returns it and whether it has already ended ``cancelled``.

    A queued one is cancelled at once. A running one is asked to stop: its worker kills the
    run's process group within two seconds and stores ``cancelled``. A running one whose job
    no worker holds (handed back to the queue after its outcome could not be stored, or out of
    attempts) has no process left and would never hear the request: it is cancelled at once.
    409 once it has ended.
    """
    execution = get(session, execution_id, lock=True)
    if execution.status in FINAL:
        raise Conflict(f"the execution has already ended ({execution.status})")
    held = False
    if execution.job_id is not None:
        queue.cancel_job(session, execution.job_id)  # locks the job row: no worker takes it now
        held = queue.job_status(session, execution.job_id) == "doing"
    if execution.cancel_requested and held:
        return execution, False  # already asked; nothing changes, nothing to audit
    before = execution.status
    execution.cancel_requested = True
    if execution.status == "queued" or not held:
        now = datetime.now(UTC)
        if execution.started_at is not None:
            execution.duration_seconds = (now - execution.started_at).total_seconds()
        execution.status = "cancelled"
        execution.completed_at = now
    audit.record(session, principal, "execution.cancel", "execution", execution.id,
                 {"status": {"before": before, "after": execution.status}})
    session.flush()
    return execution, execution.status == "cancelled"

"""Notification deliveries: one row per notifier and execution event, from queued to delivered
or given up, with its attempts and the last error, so a failing notifier shows through the API
and not only in the worker's log.

The row is written with the notification's job, in the transaction that settles the execution;
the delivery job (:mod:`codex32.execution.worker`) records each attempt. An error is stored as
the platform or the plugin worded it, with the notifier's secrets taken out. No Flask here.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from codex32.crypto import SecretsUndecryptable
from codex32.db.models import BotExecution, NotificationDelivery
from codex32.errors import DomainError, NotFound
from codex32.execution import queue as jobs
from codex32.plugins.errors import PluginError, redacted

STATUSES = ("pending", "delivered", "failed")
MAX_ERROR_CHARS = 500
_TARGET = "uq_notification_deliveries_target"


def queue(session: Session, workspace_id: uuid.UUID | str, execution_id: uuid.UUID | str,
          notifier: str, event: str) -> None:
    """Record a pending delivery and queue its job, both in the session's transaction; a
    delivery already recorded (two rules naming one notifier) is not queued again."""
    added = session.execute(insert(NotificationDelivery).values(
        workspace_id=uuid.UUID(str(workspace_id)), id=uuid.uuid4(),
        execution_id=uuid.UUID(str(execution_id)), notifier=notifier, event=event,
        status="pending", attempts=0).on_conflict_do_nothing(constraint=_TARGET)
        .returning(NotificationDelivery.id)).first()
    if added is not None:
        jobs.defer_notification(session, workspace_id, execution_id, notifier, event)


def record(session: Session, workspace_id: uuid.UUID | str, execution_id: uuid.UUID | str,
           notifier: str, event: str, *, error: str | None, final: bool) -> None:
    """Record one attempt: delivered when ``error`` is None, else ``failed`` when no retry
    follows (``final``) or still ``pending``, in the caller's transaction."""
    now = datetime.now(UTC)
    status = "delivered" if error is None else "failed" if final else "pending"
    statement = insert(NotificationDelivery).values(
        workspace_id=uuid.UUID(str(workspace_id)), id=uuid.uuid4(),
        execution_id=uuid.UUID(str(execution_id)), notifier=notifier, event=event,
        status=status, attempts=1, last_error=error, updated_at=now,
        delivered_at=now if error is None else None)
    # A job queued before deliveries were recorded has no row yet: the insert makes it.
    session.execute(statement.on_conflict_do_update(constraint=_TARGET, set_={
        "status": status, "attempts": NotificationDelivery.attempts + 1, "updated_at": now,
        "last_error": func.coalesce(statement.excluded.last_error,
                                    NotificationDelivery.last_error),
        "delivered_at": statement.excluded.delivered_at}))


def describe(error: BaseException, secrets: Iterable[str | None] = ()) -> str:
    """How a failed attempt is shown: the platform's or the plugin's message (plugins must
    keep secrets out of theirs; the notifier's own are taken out anyway), cut to a few
    hundred characters; for anything unexpected, its type only."""
    if isinstance(error, DomainError):
        text = error.message
    elif isinstance(error, PluginError | SecretsUndecryptable):
        text = f"{type(error).__name__}: {error}"
    else:
        text = f"unexpected error ({type(error).__name__})"
    # Very short values would blank out ordinary words (the sandbox's logs skip them too).
    return redacted(text, *(value for value in secrets if value and len(value) >= 4),
                    limit=MAX_ERROR_CHARS)


def list_for_execution(session: Session, execution_id: uuid.UUID) -> list[dict[str, Any]]:
    """The execution's deliveries, oldest first; 404 for an execution not in the workspace."""
    if session.execute(select(BotExecution.id).where(BotExecution.id == execution_id)
                       ).first() is None:
        raise NotFound("execution not found")
    found = session.execute(select(NotificationDelivery)
                            .where(NotificationDelivery.execution_id == execution_id)
                            .order_by(NotificationDelivery.created_at,
                                      NotificationDelivery.notifier)).scalars()
    return [row.column_values() for row in found]

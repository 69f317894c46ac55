"""The notification job's body: tell one notifier how an execution ended, and record the
attempt on its delivery.

The run job queues one of these per notifier rule (:func:`codex32.services.deliveries.queue`);
each is retried on its own, apart from the run. The notifier is called with no database session
open.
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

from procrastinate import JobContext
from sqlalchemy import select
from sqlalchemy.orm import defer

from codex32.db import tenancy
from codex32.db.models import Bot, BotExecution
from codex32.execution import queue
from codex32.execution.worker import runtime_of
from codex32.observability.logging import log_context
from codex32.plugins.calls import invoke
from codex32.plugins.interfaces import Notification, Notifier
from codex32.runtime import Runtime, activated
from codex32.services import deliveries, provider_instances

log = logging.getLogger(__name__)

MAX_PAYLOAD_RESULT_BYTES = 4096  # larger results are left out of notifications


def deliver_notification(context: JobContext, workspace_id: str, execution_id: str,
                         notifier: str, event: str) -> None:
    """Deliver one notification and record the attempt on its delivery; raising makes
    procrastinate retry it (never the run)."""
    rt = runtime_of(context)
    instance = None
    with activated(rt), log_context(workspace_id=workspace_id, execution_id=execution_id,
                                    notifier=notifier):
        try:
            with rt.sessions() as session, tenancy.bound(session, workspace_id):
                execution = session.execute(
                    select(BotExecution).options(defer(BotExecution.logs),
                                                 defer(BotExecution.input))
                    .where(BotExecution.id == uuid.UUID(execution_id))).scalar()
                if execution is None:
                    return
                bot_name = session.execute(select(Bot.name).where(
                    Bot.id == execution.bot_id)).scalar()
                instance = provider_instances.build(session, workspace_id, Notifier, notifier)
                notification = Notification(
                    event=event, workspace_id=str(workspace_id),
                    payload=_payload(execution, bot_name), id=f"{execution_id}:{notifier}:{event}")
            invoke(instance, "notify", instance.notify, notification,
                   timeout=rt.settings.plugin_timeout_seconds)
        except Exception as exc:
            final = queue.notification_retry.get_retry_decision(
                exception=exc, job=context.job) is None
            secrets = [instance.secret(name) for name in type(instance).secrets] if instance else []
            _record_attempt(rt, workspace_id, execution_id, notifier, event,
                            deliveries.describe(exc, secrets), final)
            raise
        _record_attempt(rt, workspace_id, execution_id, notifier, event, None, True)


def _record_attempt(rt: Runtime, workspace_id: str, execution_id: str, notifier: str,
                    event: str, error: str | None, final: bool) -> None:
    """Record a delivery attempt; failing to record it never makes the delivery run again."""
    try:
        with rt.sessions() as session, tenancy.bound(session, workspace_id):
            deliveries.record(session, workspace_id, execution_id, notifier, event,
                              error=error, final=final)
            session.commit()
    except Exception:
        log.exception("the delivery attempt could not be recorded")


def _payload(execution: BotExecution, bot_name: str | None) -> dict[str, Any]:
    error = execution.error or {}
    payload: dict[str, Any] = {
        "execution_id": str(execution.id), "bot_id": str(execution.bot_id), "bot_name": bot_name,
        "status": execution.status, "version": execution.version, "trigger": execution.trigger,
        "attempt": execution.attempt,
        "started_at": execution.started_at.isoformat() if execution.started_at else None,
        "completed_at": execution.completed_at.isoformat() if execution.completed_at else None,
        "duration_seconds": execution.duration_seconds,
        "error": {"type": error.get("type"), "message": error.get("message")} if error else None,
    }
    if len(json.dumps(execution.result, default=str)) <= MAX_PAYLOAD_RESULT_BYTES:
        payload["result"] = execution.result
    else:
        payload["result_truncated"] = True
    return payload

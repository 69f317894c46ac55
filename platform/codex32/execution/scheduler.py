"""Schedule ticks: turn each due schedule into exactly one execution, however many workers run.

Every worker calls :func:`fire_due` from its maintenance loop. Due schedules are listed across
workspaces by a SECURITY DEFINER function (ids and times only); each is then claimed in a
tenant-bound transaction that locks its row, moves ``next_run_at`` to the next tick and creates
the tick's execution and job, with its audit row (actor: the system): a second worker finds
the row locked or its tick gone, and commits nothing. A unique index on (bot, tick) backs
this up.

Pile-up policy: skip. A tick that finds the bot still queued or running (from any trigger)
creates nothing and counts a skipped run. Missed ticks (no worker up) are not caught up: the
earliest one runs once, then the schedule moves to its next tick after now.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from codex32.auth.principal import Origin, Principal
from codex32.db import tenancy
from codex32.db.models import Bot, BotExecution, BotSchedule
from codex32.errors import Invalid
from codex32.services import audit, bots, executions, schedules

log = logging.getLogger(__name__)

BATCH = 100


def fire_due(sessions: Callable[[], Session], limit: int = BATCH) -> int:
    """Claim every due tick this worker can get; returns how many executions it created."""
    with sessions() as session:
        due = session.execute(text("SELECT workspace_id, bot_id, next_run_at "
                                   "FROM due_schedules(:limit)"), {"limit": limit}).all()
    created = 0
    for workspace_id, bot_id, tick in due:
        try:
            created += fire(sessions, workspace_id, bot_id, tick)
        except Exception:
            log.exception("schedule of bot %s could not fire", bot_id,
                          extra={"workspace_id": str(workspace_id)})
    return created


def fire(sessions: Callable[[], Session], workspace_id: uuid.UUID, bot_id: uuid.UUID,
         tick: datetime) -> int:
    """Claim one due tick and create its execution (1), or find it claimed or skipped (0)."""
    with sessions() as session, tenancy.bound(session, workspace_id):
        schedule = session.execute(
            select(BotSchedule).where(BotSchedule.bot_id == bot_id,
                                      BotSchedule.next_run_at == tick, BotSchedule.enabled)
            .with_for_update(skip_locked=True)).scalar()
        if schedule is None:
            return 0  # another worker holds or has taken this tick
        now = datetime.now(UTC)
        try:
            schedule.next_run_at = schedules.next_run(schedule.cron, schedule.timezone,
                                                      max(tick, now))
        except Invalid:
            log.error("schedule of bot %s no longer parses; disabling it", bot_id)
            schedule.enabled, schedule.next_run_at = False, None
            audit.record(session, _scheduler(workspace_id), "schedule.disable", "bot", bot_id,
                         {"cron": schedule.cron, "timezone": schedule.timezone,
                          "reason": "the schedule no longer parses"})
            session.commit()
            return 0
        bot = session.get(Bot, (workspace_id, bot_id))
        busy = session.execute(select(BotExecution.id).where(
            BotExecution.bot_id == bot_id, BotExecution.status.in_(executions.ACTIVE))
            .limit(1)).first()
        if bot is None or busy or bot.status in bots.RESTING or bot.current_version == 0:
            schedule.skipped_runs += 1
            schedule.last_skipped_at = tick
            session.commit()
            return 0
        execution = executions.create(session, bot, version=bot.current_version,
                                      input=schedule.input or {}, trigger="schedule",
                                      scheduled_for=tick)
        schedule.last_run_at = tick
        schedule.last_execution_id = execution.id
        audit.record(session, _scheduler(workspace_id), "execution.create", "execution",
                     execution.id, {"bot_id": str(bot_id), "version": bot.current_version,
                                    "trigger": "schedule", "scheduled_for": tick.isoformat()})
        session.commit()
        return 1


def _scheduler(workspace_id: uuid.UUID) -> Principal:
    """The actor of what the scheduler does: the system, not a user or a key."""
    return Principal(workspace_id=workspace_id, role="system",
                     origin=Origin(request_id="scheduler"))

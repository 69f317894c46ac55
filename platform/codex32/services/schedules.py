"""Bot schedules: one cron expression per bot, read in its own time zone.

A schedule stores the UTC time of its next tick; the worker's scheduler
(:mod:`codex32.execution.scheduler`) claims due ticks. Cron expressions have five fields
(minute resolution); time zones are IANA names. No Flask here.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from croniter import croniter
from sqlalchemy.orm import Session

from codex32.auth.principal import Principal
from codex32.db.models import BotSchedule
from codex32.errors import Conflict, Invalid, NotFound
from codex32.services import audit
from codex32.services.bots import get as get_bot
from codex32.services.executions import check_input

NEXT_RUNS = 5


def zone(name: str) -> ZoneInfo:
    """The IANA time zone ``name``; 422 for anything else."""
    try:
        if not name or "\x00" in name:
            raise ValueError(name)
        return ZoneInfo(name)
    except (ValueError, OSError, LookupError) as exc:  # ZoneInfoNotFoundError is a KeyError
        raise Invalid(f"unknown time zone {name!r}",
                      errors={"json": {"timezone": ["not an IANA time zone name"]}}) from exc


def next_runs(cron: str, timezone: str, after: datetime, count: int = NEXT_RUNS
              ) -> list[datetime]:
    """The next ``count`` ticks of ``cron`` after ``after``, in ``timezone``; 422 if invalid."""
    tz = zone(timezone)
    problem = _cron_problem(cron)
    if problem:
        raise Invalid(f"invalid cron expression: {problem}",
                      errors={"json": {"cron": [problem]}})
    try:
        ticks = croniter(cron, after.astimezone(tz))
        return [ticks.get_next(datetime) for _ in range(count)]
    except Exception as exc:  # croniter raises several types for expressions that never fire
        raise Invalid("the cron expression never fires",
                      errors={"json": {"cron": ["never fires"]}}) from exc


def next_run(cron: str, timezone: str, after: datetime) -> datetime:
    """The first tick after ``after``, in UTC."""
    return next_runs(cron, timezone, after, 1)[0].astimezone(UTC)


def _cron_problem(cron: str) -> str | None:
    if not cron or not cron.isprintable():
        return "must be five printable fields"
    if len(cron.split()) != 5:
        return "must have five fields: minute hour day-of-month month day-of-week"
    try:
        valid = croniter.is_valid(cron)
    except Exception:
        valid = False
    return None if valid else "not a valid cron expression"


def get(session: Session, bot_id: uuid.UUID) -> BotSchedule:
    """The bot's schedule (404 when the bot, or its schedule, does not exist)."""
    bot = get_bot(session, bot_id)
    schedule = session.get(BotSchedule, (bot.workspace_id, bot.id))
    if schedule is None:
        raise NotFound("the bot has no schedule")
    return schedule


def put(session: Session, principal: Principal, bot_id: uuid.UUID, *, cron: str,
        timezone: str = "UTC", enabled: bool = True,
        input: dict[str, Any] | None = None, audited: bool = True) -> BotSchedule:
    """Create or replace the bot's schedule; its next tick is computed from now (kept while
    cron, time zone and enabled stay). The schedule it has already is no mutation: nothing
    written, not audited; a change's audit row lists only the changed fields.

    ``audited=False``: the caller's own audit row records it (a builder accept, whose one row
    is the bot's)."""
    bot = get_bot(session, bot_id, lock=True)
    now = datetime.now(UTC)
    upcoming = next_run(cron, timezone, now)
    event = input or {}
    check_input(event)
    if enabled and bot.current_version == 0:
        raise Conflict("the bot has no code to run yet: add a version first")
    schedule = session.get(BotSchedule, (bot.workspace_id, bot.id))
    created = schedule is None
    if schedule is None:
        schedule = BotSchedule(workspace_id=bot.workspace_id, bot_id=bot.id,
                               created_by=principal.user_id, created_at=now)
        session.add(schedule)
    recorded = audit.apply_changes(schedule, {"cron": cron, "timezone": timezone,
                                              "enabled": enabled, "input": event})
    if not recorded and (schedule.next_run_at is not None) == enabled:
        return schedule  # the schedule it has: no mutation, nothing written
    if not enabled:
        schedule.next_run_at = None
    elif recorded.keys() & {"cron", "timezone", "enabled"} or schedule.next_run_at is None:
        schedule.next_run_at = upcoming
    schedule.updated_at = now
    if "input" in recorded:  # its keys, never its values
        diff = recorded.pop("input")
        recorded["input_keys"] = {side: audit.keys_of(value) for side, value in diff.items()}
    if audited:
        audit.record(session, principal, "schedule.update", "bot", bot.id,
                     _fields(schedule) if created else recorded)
    session.flush()
    return schedule


def _fields(schedule: BotSchedule) -> dict[str, Any]:
    return {"cron": schedule.cron, "timezone": schedule.timezone, "enabled": schedule.enabled,
            "input_keys": audit.keys_of(schedule.input)}


def remove(session: Session, principal: Principal, bot_id: uuid.UUID, *,
           audited: bool = True) -> None:
    """Delete the bot's schedule; runs it already queued are not affected.

    ``audited=False``: the caller's own audit row records it (a builder accept)."""
    schedule = get(session, bot_id)
    if audited:
        audit.record(session, principal, "schedule.delete", "bot", bot_id, _fields(schedule))
    session.delete(schedule)
    session.flush()


def upcoming(schedule: BotSchedule, count: int = NEXT_RUNS) -> list[datetime]:
    """The schedule's next ``count`` ticks in its time zone (none while disabled)."""
    if not schedule.enabled:
        return []
    start = schedule.next_run_at or datetime.now(UTC)
    first = start.astimezone(zone(schedule.timezone))
    return [first, *next_runs(schedule.cron, schedule.timezone, start, count - 1)]

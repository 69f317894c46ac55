"""Schedule endpoints: read, set and remove a bot's cron schedule. Thin: the service decides."""

from __future__ import annotations

from typing import Any

from marshmallow import fields, validate

from codex32.api.blueprint import Blueprint
from codex32.api.schemas import Output, Strict
from codex32.auth.guard import current_principal, requires
from codex32.auth.rbac import Permission
from codex32.db import db
from codex32.db.models import BotSchedule
from codex32.services import schedules

blp = Blueprint("schedules", __name__, url_prefix="/api/v1/bots",
                description="Schedules: run a bot on a cron expression, in a time zone.")


class ScheduleInputSchema(Strict):
    cron = fields.String(required=True, validate=validate.Length(min=1, max=255),
                         metadata={"description": "five fields, e.g. '*/15 * * * *'"})
    timezone = fields.String(load_default="UTC", validate=validate.Length(min=1, max=64),
                             metadata={"description": "an IANA name, e.g. 'Europe/Paris'"})
    enabled = fields.Boolean(load_default=True)
    input = fields.Dict(load_default=dict, metadata={"description": "the event of each run"})


class ScheduleSchema(Output):
    bot_id = fields.UUID(required=True)
    cron = fields.String(required=True)
    timezone = fields.String(required=True)
    enabled = fields.Boolean(required=True)
    input = fields.Dict(required=True)
    next_run_at = fields.DateTime(allow_none=True)
    next_runs = fields.List(fields.DateTime(), required=True,
                            metadata={"description": "the next five ticks, in the time zone"})
    last_run_at = fields.DateTime(allow_none=True)
    last_execution_id = fields.UUID(allow_none=True)
    skipped_runs = fields.Integer(required=True, metadata={
        "description": "ticks skipped because the bot was still queued or running"})
    last_skipped_at = fields.DateTime(allow_none=True)
    created_at = fields.DateTime(required=True)
    updated_at = fields.DateTime(required=True)


def shown(schedule: BotSchedule) -> dict[str, Any]:
    """A schedule as both API versions show it: with its next five ticks."""
    return {**schedule.column_values(), "next_runs": schedules.upcoming(schedule)}


@blp.route("/<uuid:bot_id>/schedule", methods=["GET"])
@requires(Permission.VIEW_BOTS)
@blp.response(200, ScheduleSchema)
def get_schedule(bot_id):
    """The bot's schedule and its next five ticks."""
    return shown(schedules.get(db.session, bot_id))


@blp.route("/<uuid:bot_id>/schedule", methods=["PUT"])
@requires(Permission.UPDATE_BOT)
@blp.arguments(ScheduleInputSchema)
@blp.response(200, ScheduleSchema)
def put_schedule(data, bot_id):
    """Set the bot's schedule (replacing any); 422 for an invalid cron or time zone."""
    return shown(schedules.put(db.session, current_principal(), bot_id, **data))


@blp.route("/<uuid:bot_id>/schedule", methods=["DELETE"])
@requires(Permission.UPDATE_BOT)
@blp.response(204)
def delete_schedule(bot_id):
    """Remove the bot's schedule."""
    schedules.remove(db.session, current_principal(), bot_id)

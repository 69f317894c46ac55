"""API v2 schedules of a bot: read, set, remove. The v1 shapes; the same service calls."""

from __future__ import annotations

from codex32.api.blueprint import Blueprint
from codex32.api.v1 import schedules as v1
from codex32.auth.guard import current_principal, requires
from codex32.auth.rbac import Permission
from codex32.db import db
from codex32.services import schedules

blp = Blueprint("v2_schedules", __name__, url_prefix="/api/v2/bots",
                description="Schedules: run a bot on a cron expression, in a time zone.")


@blp.route("/<uuid:bot_id>/schedule", methods=["GET"])
@requires(Permission.VIEW_BOTS)
@blp.response(200, v1.ScheduleSchema)
def get_schedule(bot_id):
    """The bot's schedule and its next five ticks."""
    return v1.shown(schedules.get(db.session, bot_id))


@blp.route("/<uuid:bot_id>/schedule", methods=["PUT"])
@requires(Permission.UPDATE_BOT)
@blp.arguments(v1.ScheduleInputSchema)
@blp.response(200, v1.ScheduleSchema)
def put_schedule(data, bot_id):
    """Set the bot's schedule (replacing any); 422 for an invalid cron or time zone."""
    return v1.shown(schedules.put(db.session, current_principal(), bot_id, **data))


@blp.route("/<uuid:bot_id>/schedule", methods=["DELETE"])
@requires(Permission.UPDATE_BOT)
@blp.response(204)
def delete_schedule(bot_id):
    """Remove the bot's schedule."""
    schedules.remove(db.session, current_principal(), bot_id)

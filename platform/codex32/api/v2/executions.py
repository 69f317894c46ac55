"""API v2 executions: run a bot (``Idempotency-Key`` as in v1), keyset lists with
``expand=bot``, read one, cancel. Thin: the same service calls as v1."""

from __future__ import annotations

from typing import Any

from marshmallow import fields

from codex32.api.blueprint import Blueprint
from codex32.api.schemas import Strict
from codex32.api.v1 import executions as v1
from codex32.api.v2.bots import BotSchema
from codex32.api.v2.lists import ListArgs, envelope, expand_field, keyset, list_of
from codex32.auth.guard import current_principal, requires
from codex32.auth.rbac import Permission
from codex32.db import db
from codex32.services import executions, related

blp = Blueprint("v2_executions", __name__, url_prefix="/api/v2",
                description="Executions: runs of a bot, queued and run by the workers.")
EXPANDABLE = ("bot",)
_BOT = fields.Nested(BotSchema, allow_none=True, metadata={
    "description": "the bot; only with expand=bot (null: deleted since)"})


class ExecutionSummarySchema(v1.ExecutionSummarySchema):
    bot = _BOT


class ExecutionSchema(v1.ExecutionSchema):
    bot = _BOT


class ExpandArgs(Strict):
    expand = expand_field(*EXPANDABLE)


class ExecutionListArgs(ListArgs):
    status = v1.ExecutionListArgs._declared_fields["status"]
    trigger = v1.ExecutionListArgs._declared_fields["trigger"]
    bot_id = v1.ExecutionListArgs._declared_fields["bot_id"]
    expand = expand_field(*EXPANDABLE)


class BotExecutionListArgs(ListArgs):
    status = v1.BotExecutionListArgs._declared_fields["status"]
    expand = expand_field(*EXPANDABLE)


def expanded(items: list[dict[str, Any]], expand: list[str]) -> list[dict[str, Any]]:
    """``items`` (executions) with their bots when asked, in one query for them all."""
    if "bot" not in expand:
        return items
    found = related.bots_by_id(db.session, (item["bot_id"] for item in items))
    return [{**item, "bot": found.get(item["bot_id"])} for item in items]


def _listed(found: Any, name: str, expand: list[str]) -> dict[str, Any]:
    answer = envelope(found, name)
    return {**answer, "data": expanded(answer["data"], expand)}


@blp.route("/bots/<uuid:bot_id>/executions", methods=["POST"])
@requires(Permission.EXECUTE_BOT)
@blp.arguments(v1.ExecutionCreateSchema)
@blp.response(202, ExecutionSchema)
@blp.alt_response(200, schema=ExecutionSchema,
                  description="the execution an earlier request with this Idempotency-Key made")
@blp.doc(parameters=[v1.IDEMPOTENCY_DOC])
def create_execution(data, bot_id):
    """Queue a run of the bot; poll the execution (or its Location) for the outcome."""
    execution, created = executions.enqueue(
        db.session, current_principal(), bot_id, input=data["input"],
        version=data.get("version"), idempotency_key=v1.idempotency_key())
    return (execution, 202 if created else 200,
            {"Location": f"/api/v2/executions/{execution.id}"})


@blp.route("/bots/<uuid:bot_id>/executions", methods=["GET"])
@requires(Permission.VIEW_BOTS)
@blp.arguments(BotExecutionListArgs, location="query")
@blp.response(200, list_of(ExecutionSummarySchema, "BotExecutionList"))
def list_bot_executions(args, bot_id):
    """Runs of one bot, newest first (without logs, input and result)."""
    name, expand = f"executions:{bot_id}", args.pop("expand")
    request = keyset(args, name)
    return _listed(executions.list_for_bot(db.session, bot_id, request, **args), name, expand)


@blp.route("/executions", methods=["GET"])
@requires(Permission.VIEW_BOTS)
@blp.arguments(ExecutionListArgs, location="query")
@blp.response(200, list_of(ExecutionSummarySchema, "ExecutionList"))
def list_executions(args):
    """Runs of every bot in the workspace, newest first; filter by status, trigger or bot."""
    expand = args.pop("expand")
    request = keyset(args, "executions")
    return _listed(executions.list_executions(db.session, request, **args), "executions",
                   expand)


@blp.route("/executions/<uuid:execution_id>", methods=["GET"])
@requires(Permission.VIEW_BOTS)
@blp.arguments(ExpandArgs, location="query")
@blp.response(200, ExecutionSchema)
def get_execution(args, execution_id):
    """One execution: status, input, result, error, logs and resource usage."""
    return expanded([executions.detail(db.session, execution_id)], args["expand"])[0]


@blp.route("/executions/<uuid:execution_id>/cancel", methods=["POST"])
@requires(Permission.EXECUTE_BOT)
@blp.response(202, ExecutionSchema)
@blp.alt_response(200, schema=ExecutionSchema,
                  description="cancelled at once: it was queued, or no worker holds its run")
def cancel_execution(execution_id):
    """Cancel a run: at once (200) when it is queued or no worker holds it any more, a running
    one within two seconds (202)."""
    execution, ended = executions.cancel(db.session, current_principal(), execution_id)
    return execution, 200 if ended else 202

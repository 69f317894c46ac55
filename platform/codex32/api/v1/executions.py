"""Execution endpoints: run a bot, read its runs, cancel one. Thin: the service does the work."""

from __future__ import annotations

from flask import request
from marshmallow import fields, validate

from codex32.api.blueprint import Blueprint
from codex32.api.schemas import Output, PageArgs, Strict, page_of
from codex32.auth.guard import current_principal, requires
from codex32.auth.rbac import Permission
from codex32.db import db
from codex32.services import executions
from codex32.services.pages import PageRequest
from codex32.services.versions import MAX_NUMBER

blp = Blueprint("executions", __name__, url_prefix="/api/v1",
                description="Executions: runs of a bot, queued and run by the workers.")

IDEMPOTENCY_HEADER = "Idempotency-Key"
IDEMPOTENCY_DOC = {
    "in": "header", "name": IDEMPOTENCY_HEADER, "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": 255},
    "description": "repeat a request with the same key (within the workspace) to get the "
                   "execution the first one created instead of a second run"}


class ExecutionCreateSchema(Strict):
    input = fields.Dict(load_default=dict, metadata={"description": "the event the bot gets"})
    version = fields.Integer(validate=validate.Range(min=1, max=MAX_NUMBER),
                             metadata={"description": "default: the bot's current version"})


class ExecutionSummarySchema(Output):
    id = fields.UUID(required=True)
    bot_id = fields.UUID(required=True)
    version = fields.Integer(required=True)
    status = fields.String(required=True, metadata={"enum": list(executions.STATUSES)})
    trigger = fields.String(required=True, metadata={"enum": list(executions.TRIGGERS)})
    attempt = fields.Integer(required=True)
    cancel_requested = fields.Boolean(required=True)
    retry_of = fields.UUID(allow_none=True)
    scheduled_for = fields.DateTime(allow_none=True)
    error = fields.Dict(allow_none=True, metadata={
        "description": "type, message and traceback (the bot's own frames) when it failed"})
    queued_at = fields.DateTime(required=True)
    started_at = fields.DateTime(allow_none=True)
    completed_at = fields.DateTime(allow_none=True)
    duration_seconds = fields.Float(allow_none=True)
    cpu_seconds = fields.Float(allow_none=True)
    peak_memory_bytes = fields.Integer(allow_none=True)


class ExecutionSchema(ExecutionSummarySchema):
    input = fields.Dict(required=True)
    result = fields.Raw(allow_none=True)
    logs = fields.String(required=True, metadata={"description": "captured output, capped"})
    logs_truncated = fields.Boolean(required=True)
    retried_by = fields.UUID(allow_none=True)


class ExecutionListArgs(PageArgs):
    status = fields.String(validate=validate.OneOf(executions.STATUSES))
    trigger = fields.String(validate=validate.OneOf(executions.TRIGGERS))
    bot_id = fields.UUID()


class BotExecutionListArgs(PageArgs):
    status = fields.String(validate=validate.OneOf(executions.STATUSES))


ExecutionPageSchema = page_of(ExecutionSummarySchema, "ExecutionPage")


def idempotency_key() -> str | None:
    """The request's Idempotency-Key header (both API versions); 422 when malformed."""
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if key is None:
        return None
    executions.check_idempotency_key(key, IDEMPOTENCY_HEADER, "headers")
    return key


@blp.route("/bots/<uuid:bot_id>/executions", methods=["POST"])
@requires(Permission.EXECUTE_BOT)
@blp.arguments(ExecutionCreateSchema)
@blp.response(202, ExecutionSchema)
@blp.alt_response(200, schema=ExecutionSchema,
                  description="the execution an earlier request with this Idempotency-Key made")
@blp.doc(parameters=[IDEMPOTENCY_DOC])
def create_execution(data, bot_id):
    """Queue a run of the bot; poll the execution (or its Location) for the outcome."""
    execution, created = executions.enqueue(
        db.session, current_principal(), bot_id, input=data["input"],
        version=data.get("version"), idempotency_key=idempotency_key())
    return (execution, 202 if created else 200,
            {"Location": f"/api/v1/executions/{execution.id}"})


@blp.route("/bots/<uuid:bot_id>/executions", methods=["GET"])
@requires(Permission.VIEW_BOTS)
@blp.arguments(BotExecutionListArgs, location="query")
@blp.response(200, ExecutionPageSchema)
def list_bot_executions(args, bot_id):
    """Runs of one bot, newest first (without logs, input and result)."""
    page = PageRequest(args.pop("page"), args.pop("page_size"))
    return executions.list_for_bot(db.session, bot_id, page, **args)


@blp.route("/executions", methods=["GET"])
@requires(Permission.VIEW_BOTS)
@blp.arguments(ExecutionListArgs, location="query")
@blp.response(200, ExecutionPageSchema)
def list_executions(args):
    """Runs of every bot in the workspace, newest first; filter by status, trigger or bot."""
    page = PageRequest(args.pop("page"), args.pop("page_size"))
    return executions.list_executions(db.session, page, **args)


@blp.route("/executions/<uuid:execution_id>", methods=["GET"])
@requires(Permission.VIEW_BOTS)
@blp.response(200, ExecutionSchema)
def get_execution(execution_id):
    """One execution: status, input, result, error, logs and resource usage."""
    return executions.detail(db.session, execution_id)


@blp.route("/executions/<uuid:execution_id>/cancel", methods=["POST"])
@requires(Permission.EXECUTE_BOT)
@blp.response(202, ExecutionSchema)
@blp.alt_response(200, schema=ExecutionSchema,
                  description="cancelled at once: it was queued, or no worker holds its run")
@blp.alt_response(409, description="it has already ended")
def cancel_execution(execution_id):
    """Cancel a run: at once (200) when it is queued or no worker holds it any more, a running
    one within two seconds (202)."""
    execution, ended = executions.cancel(db.session, current_principal(), execution_id)
    return execution, 200 if ended else 202

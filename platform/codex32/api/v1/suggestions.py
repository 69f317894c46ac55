"""Bot suggestions: what to improve in a bot, each ready to start a refine conversation."""

from __future__ import annotations

from marshmallow import fields, validate

from codex32.api import transaction
from codex32.api.blueprint import Blueprint
from codex32.api.schemas import Output, Strict
from codex32.auth.guard import current_principal, requires
from codex32.auth.rbac import Permission
from codex32.db import db
from codex32.services import gateway
from codex32.services.builder import suggestions

blp = Blueprint("suggestions", __name__, url_prefix="/api/v1/bots",
                description="Suggestions: features, optimizations, tests and reliability fixes "
                            "for a bot.")

LEVELS = ("high", "medium", "low")


class SuggestionArgs(Strict):
    model = fields.Boolean(load_default=True, metadata={
        "description": "ask the workspace's language model too (members who may use the "
                       "builder; the call is billed to the workspace, purpose builder)"})


class RefineCallSchema(Output):
    method = fields.String(required=True)
    path = fields.String(required=True)
    body = fields.Dict(required=True, metadata={"description": "{message, bot_id}"})


class SuggestionSchema(Output):
    id = fields.String(required=True, metadata={"description": "stable per rule and bot"})
    kind = fields.String(required=True, validate=validate.OneOf(
        ("feature", "optimization", "test", "reliability")))
    title = fields.String(required=True)
    detail = fields.String(required=True)
    impact = fields.String(required=True, validate=validate.OneOf(LEVELS))
    effort = fields.String(required=True, validate=validate.OneOf(LEVELS))
    source = fields.String(required=True, validate=validate.OneOf(("static", "history",
                                                                     "model")))
    message = fields.String(required=True, metadata={
        "description": "the message that starts a refine conversation"})
    refine = fields.Nested(RefineCallSchema, required=True, metadata={
        "description": "the call that starts the refine conversation"})


class ErrorTypeSchema(Output):
    type = fields.String(required=True)
    count = fields.Integer(required=True)


class HistorySchema(Output):
    runs = fields.Integer(required=True)
    failed = fields.Integer(required=True)
    timed_out = fields.Integer(required=True)
    retries = fields.Integer(required=True)
    p50_seconds = fields.Float(allow_none=True)
    p95_seconds = fields.Float(allow_none=True)
    errors = fields.List(fields.Nested(ErrorTypeSchema), required=True)


class ModelUseSchema(Output):
    asked = fields.Boolean(required=True)
    error = fields.String(allow_none=True)


class SuggestionsSchema(Output):
    bot_id = fields.String(required=True)
    version = fields.Integer(required=True)
    suggestions = fields.List(fields.Nested(SuggestionSchema), required=True)
    history = fields.Nested(HistorySchema, required=True)
    model = fields.Nested(ModelUseSchema, required=True)


@blp.route("/<uuid:bot_id>/suggestions", methods=["GET"])
@requires(Permission.VIEW_BOTS)
@blp.arguments(SuggestionArgs, location="query")
@blp.response(200, SuggestionsSchema)
def bot_suggestions(args, bot_id):
    """Suggestions for a bot from its code, its execution history and (when configured) the
    workspace's model, most impact first."""
    principal = current_principal()
    review = suggestions.prepare(db.session, principal, bot_id, use_model=args["model"])
    transaction.end()  # the model may take seconds: hold no connection meanwhile
    return review.report(gateway.Caller(user_id=principal.user_id,
                                        api_key_id=principal.api_key_id, bot_id=bot_id))

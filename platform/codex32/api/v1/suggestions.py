"""Bot suggestions: what to improve in a bot, each ready to start a refine conversation."""

from __future__ import annotations

from marshmallow import fields, validate

from codex32.api import transaction
from codex32.api.blueprint import Blueprint
from codex32.api.schemas import Output
from codex32.auth.guard import current_principal, requires
from codex32.auth.rbac import Permission
from codex32.db import db
from codex32.services import gateway
from codex32.services.builder import suggestions

blp = Blueprint("suggestions", __name__, url_prefix="/api/v1/bots",
                description="Suggestions: features, optimizations, tests and reliability fixes "
                            "for a bot.")

LEVELS = ("high", "medium", "low")


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
@blp.response(200, SuggestionsSchema)
def bot_suggestions(bot_id):
    """Suggestions for a bot from its code and its execution history, most impact first.

    Safe to repeat: it never asks the language model (nothing is billed). ``POST`` to the
    same path asks the model too."""
    review = suggestions.prepare(db.session, current_principal(), bot_id, use_model=False)
    return review.report(gateway.Caller())


@blp.route("/<uuid:bot_id>/suggestions", methods=["POST"])
@requires(Permission.USE_BUILDER)
@blp.response(200, SuggestionsSchema)
def ask_for_suggestions(bot_id):
    """Suggestions for a bot with the workspace's language model's too, most impact first.

    One gateway call billed to the workspace when it has a model (purpose ``builder``, the
    bot as caller; a budget may refuse it). Nothing is stored: each POST asks again."""
    principal = current_principal()
    review = suggestions.prepare(db.session, principal, bot_id, use_model=True)
    transaction.end()  # the model may take seconds: hold no connection meanwhile
    return review.report(gateway.Caller(user_id=principal.user_id,
                                        api_key_id=principal.api_key_id, bot_id=bot_id))

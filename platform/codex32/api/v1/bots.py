"""Bot endpoints: create (from code or a template), list, read, update, delete."""

from __future__ import annotations

from typing import Any

from flask import current_app
from marshmallow import ValidationError, fields, validate, validates_schema

from codex32 import runtime
from codex32.api import transaction
from codex32.api.blueprint import Blueprint
from codex32.api.schemas import (
    Output,
    PageArgs,
    Strict,
    code_size,
    description_length,
    name_length,
    page_of,
)
from codex32.auth.guard import current_principal, requires
from codex32.auth.rbac import Permission
from codex32.db import db
from codex32.db.models import Bot
from codex32.services import bots
from codex32.services.bot_settings import NOTIFY_ON
from codex32.services.pages import PageRequest

blp = Blueprint("bots", __name__, url_prefix="/api/v1/bots",
                description="Bots: named programs whose code lives in versions.")


def _at_most(setting: str, minimum: int):
    """A validator: ``minimum`` up to the platform maximum named ``setting``."""
    def check(value: int) -> None:
        bound = getattr(runtime.of(current_app).settings, setting)
        if not minimum <= value <= bound:
            raise ValidationError(f"must be between {minimum} and {bound}")
    return check


def _network_allowed(value: bool) -> None:
    if value and not runtime.of(current_app).settings.allow_bot_network:
        raise ValidationError("this platform does not allow bots on the network")


class NotificationRuleSchema(Strict):
    notifier = fields.String(required=True, validate=validate.Length(min=1, max=100),
                             metadata={"description": "a notifier plugin id, e.g. 'webhook'"})
    on = fields.List(fields.String(validate=validate.OneOf(NOTIFY_ON)), required=True,
                     validate=validate.Length(min=1, max=len(NOTIFY_ON)))


class BotSettingsSchema(Strict):
    """How the bot runs; each value is bounded by the workspace's and the platform's maxima.
    ``null`` removes a value (its default applies again)."""

    timeout_seconds = fields.Integer(allow_none=True,
                                     validate=_at_most("max_timeout_seconds", 1))
    cpu_seconds = fields.Integer(allow_none=True, validate=_at_most("max_timeout_seconds", 1),
                                 metadata={"description": "default: the timeout"})
    memory_mb = fields.Integer(allow_none=True, validate=_at_most("max_memory_mb", 64))
    max_retries = fields.Integer(allow_none=True, validate=_at_most("max_retries", 0))
    retry_backoff_seconds = fields.Integer(allow_none=True,
                                           validate=_at_most("max_retry_backoff_seconds", 0))
    network = fields.Boolean(allow_none=True, validate=_network_allowed)
    notifications = fields.List(fields.Nested(NotificationRuleSchema), allow_none=True,
                                validate=validate.Length(max=10))


class BotCreateSchema(Strict):
    name = fields.String(required=True, validate=name_length)
    description = fields.String(load_default="", validate=description_length)
    code = fields.String(load_default=None, validate=code_size)
    status = fields.String(load_default="draft", validate=validate.OneOf(bots.STATUSES))
    message = fields.String(load_default="", validate=validate.Length(max=1000))
    template = fields.String(validate=validate.Length(min=1, max=100),
                             metadata={"description": "a template id from /templates"})
    generator = fields.String(validate=validate.Length(min=1, max=100))
    parameters = fields.Dict(metadata={"description": "the template's parameters"})
    settings = fields.Nested(BotSettingsSchema)

    @validates_schema
    def _code_or_template(self, data, **kwargs):
        if data.get("template") and data.get("code") is not None:
            raise ValidationError("give code or a template, not both", "template")
        if not data.get("template") and ("parameters" in data or "generator" in data):
            raise ValidationError("parameters and generator need a template", "template")


class BotUpdateSchema(Strict):
    name = fields.String(validate=name_length)
    description = fields.String(validate=description_length)
    status = fields.String(validate=validate.OneOf(bots.STATUSES))
    code = fields.String(validate=code_size,
                         metadata={"description": "new code becomes a new version"})
    message = fields.String(validate=validate.Length(max=1000))
    settings = fields.Nested(BotSettingsSchema, metadata={
        "description": "merged into the current settings key by key"})


class BotSchema(Output):
    id = fields.UUID(required=True)
    name = fields.String(required=True)
    description = fields.String(required=True)
    status = fields.String(required=True)
    owner_id = fields.UUID(allow_none=True)
    current_version = fields.Integer(required=True)
    created_at = fields.DateTime(required=True)
    updated_at = fields.DateTime(required=True)


class BotDetailSchema(BotSchema):
    settings = fields.Dict(required=True)


class BotListArgs(PageArgs):
    status = fields.String(validate=validate.OneOf(bots.STATUSES))
    q = fields.String(validate=validate.Length(min=1, max=255),
                      metadata={"description": "substring of name or description"})


BotPageSchema = page_of(BotSchema, "BotPage")


@blp.route("", methods=["POST"])
@requires(Permission.CREATE_BOT)
@blp.arguments(BotCreateSchema)
@blp.response(201, BotDetailSchema)
def create_bot(data):
    """Create a bot from code or a template; the code is compiled and stored as version 1."""
    return create_from(data)


def create_from(data: dict[str, Any]) -> Bot:
    """Create a bot from parsed input (both API versions): from a template, the generation
    runs with no connection held."""
    if data.get("template"):
        data.pop("code", None)
        generation = bots.prepare_from_template(
            db.session, current_principal(), name=data["name"], template=data["template"],
            generator=data.get("generator"), parameters=data.get("parameters"),
            description=data["description"])
        transaction.end()  # the generator may take seconds: hold no connection meanwhile
        return bots.create_from_template(
            db.session, current_principal(), generation.run(),
            platform_network=runtime.of(current_app).settings.allow_bot_network, **data)
    return bots.create(db.session, current_principal(), **data)


@blp.route("", methods=["GET"])
@requires(Permission.VIEW_BOTS)
@blp.arguments(BotListArgs, location="query")
@blp.response(200, BotPageSchema)
def list_bots(args):
    """Bots of the workspace, newest first; filter by status or a substring."""
    page = PageRequest(args.pop("page"), args.pop("page_size"))
    return bots.list_bots(db.session, page, **args)


@blp.route("/<uuid:bot_id>", methods=["GET"])
@requires(Permission.VIEW_BOTS)
@blp.response(200, BotDetailSchema)
def get_bot(bot_id):
    """One bot."""
    return bots.get(db.session, bot_id)


@blp.route("/<uuid:bot_id>", methods=["PATCH"])
@requires(Permission.UPDATE_BOT)
@blp.arguments(BotUpdateSchema)
@blp.response(200, BotDetailSchema)
def update_bot(data, bot_id):
    """Change a bot; new code creates a new version."""
    return bots.update(db.session, current_principal(), bot_id, data)


@blp.route("/<uuid:bot_id>", methods=["DELETE"])
@requires(Permission.DELETE_BOT)
@blp.response(204)
def delete_bot(bot_id):
    """Delete a bot with its versions and executions."""
    bots.remove(db.session, current_principal(), bot_id)

"""API v2 bots: the v1 resource with keyset lists and ``expand=latest_version``.

Thin: the v1 input schemas, the same service calls (:mod:`codex32.services.bots`), v2's
list envelope. Creating from a template is v1's view itself, so both versions share it.
"""

from __future__ import annotations

from typing import Any

from marshmallow import fields

from codex32.api.blueprint import Blueprint
from codex32.api.schemas import Strict
from codex32.api.v1 import bots as v1
from codex32.api.v1.versions import VersionSummarySchema
from codex32.api.v2.lists import ListArgs, envelope, expand_field, keyset, list_of
from codex32.auth.guard import current_principal, requires
from codex32.auth.rbac import Permission
from codex32.db import db
from codex32.services import bots, related

blp = Blueprint("v2_bots", __name__, url_prefix="/api/v2/bots",
                description="Bots: named programs whose code lives in versions.")
LIST = "bots"
EXPANDABLE = ("latest_version",)


class BotSchema(v1.BotSchema):
    latest_version = fields.Nested(VersionSummarySchema, allow_none=True, metadata={
        "description": "the current (latest) version, without code; only with "
                       "expand=latest_version (null: the bot has no code yet)"})


class BotDetailSchema(BotSchema):
    settings = fields.Dict(required=True)


class BotListArgs(ListArgs):
    status = v1.BotListArgs._declared_fields["status"]
    q = v1.BotListArgs._declared_fields["q"]
    expand = expand_field(*EXPANDABLE)


class ExpandArgs(Strict):
    expand = expand_field(*EXPANDABLE)


def expanded(items: list[Any], expand: list[str]) -> list[Any]:
    """``items`` (bots, as rows or objects) with the related objects asked for, one query
    per kind for them all."""
    if "latest_version" not in expand:
        return items
    shown = [row if isinstance(row, dict) else row.column_values() for row in items]
    found = related.current_versions(db.session, ((row["id"], row["current_version"])
                                                  for row in shown))
    return [{**row, "latest_version": found.get(row["id"])} for row in shown]


@blp.route("", methods=["POST"])
@requires(Permission.CREATE_BOT)
@blp.arguments(v1.BotCreateSchema)
@blp.response(201, BotDetailSchema)
def create_bot(data):
    """Create a bot from code or a template; the code is compiled and stored as version 1."""
    return v1.create_from(data)


@blp.route("", methods=["GET"])
@requires(Permission.VIEW_BOTS)
@blp.arguments(BotListArgs, location="query")
@blp.response(200, list_of(BotSchema, "BotList"))
def list_bots(args):
    """Bots of the workspace, newest first; filter by status or a substring."""
    request, expand = keyset(args, LIST), args.pop("expand")
    found = envelope(bots.list_bots(db.session, request, **args), LIST)
    return {**found, "data": expanded(found["data"], expand)}


@blp.route("/<uuid:bot_id>", methods=["GET"])
@requires(Permission.VIEW_BOTS)
@blp.arguments(ExpandArgs, location="query")
@blp.response(200, BotDetailSchema)
def get_bot(args, bot_id):
    """One bot."""
    return expanded([bots.get(db.session, bot_id)], args["expand"])[0]


@blp.route("/<uuid:bot_id>", methods=["PATCH"])
@requires(Permission.UPDATE_BOT)
@blp.arguments(v1.BotUpdateSchema)
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

"""Version endpoints: list, add, read one, roll back."""

from __future__ import annotations

from marshmallow import fields, validate

from codex32.api.blueprint import Blueprint
from codex32.api.schemas import Output, PageArgs, Strict, code_size, page_of
from codex32.auth.guard import current_principal, requires
from codex32.auth.rbac import Permission
from codex32.db import db
from codex32.services import versions
from codex32.services.pages import PageRequest

blp = Blueprint("versions", __name__, url_prefix="/api/v1/bots",
                description="Immutable, numbered versions of a bot's code.")


class VersionCreateSchema(Strict):
    code = fields.String(required=True, validate=code_size)
    message = fields.String(load_default="", validate=validate.Length(max=1000))


class RollbackSchema(Strict):
    version = fields.Integer(required=True, validate=validate.Range(min=1))


class VersionSummarySchema(Output):
    id = fields.UUID(required=True)
    bot_id = fields.UUID(required=True)
    number = fields.Integer(required=True)
    message = fields.String(required=True)
    created_by = fields.UUID(allow_none=True)
    created_at = fields.DateTime(required=True)


class VersionSchema(VersionSummarySchema):
    code = fields.String(required=True)
    files = fields.Dict(keys=fields.String(), values=fields.String(),
                        metadata={"description": "other generated files by path"})


VersionPageSchema = page_of(VersionSummarySchema, "VersionPage")


@blp.route("/<uuid:bot_id>/versions", methods=["GET"])
@requires(Permission.VIEW_BOTS)
@blp.arguments(PageArgs, location="query")
@blp.response(200, VersionPageSchema)
def list_versions(args, bot_id):
    """Versions of a bot, newest first (without code)."""
    return versions.list_versions(db.session, bot_id, PageRequest(**args))


@blp.route("/<uuid:bot_id>/versions", methods=["POST"])
@requires(Permission.UPDATE_BOT)
@blp.arguments(VersionCreateSchema)
@blp.response(201, VersionSchema)
def create_version(data, bot_id):
    """Add a version; it becomes the bot's current version."""
    return versions.create(db.session, current_principal(), bot_id, data["code"],
                           data["message"])


@blp.route("/<uuid:bot_id>/versions/<int:number>", methods=["GET"])
@requires(Permission.VIEW_BOTS)
@blp.response(200, VersionSchema)
def get_version(bot_id, number):
    """One version with its code (another workspace's bot's versions are 404, by RLS)."""
    return versions.get(db.session, bot_id, number)


@blp.route("/<uuid:bot_id>/rollback", methods=["POST"])
@requires(Permission.UPDATE_BOT)
@blp.arguments(RollbackSchema)
@blp.response(201, VersionSchema)
def rollback(data, bot_id):
    """Add a new version carrying an older version's code."""
    return versions.rollback(db.session, current_principal(), bot_id, data["version"])

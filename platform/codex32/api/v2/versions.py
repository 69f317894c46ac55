"""API v2 versions of a bot: keyset list, add, read one, roll back. Thin, as in v1."""

from __future__ import annotations

from codex32.api.blueprint import Blueprint
from codex32.api.v1 import versions as v1
from codex32.api.v2.lists import ListArgs, envelope, keyset, list_of
from codex32.auth.guard import current_principal, requires
from codex32.auth.rbac import Permission
from codex32.db import db
from codex32.services import versions

blp = Blueprint("v2_versions", __name__, url_prefix="/api/v2/bots",
                description="Immutable, numbered versions of a bot's code.")


@blp.route("/<uuid:bot_id>/versions", methods=["GET"])
@requires(Permission.VIEW_BOTS)
@blp.arguments(ListArgs, location="query")
@blp.response(200, list_of(v1.VersionSummarySchema, "VersionList"))
def list_versions(args, bot_id):
    """Versions of a bot, newest first (without code)."""
    name = f"versions:{bot_id}"
    return envelope(versions.list_versions(db.session, bot_id, keyset(args, name)), name)


@blp.route("/<uuid:bot_id>/versions", methods=["POST"])
@requires(Permission.UPDATE_BOT)
@blp.arguments(v1.VersionCreateSchema)
@blp.response(201, v1.VersionSchema)
def create_version(data, bot_id):
    """Add a version; it becomes the bot's current version."""
    return versions.create(db.session, current_principal(), bot_id, data["code"],
                           data["message"])


@blp.route("/<uuid:bot_id>/versions/<int:number>", methods=["GET"])
@requires(Permission.VIEW_BOTS)
@blp.response(200, v1.VersionSchema)
def get_version(bot_id, number):
    """One version with its code."""
    return versions.get(db.session, bot_id, number)


@blp.route("/<uuid:bot_id>/rollback", methods=["POST"])
@requires(Permission.UPDATE_BOT)
@blp.arguments(v1.RollbackSchema)
@blp.response(201, v1.VersionSchema)
def rollback(data, bot_id):
    """Add a new version carrying an older version's code."""
    return versions.rollback(db.session, current_principal(), bot_id, data["version"])

"""Bot secret endpoints: set, list (names only) and delete the secrets bots read as
``context.secrets``, workspace-wide or per bot. Thin: the service does the work; a value
goes in and never comes out."""

from __future__ import annotations

from marshmallow import fields, validate

from codex32.api.blueprint import Blueprint
from codex32.api.schemas import Output, Strict
from codex32.auth.guard import current_principal, requires
from codex32.auth.rbac import Permission
from codex32.db import db
from codex32.services import bot_secrets

blp = Blueprint("secrets", __name__, url_prefix="/api/v1",
                description="Bot secrets: write-only values a bot reads as context.secrets.")


class SecretPutSchema(Strict):
    value = fields.String(required=True, validate=validate.Length(min=1), metadata={
        "description": f"write-only, at most {bot_secrets.MAX_VALUE_BYTES} bytes; never "
                       "shown again"})


class SecretSchema(Output):
    name = fields.String(required=True)
    scope = fields.String(required=True, metadata={"enum": ["workspace", "bot"]})
    bot_id = fields.UUID(allow_none=True)
    updated_at = fields.DateTime(required=True)


@blp.route("/secrets", methods=["GET"])
@requires(Permission.VIEW_PROVIDERS)
@blp.response(200, SecretSchema(many=True))
def list_secrets():
    """The workspace-wide secrets' names, never their values."""
    return bot_secrets.list_names(db.session)


@blp.route("/secrets/<string:name>", methods=["PUT"])
@requires(Permission.MANAGE_PROVIDERS)
@blp.arguments(SecretPutSchema)
@blp.response(200, SecretSchema)
@blp.alt_response(201, schema=SecretSchema, description="the secret is new")
def put_secret(data, name):
    """Set a secret every bot of the workspace gets (a bot's own secret of the name wins).

    Names match ``^[A-Za-z_][A-Za-z0-9_]{0,63}$`` (case matters).
    """
    shown, created = bot_secrets.put(db.session, current_principal(), name, data["value"])
    return shown, 201 if created else 200


@blp.route("/secrets/<string:name>", methods=["DELETE"])
@requires(Permission.MANAGE_PROVIDERS)
@blp.response(204)
def delete_secret(name):
    """Delete a workspace-wide secret."""
    bot_secrets.remove(db.session, current_principal(), name)


@blp.route("/bots/<uuid:bot_id>/secrets", methods=["GET"])
@requires(Permission.UPDATE_BOT)
@blp.response(200, SecretSchema(many=True))
def list_bot_secrets(bot_id):
    """What a run of the bot gets: its own secrets and the workspace's it does not override
    (names and scope, never values)."""
    return bot_secrets.list_names(db.session, bot_id)


@blp.route("/bots/<uuid:bot_id>/secrets/<string:name>", methods=["PUT"])
@requires(Permission.UPDATE_BOT)
@blp.arguments(SecretPutSchema)
@blp.response(200, SecretSchema)
@blp.alt_response(201, schema=SecretSchema, description="the secret is new")
def put_bot_secret(data, bot_id, name):
    """Set a secret only this bot gets; it wins over a workspace secret of the same name."""
    shown, created = bot_secrets.put(db.session, current_principal(), name, data["value"],
                                     bot_id=bot_id)
    return shown, 201 if created else 200


@blp.route("/bots/<uuid:bot_id>/secrets/<string:name>", methods=["DELETE"])
@requires(Permission.UPDATE_BOT)
@blp.response(204)
def delete_bot_secret(bot_id, name):
    """Delete one of the bot's own secrets."""
    bot_secrets.remove(db.session, current_principal(), name, bot_id=bot_id)

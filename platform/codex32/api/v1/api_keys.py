"""API key endpoints: mint (the key is shown once), list, delete."""

from __future__ import annotations

from marshmallow import fields, validate

from codex32.api.blueprint import Blueprint
from codex32.api.schemas import Output, Strict, name_length
from codex32.auth.guard import current_principal, requires
from codex32.auth.rbac import ROLES, Permission
from codex32.db import db
from codex32.services import api_keys

blp = Blueprint("api_keys", __name__, url_prefix="/api/v1/api-keys",
                description="API keys bound to the workspace and a role.")


class ApiKeyCreateSchema(Strict):
    name = fields.String(required=True, validate=name_length)
    role = fields.String(required=True, validate=validate.OneOf(ROLES))
    expires_at = fields.AwareDateTime(load_default=None, default_timezone=None)


class ApiKeySchema(Output):
    id = fields.UUID(required=True)
    name = fields.String(required=True)
    prefix = fields.String(required=True)
    role = fields.String(required=True)
    created_by = fields.UUID(allow_none=True)
    expires_at = fields.DateTime(allow_none=True)
    created_at = fields.DateTime(required=True)


class MintedKeySchema(ApiKeySchema):
    key = fields.String(required=True, metadata={"description": "shown once; store it now"})


@blp.route("", methods=["POST"])
@requires(Permission.MANAGE_KEYS)
@blp.arguments(ApiKeyCreateSchema)
@blp.response(201, MintedKeySchema)
def create_key(data):
    """Mint a key; use it as ``Authorization: Bearer <key>`` or ``X-API-Key``."""
    minted = api_keys.mint(db.session, current_principal(), data["name"], data["role"],
                           data["expires_at"])
    return {**minted.record.column_values(), "key": minted.key}


@blp.route("", methods=["GET"])
@requires(Permission.MANAGE_KEYS)
@blp.response(200, ApiKeySchema(many=True))
def list_keys():
    """Keys of the workspace (never their secret part)."""
    return api_keys.list_keys(db.session)


@blp.route("/<uuid:key_id>", methods=["GET"])
@requires(Permission.MANAGE_KEYS)
@blp.response(200, ApiKeySchema)
def get_key(key_id):
    """One key's metadata."""
    return api_keys.get(db.session, key_id)


@blp.route("/<uuid:key_id>", methods=["DELETE"])
@requires(Permission.MANAGE_KEYS)
@blp.response(204)
def delete_key(key_id):
    """Delete a key; it stops working at once."""
    api_keys.remove(db.session, current_principal(), key_id)

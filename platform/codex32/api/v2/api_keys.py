"""API v2 API keys: mint (the key is shown once), list, read, delete. v1's shapes, the same
service calls; the list comes in v2's envelope."""

from __future__ import annotations

from codex32.api.blueprint import Blueprint
from codex32.api.v1 import api_keys as v1
from codex32.api.v2.lists import list_of, whole
from codex32.auth.guard import current_principal, requires
from codex32.auth.rbac import Permission
from codex32.db import db
from codex32.services import api_keys

blp = Blueprint("v2_api_keys", __name__, url_prefix="/api/v2/api-keys",
                description="API keys bound to the workspace and a role.")


@blp.route("", methods=["POST"])
@requires(Permission.MANAGE_KEYS)
@blp.arguments(v1.ApiKeyCreateSchema)
@blp.response(201, v1.MintedKeySchema)
def create_key(data):
    """Mint a key; use it as ``Authorization: Bearer <key>`` or ``X-API-Key``."""
    minted = api_keys.mint(db.session, current_principal(), data["name"], data["role"],
                           data["expires_at"])
    return {**minted.record.column_values(), "key": minted.key}


@blp.route("", methods=["GET"])
@requires(Permission.MANAGE_KEYS)
@blp.response(200, list_of(v1.ApiKeySchema, "ApiKeyList"))
def list_keys():
    """Keys of the workspace (never their secret part), newest first, in one answer."""
    return whole(api_keys.list_keys(db.session))


@blp.route("/<uuid:key_id>", methods=["GET"])
@requires(Permission.MANAGE_KEYS)
@blp.response(200, v1.ApiKeySchema)
def get_key(key_id):
    """One key's metadata."""
    return api_keys.get(db.session, key_id)


@blp.route("/<uuid:key_id>", methods=["DELETE"])
@requires(Permission.MANAGE_KEYS)
@blp.response(204)
def delete_key(key_id):
    """Delete a key; it stops working at once."""
    api_keys.remove(db.session, current_principal(), key_id)

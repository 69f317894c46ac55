"""Sign-in endpoints: password login, token refresh and revocation, and "who am I"."""

from __future__ import annotations

from flask import current_app, request
from marshmallow import fields

from codex32.api.blueprint import Blueprint
from codex32.api.schemas import Output, Strict, TokenPairSchema
from codex32.auth.guard import current_principal, origin, requires
from codex32.auth.principal import credential_from
from codex32.auth.rbac import Permission
from codex32.db import db
from codex32.services import auth
from codex32.state import platform_state

blp = Blueprint("auth", __name__, url_prefix="/api/v1/auth",
                description="Tokens: sign in, refresh, revoke; who am I.")


class LoginSchema(Strict):
    email = fields.Email(required=True, validate=lambda v: len(v) <= 320)
    password = fields.String(required=True, load_only=True)
    workspace = fields.String(load_default=None,
                              metadata={"description": "workspace slug or id"})


class MeSchema(Output):
    user = fields.Dict(allow_none=True)
    api_key_id = fields.UUID(allow_none=True)
    workspace = fields.Dict(required=True)
    role = fields.String(required=True)
    permissions = fields.List(fields.String(), required=True)


@blp.route("/token", methods=["POST"])
@blp.arguments(LoginSchema)
@blp.response(200, TokenPairSchema)
def token(data):
    """Sign in with email and password; the same 401 for unknown email or wrong password."""
    state = platform_state(current_app)
    throttle = auth.Throttle(state.limiter, state.settings.login_attempts_per_15_minutes)
    pair = auth.login(db.session, data["email"], data["password"], data["workspace"], throttle,
                      origin().ip)
    return pair.as_dict()


@blp.route("/refresh", methods=["POST"])
@blp.doc(security=[{"bearerAuth": []}])
@blp.response(200, TokenPairSchema)
def refresh():
    """Exchange the refresh token (``Authorization: Bearer``) for a new pair; it rotates."""
    return auth.refresh(db.session, credential_from(request.headers)).as_dict()


@blp.route("/revoke", methods=["POST"])
@blp.doc(security=[{"bearerAuth": []}])
@blp.response(204)
def revoke():
    """Revoke the presented token (a refresh token revokes its whole sign-in)."""
    auth.revoke(db.session, credential_from(request.headers), origin())


@blp.route("/me", methods=["GET"])
@requires(Permission.VIEW_WORKSPACE)
@blp.response(200, MeSchema)
def me():
    """The caller's account, workspace, role and permissions."""
    return auth.me(db.session, current_principal())


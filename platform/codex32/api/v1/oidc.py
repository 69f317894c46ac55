"""OpenID Connect endpoints: sign in with an identity provider (authorization code flow with
PKCE), and a workspace's own providers (admins).

The sign-in endpoints are public: ``authorize`` redirects the browser to the provider, the
provider sends it back to ``callback``, which answers the platform's own token pair. Each
network step runs after the request's transaction has ended (no connection waits on a
provider).
"""

from __future__ import annotations

from flask import current_app, redirect, request
from marshmallow import EXCLUDE, Schema, fields, validate

from codex32 import runtime
from codex32.api import transaction
from codex32.api.blueprint import Blueprint
from codex32.api.schemas import Output, Strict, TokenPairSchema
from codex32.auth.guard import current_principal, limit_rate, origin, requires
from codex32.auth.rbac import Permission
from codex32.config_values import OIDC_PROVIDER_ID
from codex32.db import db
from codex32.errors import Invalid, Unauthorized
from codex32.services import auth
from codex32.services.oidc import providers, sign_ins
from tenants import oidc

blp = Blueprint("oidc", __name__, url_prefix="/api/v1",
                description="Sign in with an OpenID Connect provider; a workspace's own "
                            "providers.")

PROVIDER = "<string:provider>"


class WorkspaceArgs(Strict):
    workspace = fields.String(required=True, validate=validate.Length(min=1, max=63),
                              metadata={"description": "workspace slug or id"})


class OptionalWorkspaceArgs(Strict):
    workspace = fields.String(load_default=None, validate=validate.Length(min=1, max=63),
                              metadata={"description": "workspace slug or id: lists its own "
                                                       "providers too"})


class CallbackArgs(Schema):
    """What the provider sends back; providers add parameters of their own (ignored)."""

    class Meta:
        unknown = EXCLUDE

    state = fields.String(required=True, validate=validate.Length(min=1, max=200))
    code = fields.String(load_default=None, validate=validate.Length(min=1, max=2000))
    error = fields.String(load_default=None, validate=validate.Length(max=200))
    iss = fields.String(load_default=None, validate=validate.Length(max=2000),
                        metadata={"description": "RFC 9207: checked against the issuer"})


class SignInProviderSchema(Output):
    id = fields.String(required=True)
    name = fields.String(required=True)
    scope = fields.String(required=True, metadata={"description": "platform or workspace"})


class ProviderInputSchema(Strict):
    name = fields.String(load_default=None, validate=validate.Length(min=1, max=255))
    discovery_url = fields.String(required=True, validate=validate.Length(min=8, max=2000),
                                  metadata={"description": "the issuer URL or its "
                                            "/.well-known/openid-configuration"})
    client_id = fields.String(required=True, validate=validate.Length(min=1, max=255))
    client_secret = fields.String(allow_none=True, load_only=True,
                                  validate=validate.Length(min=1, max=2000),
                                  metadata={"description": "write-only; left out: unchanged"})
    scopes = fields.List(fields.String(validate=validate.Regexp(r"^[\x21-\x7e]{1,100}$")),
                         validate=[validate.Length(min=1, max=20),
                                   validate.ContainsOnly(["openid", "email", "profile"])],
                         load_default=None)


class ProviderSchema(Output):
    id = fields.String(required=True)
    name = fields.String(required=True)
    discovery_url = fields.String(required=True)
    client_id = fields.String(required=True)
    client_secret = fields.String(allow_none=True, metadata={"description": "******** when set"})
    scopes = fields.List(fields.String(), required=True)
    created_at = fields.DateTime(required=True)
    updated_at = fields.DateTime(required=True)


def _limit() -> None:
    attempts = runtime.of(current_app).settings.login_attempts_per_15_minutes
    limit_rate(f"oidc:{origin().ip}", limit=attempts * auth.ADDRESS_FACTOR, window=900)


def _redirect_uri(provider_id: str) -> str:
    base = runtime.of(current_app).settings.public_url or request.url_root.rstrip("/")
    return f"{base}/api/v1/auth/oidc/{provider_id}/callback"


@blp.route("/auth/oidc/providers", methods=["GET"])
@blp.arguments(OptionalWorkspaceArgs, location="query")
@blp.response(200, SignInProviderSchema(many=True))
def list_sign_in_providers(args):
    """The providers one may sign in with: the platform's, and a workspace's own."""
    workspace_id = (providers.workspace_id_of(db.session, args["workspace"])
                    if args["workspace"] else None)
    return providers.listing(db.session, workspace_id)


@blp.route(f"/auth/oidc/{PROVIDER}/authorize", methods=["GET"])
@blp.arguments(WorkspaceArgs, location="query")
@blp.response(302)
def authorize(args, provider):
    """Start signing in to a workspace with a provider: a redirect to the provider."""
    _limit()
    workspace_id = providers.workspace_id_of(db.session, args["workspace"])
    found = providers.find(db.session, workspace_id, provider)
    transaction.end()
    metadata = sign_ins.metadata(found)
    url = sign_ins.begin(db.session, found, metadata, _redirect_uri(provider))
    return redirect(url, code=302)


def _callback(args, provider):
    _limit()
    pending = sign_ins.consume(db.session, provider, args["state"])
    transaction.end()  # the state is spent, whatever happens next
    if args["error"] or not args["code"]:
        raise Unauthorized(f"the identity provider refused the sign-in "
                           f"({(args['error'] or 'no code')[:100]})")
    claims = sign_ins.redeem(pending, args["code"], args["iss"])
    return oidc.sign_in(db.session, pending, claims, origin()).as_dict()


@blp.route(f"/auth/oidc/{PROVIDER}/callback", methods=["GET"])
@blp.arguments(CallbackArgs, location="query")
@blp.response(200, TokenPairSchema)
def callback(args, provider):
    """Where the provider sends the browser back: the platform's token pair."""
    return _callback(args, provider)


@blp.route(f"/auth/oidc/{PROVIDER}/callback", methods=["POST"])
@blp.arguments(CallbackArgs, location="form")
@blp.response(200, TokenPairSchema)
def callback_form_post(args, provider):
    """The same, for providers answering with ``response_mode=form_post``."""
    return _callback(args, provider)


@blp.route("/oidc-providers", methods=["GET"])
@requires(Permission.MANAGE_WORKSPACE)
@blp.response(200, ProviderSchema(many=True))
def list_providers():
    """The workspace's own providers (client secrets shown only as set)."""
    return providers.list_own(db.session)


@blp.route("/oidc-providers/<string:provider_id>", methods=["PUT"])
@requires(Permission.MANAGE_WORKSPACE)
@blp.arguments(ProviderInputSchema)
@blp.response(200, ProviderSchema)
@blp.alt_response(201, schema=ProviderSchema, description="created")
def put_provider(data, provider_id):
    """Add or replace one of the workspace's own providers (the secret is write-only)."""
    if not OIDC_PROVIDER_ID.match(provider_id):
        raise Invalid("invalid provider id", errors={"path": {"provider_id": [
            "lowercase letters, digits and inner hyphens, at most 40 characters"]}})
    if data.get("scopes") is not None and "openid" not in data["scopes"]:
        data["scopes"] = ["openid", *data["scopes"]]
    shown, created = providers.put(db.session, current_principal(), provider_id, data)
    return shown, 201 if created else 200


@blp.route("/oidc-providers/<string:provider_id>", methods=["DELETE"])
@requires(Permission.MANAGE_WORKSPACE)
@blp.response(204)
def delete_provider(provider_id):
    """Remove one of the workspace's own providers."""
    providers.remove(db.session, current_principal(), provider_id)

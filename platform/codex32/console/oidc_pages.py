"""Signing in to the console with an OpenID Connect provider.

The API's flow (``/api/v1/auth/oidc/{provider}/authorize`` and ``…/callback``) with the same
services, throttle and audit; only the provider sends the browser back to the console's own
callback, which puts the platform's refresh token in the session cookie instead of answering
JSON. The provider must allow that callback: ``{public url}/app/oidc/{provider}/callback``.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from flask import current_app, redirect, request, url_for

from codex32 import runtime
from codex32.api import transaction
from codex32.auth.guard import limit_rate, origin
from codex32.config_values import OIDC_PROVIDER_ID
from codex32.console import auth_pages, session
from codex32.console.blueprint import blp
from codex32.db import db
from codex32.errors import Invalid, Unauthorized
from codex32.services import auth
from codex32.services.oidc import providers, sign_ins
from tenants import oidc

MAX_PARAMETER = 2000


def _limit() -> None:
    """The API's sign-in throttle for OpenID Connect, per client address."""
    attempts = runtime.of(current_app).settings.login_attempts_per_15_minutes
    limit_rate(f"oidc:{origin().ip}", limit=attempts * auth.ADDRESS_FACTOR, window=900)


def _callback_url(provider_id: str) -> str:
    base = runtime.of(current_app).settings.public_url or request.url_root.rstrip("/")
    return f"{base}{session.PATH}/oidc/{provider_id}/callback"


def _checked(provider_id: str) -> str:
    if not OIDC_PROVIDER_ID.match(provider_id):
        raise Invalid("no such provider")
    return provider_id


@blp.route("/oidc/<provider_id>/start", methods=["GET"])
def oidc_start(provider_id: str):
    """Send the browser to the provider to sign in to ``?workspace=`` (slug or id)."""
    _limit()
    workspace = request.args.get("workspace", "").strip()[:63]
    if not workspace:
        raise Invalid("give the workspace to sign in to")
    workspace_id = providers.workspace_id_of(db.session, workspace)
    found = providers.find(db.session, workspace_id, _checked(provider_id))
    transaction.end()  # discovery may fetch the provider's metadata
    metadata = sign_ins.metadata(found)
    target = sign_ins.begin(db.session, found, metadata, _callback_url(provider_id))
    session.bind_sign_in(parse_qs(urlsplit(target).query)["state"][-1])
    return redirect(target, code=302)


@blp.route("/oidc/<provider_id>/callback", methods=["GET"])
def oidc_callback(provider_id: str):
    """Where the provider sends the browser back: the console session, then the console."""
    _limit()
    state = request.args.get("state", "")[:200]
    if not state:
        raise Invalid("the provider's answer has no state")
    session.check_sign_in(state)  # before it is spent: only the browser that began it
    pending = sign_ins.consume(db.session, _checked(provider_id), state)
    transaction.end()  # the state is spent, whatever happens next
    error, code = request.args.get("error"), request.args.get("code")
    if error or not code:
        raise Unauthorized(f"the identity provider refused the sign-in "
                           f"({(error or 'no code')[:100]})")
    claims = sign_ins.redeem(pending, code[:MAX_PARAMETER],
                             request.args.get("iss", "")[:MAX_PARAMETER] or None)
    pair = oidc.sign_in(db.session, pending, claims, origin())
    session.begin(pair.refresh_token)
    auth_pages.retire_replaced()
    return redirect(url_for("console.home"), code=303)

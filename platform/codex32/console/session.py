"""The browser session: which cookie holds it, who it signs in, and its CSRF token.

The session cookie holds the platform's own refresh token (httpOnly, ``SameSite=Lax``,
``Secure`` over https, path ``/app``): scripts never see it, and every request checks it against
the database as the API checks a token (membership, role, revocation), so signing out revokes
the sign-in server-side. The console never rotates it; the API's refresh endpoint is for API
clients. CSRF: a synchronizer token derived from the session (an HMAC of the refresh token's
id under the app's secret key), sent back by every state-changing request as the form field
``csrf_token`` or the ``X-CSRF-Token`` header. Before sign-in, the token is derived from a
random value in its own cookie, so the sign-in form is protected too. An OpenID Connect
sign-in's state is bound to the browser that began it (its own cookie, checked by the
callback), so a callback address made in another browser signs nobody in (login CSRF).
docs/security.md, "The web console", says why.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
import uuid
from typing import Any

from flask import Response, current_app, g, request

from codex32.auth import tokens
from codex32.auth.guard import origin
from codex32.auth.principal import Principal, membership_role
from codex32.db import db
from codex32.errors import Forbidden, Unauthorized
from codex32.services.oidc.sign_ins import LIFETIME as SIGN_IN_LIFETIME

SESSION_COOKIE = "codex32_console"
PRESESSION_COOKIE = "codex32_console_pre"
SIGN_IN_COOKIE = "codex32_console_oidc"
SIGN_IN_PATH = "/app/oidc"
SIGN_IN_SECONDS = int(SIGN_IN_LIFETIME.total_seconds())
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
PATH = "/app"
CONTENT_SECURITY_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; "
                           "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; "
                           "form-action 'self'; base-uri 'none'; object-src 'none'")


def principal() -> Principal:
    """The signed-in member, with the workspace bound; 401 when there is no valid session."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise Unauthorized("sign in to use the console")
    claims = tokens.decode(token, "refresh")
    role = membership_role(db.session, claims)  # binds the workspace; 401 when revoked
    return Principal(workspace_id=uuid.UUID(claims["ws"]), role=role,
                     user_id=uuid.UUID(claims["sub"]), origin=origin(), claims=claims)


def claims_of_cookie() -> dict[str, Any] | None:
    """The session cookie's verified claims (no database), or None."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    try:
        return tokens.decode(token, "refresh")
    except Unauthorized:
        return None


def begin(refresh_token: str) -> None:
    """Make ``refresh_token`` this browser's session when the response leaves."""
    g.console_session = refresh_token


def forget() -> None:
    """End this browser's session (its cookie) when the response leaves."""
    g.console_session = ""


def bind_sign_in(state: str) -> None:
    """Tie an OpenID Connect sign-in's ``state`` to this browser when the response leaves."""
    g.console_sign_in = state


def check_sign_in(state: str) -> None:
    """401 unless this browser began the sign-in ``state`` names; then forget the binding."""
    given = request.cookies.get(SIGN_IN_COOKIE, "")
    if not given or not hmac.compare_digest(given.encode(), state.encode()):
        raise Unauthorized("this sign-in was begun in another browser; sign in again here")
    g.console_sign_in = ""


def keep_cookies(response: Response) -> Response:
    """Write the cookie changes this request asked for (and the pre-session's seed)."""
    secure = request.is_secure
    wanted = g.get("console_session")
    if wanted:
        claims = tokens.decode(wanted, "refresh")
        response.set_cookie(SESSION_COOKIE, wanted, max_age=int(claims["exp"] - time.time()),
                            path=PATH, httponly=True, secure=secure, samesite="Lax")
    elif wanted == "":
        response.delete_cookie(SESSION_COOKIE, path=PATH, httponly=True, secure=secure,
                               samesite="Lax")
    state = g.get("console_sign_in")
    if state:
        response.set_cookie(SIGN_IN_COOKIE, state, max_age=SIGN_IN_SECONDS, path=SIGN_IN_PATH,
                            httponly=True, secure=secure, samesite="Lax")
    elif state == "":
        response.delete_cookie(SIGN_IN_COOKIE, path=SIGN_IN_PATH, httponly=True, secure=secure,
                               samesite="Lax")
    seed = g.get("console_presession")
    if seed:
        response.set_cookie(PRESESSION_COOKIE, seed, path=PATH, httponly=True, secure=secure,
                            samesite="Lax")
    return response


def _seed() -> str:
    """What this browser's CSRF token is bound to: the session's token id, or before sign-in
    the pre-session's random value (made on first use)."""
    claims = claims_of_cookie()
    if claims is not None:
        return f"session:{claims['jti']}"
    seed = request.cookies.get(PRESESSION_COOKIE) or g.get("console_presession")
    if not seed:
        seed = g.console_presession = secrets.token_urlsafe(32)
    return f"pre:{seed}"


def csrf_token() -> str:
    """The CSRF token the current page embeds in its forms and htmx headers."""
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, f"console-csrf:{_seed()}".encode(), hashlib.sha256).hexdigest()


def check_csrf() -> None:
    """403 unless the request carries this browser's CSRF token."""
    given = request.headers.get(CSRF_HEADER) or request.form.get(CSRF_FIELD) or ""
    if not hmac.compare_digest(given.encode(), csrf_token().encode()):
        raise Forbidden("the form's CSRF token is missing or stale; reload the page and retry")

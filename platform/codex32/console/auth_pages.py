"""Signing in and out of the console, resetting a password, switching workspaces, and the
console's home.

The same services as ``/api/v1/auth``: a password sign-in, a workspace switch and a sign-out
are the API's ``token``, ``switch`` and ``revoke``, their throttles and audit included; only the
token goes to an httpOnly cookie instead of a JSON body (:mod:`codex32.console.session`).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import current_app, redirect, render_template, request, url_for

from codex32 import runtime
from codex32.api import transaction
from codex32.api.v1.auth import RESET_SENT, ask_for_reset, confirm_reset
from codex32.auth.guard import current_principal, origin
from codex32.auth.rbac import Permission
from codex32.console import session
from codex32.console.blueprint import blp, page
from codex32.db import db
from codex32.errors import DomainError, Invalid, NotFound
from codex32.services import auth
from codex32.services.oidc import providers

MAX_FIELD = 1024


def _safe_next(target: str | None) -> str:
    """A local console address to go to after sign-in (never another site; never one with
    control characters, which a Location header cannot carry and URL parsers drop)."""
    if target and not any(ord(char) < 0x20 or ord(char) == 0x7F for char in target):
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and parts.path.startswith(session.PATH):
            return target
    return url_for("console.home")


@blp.route("/sign-in", methods=["GET"])
def sign_in():
    """The sign-in form (password, and the platform's OpenID Connect providers)."""
    return render_template("console/sign_in.html", next=request.args.get("next", ""),
                           providers=providers.listing(db.session, None), error=None,
                           email="")


@blp.route("/sign-in", methods=["POST"])
def sign_in_submit():
    """Check the password as ``POST /api/v1/auth/token`` does; the session cookie on success."""
    email = request.form.get("email", "").strip()[:320]
    password = request.form.get("password", "")[:MAX_FIELD]
    workspace = request.form.get("workspace", "").strip()[:200] or None
    state = runtime.of(current_app).settings
    throttle = auth.Throttle(runtime.of(current_app).limiter,
                             state.login_attempts_per_15_minutes)
    try:
        if not email or not password:
            raise Invalid("give your email and password")
        pair = auth.login(db.session, email, password, workspace, throttle, origin())
    except DomainError as error:
        transaction.discard()
        return render_template("console/sign_in.html", next=request.form.get("next", ""),
                               providers=providers.listing(db.session, None),
                               error=error.message, email=email), error.status
    session.begin(pair.refresh_token)
    retire_replaced()
    return redirect(_safe_next(request.form.get("next")), code=303)


@blp.route("/password-reset", methods=["GET"])
def password_reset():
    """Ask for a password reset token (mailed), or bring one back with a new password."""
    return render_template("console/password_reset.html", error=None, notice=None, email="")


@blp.route("/password-reset", methods=["POST"])
def password_reset_submit():
    """As ``POST /api/v1/auth/password-reset``: the same answer for every address."""
    email = request.form.get("email", "").strip()[:320]
    if "@" not in email:
        return render_template("console/password_reset.html", notice=None, email=email,
                               error="give the email address of your account"), 422
    ask_for_reset(email)
    return render_template("console/password_reset.html", error=None, email=email,
                           notice=RESET_SENT + "; paste it below with a new password")


@blp.route("/password-reset/confirm", methods=["POST"])
def password_reset_confirm():
    """As ``POST /api/v1/auth/password-reset/confirm``; then the sign-in form."""
    token = request.form.get("token", "").strip()[:200]
    password = request.form.get("password", "")[:MAX_FIELD]
    try:
        if not token or not password:
            raise Invalid("give the token from the mail and a new password")
        confirm_reset(token, password)
    except DomainError as error:
        transaction.discard()
        return render_template("console/password_reset.html", notice=None, email="",
                               error=_first_problem(error)), error.status
    return render_template("console/sign_in.html", next="", error=None, email="",
                           providers=providers.listing(db.session, None),
                           notice="password changed: every earlier sign-in has ended; sign in "
                                  "with the new password")


def _first_problem(error: DomainError) -> str:
    """The error's message, with the password policy's first complaint when it has one."""
    problems = ((error.errors or {}).get("json") or {}).get("password")
    return f"{error.message}: the password {problems[0]}" if problems else error.message


def retire_replaced() -> None:
    """Revoke the sign-in this browser held before a new one replaced it (as signing out
    would): a copy of the old cookie must not outlive it. The new sign-in is committed first."""
    token = request.cookies.get(session.SESSION_COOKIE)
    if not token:
        return
    transaction.end()
    try:
        auth.revoke(db.session, token, origin())
    except DomainError:
        transaction.discard()  # already revoked or expired: nothing left to end


@blp.route("/sign-out", methods=["POST"])
def sign_out():
    """Revoke the session's sign-in (as ``POST /api/v1/auth/revoke``) and drop the cookie."""
    token = request.cookies.get(session.SESSION_COOKIE)
    if token:
        try:
            auth.revoke(db.session, token, origin())
        except DomainError:
            transaction.discard()  # already revoked or expired: nothing left to end
    session.forget()
    return redirect(url_for("console.sign_in"), code=303)


@blp.route("/workspace", methods=["POST"])
@page(Permission.VIEW_WORKSPACE)
def switch_workspace():
    """Move the session to another of the member's workspaces (as ``/api/v1/auth/switch``)."""
    wanted = request.form.get("workspace", "").strip()[:200]
    if not wanted:
        raise Invalid("choose a workspace")
    mine = auth.workspaces_of(db.session, current_principal().user_id)  # type: ignore[arg-type]
    if not any(wanted in (str(w["workspace_id"]), w["slug"]) for w in mine):
        raise NotFound("you are not a member of that workspace")
    pair = auth.switch(db.session, request.cookies[session.SESSION_COOKIE], wanted, origin())
    session.begin(pair.refresh_token)
    return redirect(url_for("console.home"), code=303)


@blp.route("/", methods=["GET"])
@page(Permission.VIEW_BOTS)
def home():
    """The console's first page: the workspace's bots."""
    return redirect(url_for("console.bots"))


@blp.app_context_processor
def _member() -> dict:
    """What the layout shows about the signed-in member: workspace, role, the others."""
    return {"member": _member_of}


def _member_of() -> dict | None:
    principal = current_principal_or_none()
    if principal is None:
        return None
    workspaces = auth.workspaces_of(db.session, principal.user_id)
    here = next((w for w in workspaces if w["workspace_id"] == principal.workspace_id), None)
    if (principal.claims or {}).get("ws_only"):
        # A workspace's own provider vouched for this sign-in (its admin may have made it):
        # it cannot switch, and it does not learn where else the member belongs.
        workspaces = [here] if here else []
    return {"principal": principal, "role": principal.role, "workspaces": workspaces,
            "workspace": here["slug"] if here else str(principal.workspace_id)}


def current_principal_or_none():
    """The page's principal, when the page is one a member signed in to."""
    try:
        return current_principal()
    except AttributeError:
        return None

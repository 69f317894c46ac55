"""Sign-in endpoints: password login, token refresh and revocation, email verification,
password reset, and "who am I"."""

from __future__ import annotations

from collections.abc import Callable

from flask import current_app, request
from marshmallow import fields, validate
from sqlalchemy.orm import Session

from codex32 import runtime
from codex32.api import transaction
from codex32.api.blueprint import Blueprint
from codex32.api.schemas import Output, Strict, TokenPairSchema
from codex32.auth.guard import current_principal, limit_rate, origin, requires
from codex32.auth.principal import credential_from
from codex32.auth.rbac import Permission
from codex32.db import db
from codex32.services import auth
from codex32.services.mail import Mailer
from tenants import accounts, password_resets

blp = Blueprint("auth", __name__, url_prefix="/api/v1/auth",
                description="Tokens: sign in, refresh, revoke; verify an email; reset a "
                "password; who am I.")

VERIFY_HINT = ("a verification token was sent to this address (in development: the server "
               "log); POST it with your password to /api/v1/auth/verify, then sign in at "
               "/api/v1/auth/token")
MAILS_PER_ADDRESS_PER_HOUR = 10
RESET_SENT = "if this address has an account, a password reset token was sent to it"


def limit_verification_mail(email: str) -> None:
    """Bound the verification mails one address receives (429 past it, for any address)."""
    limit_rate(f"verify-mail:{email.lower()}", limit=MAILS_PER_ADDRESS_PER_HOUR, window=3600)


class LoginSchema(Strict):
    email = fields.Email(required=True, validate=lambda v: len(v) <= 320)
    password = fields.String(required=True, load_only=True)
    workspace = fields.String(load_default=None,
                              metadata={"description": "workspace slug or id"})


class SwitchSchema(Strict):
    workspace = fields.String(required=True, validate=validate.Length(min=1, max=200),
                              metadata={"description": "workspace slug or id"})


class VerifySchema(Strict):
    token = fields.String(required=True, validate=validate.Length(min=1, max=200))
    password = fields.String(required=True, load_only=True, validate=validate.Length(max=1024),
                             metadata={"description": "the password chosen at sign-up (or, "
                                       "when the address has an account, that account's)"})


class ResendSchema(Strict):
    email = fields.Email(required=True, validate=validate.Length(max=320))


class ResetRequestSchema(Strict):
    email = fields.Email(required=True, validate=validate.Length(max=320))


class ResetConfirmSchema(Strict):
    token = fields.String(required=True, validate=validate.Length(min=1, max=200))
    password = fields.String(required=True, load_only=True, validate=validate.Length(max=1024),
                             metadata={"description": "the new password (the sign-up policy)"})


class VerifiedUserSchema(Output):
    id = fields.UUID(required=True)
    email = fields.String(required=True)


class VerifiedWorkspaceSchema(Output):
    id = fields.UUID(required=True)
    name = fields.String(required=True)
    slug = fields.String(required=True)


class VerifiedSchema(Output):
    user = fields.Nested(VerifiedUserSchema, required=True)
    workspace = fields.Nested(VerifiedWorkspaceSchema, required=True)


class ResentSchema(Output):
    message = fields.String(required=True)


class MeSchema(Output):
    user = fields.Dict(allow_none=True)
    api_key_id = fields.UUID(allow_none=True)
    workspace = fields.Dict(required=True)
    role = fields.String(required=True)
    minter_role = fields.String(allow_none=True, metadata={
        "description": "an API key's: its minter's current role, which caps the key's"})
    permissions = fields.List(fields.String(), required=True, metadata={
        "description": "what the caller may do (for an API key: what both roles grant)"})


@blp.route("/token", methods=["POST"])
@blp.arguments(LoginSchema)
@blp.response(200, TokenPairSchema)
def token(data):
    """Sign in with email and password; the same 401 for unknown email or wrong password."""
    state = runtime.of(current_app)
    throttle = auth.Throttle(state.limiter, state.settings.login_attempts_per_15_minutes)
    pair = auth.login(db.session, data["email"], data["password"], data["workspace"], throttle,
                      origin())
    return pair.as_dict()


@blp.route("/refresh", methods=["POST"])
@blp.doc(security=[{"bearerAuth": []}])
@blp.response(200, TokenPairSchema)
def refresh():
    """Exchange the refresh token (``Authorization: Bearer``) for a new pair; it rotates."""
    return auth.refresh(db.session, credential_from(request.headers), origin()).as_dict()


@blp.route("/revoke", methods=["POST"])
@blp.doc(security=[{"bearerAuth": []}])
@blp.response(204)
def revoke():
    """Revoke the presented token (a refresh token revokes its whole sign-in)."""
    auth.revoke(db.session, credential_from(request.headers), origin())


@blp.route("/switch", methods=["POST"])
@blp.doc(security=[{"bearerAuth": []}])
@blp.arguments(SwitchSchema)
@blp.response(200, TokenPairSchema)
def switch(data):
    """Trade the sign-in of the presented refresh token (``Authorization: Bearer``) for one in
    another of your workspaces; the old sign-in is revoked."""
    return auth.switch(db.session, credential_from(request.headers), data["workspace"],
                       origin()).as_dict()


@blp.route("/verify", methods=["POST"])
@blp.arguments(VerifySchema)
@blp.response(200, VerifiedSchema)
def verify(data):
    """Verify a signed-up address with the token mailed to it and the sign-up's password
    (once, within 24 hours); its account can sign in from then on."""
    attempts = runtime.of(current_app).settings.login_attempts_per_15_minutes
    limit_rate(f"verify:{origin().ip}", limit=attempts * auth.ADDRESS_FACTOR, window=900)
    verified = accounts.verify(db.session, data["token"], data["password"], origin())
    return {"user": verified.user, "workspace": verified.workspace}


@blp.route("/verify/resend", methods=["POST"])
@blp.arguments(ResendSchema)
@blp.response(202, ResentSchema)
def resend_verification(data):
    """Mail new verification tokens for the pending sign-ups of an address (the answer is the
    same whether there are any)."""
    settings = runtime.of(current_app).settings
    limit_rate(f"resend:{origin().ip}", limit=settings.signups_per_hour, window=3600)
    limit_verification_mail(data["email"])
    renewed = accounts.renew_verifications(db.session, data["email"], origin())
    transaction.end()  # the new tokens are stored before they are mailed
    mailer = Mailer.from_settings(settings)
    for pending in renewed:
        mailer.send(accounts.verification_message(pending, mailer.api_base))
    return {"message": "if this address has a pending sign-up, a new token was sent to it"}


@blp.route("/password-reset", methods=["POST"])
@blp.arguments(ResetRequestSchema)
@blp.response(202, ResentSchema)
def request_password_reset(data):
    """Mail a password reset token to the account of an address (good for 30 minutes, once).
    The answer, and its time, are the same whether the address has an account: the lookup and
    the mail happen after it, on a background thread."""
    ask_for_reset(data["email"])
    return {"message": RESET_SENT}


def ask_for_reset(email: str) -> None:
    """Count a reset request against its client address and its address (429 past either),
    then leave the lookup and the mail to the background: the caller answers at once, the
    same for every address (the API and the console)."""
    state = runtime.of(current_app)
    attempts = state.settings.login_attempts_per_15_minutes
    limit_rate(f"reset:{origin().ip}", limit=attempts * auth.ADDRESS_FACTOR, window=900)
    limit_rate(f"reset-mail:{email.lower()}", limit=MAILS_PER_ADDRESS_PER_HOUR, window=3600)
    where, mailer = origin(), Mailer.from_settings(state.settings)

    def start(session: Session) -> Callable[[], object] | None:
        mail = password_resets.start(session, email, where)
        if mail is None:
            return None
        return lambda: mailer.send(password_resets.reset_message(mail, mailer.api_base))

    transaction.in_background(start)


@blp.route("/password-reset/confirm", methods=["POST"])
@blp.arguments(ResetConfirmSchema)
@blp.response(200, ResentSchema)
def confirm_password_reset(data):
    """Set a new password with the mailed token (the sign-up policy applies; 422 keeps the
    token good); every sign-in of the account ends. Then sign in at /api/v1/auth/token."""
    confirm_reset(data["token"], data["password"])
    return {"message": "password changed and every sign-in ended; sign in at "
                       "/api/v1/auth/token with the new password"}


def confirm_reset(token: str, password: str) -> None:
    """Set the password with a reset token, throttled per client address (the API and the
    console)."""
    attempts = runtime.of(current_app).settings.login_attempts_per_15_minutes
    limit_rate(f"reset-confirm:{origin().ip}", limit=attempts * auth.ADDRESS_FACTOR, window=900)
    password_resets.confirm(db.session, token, password, origin())


@blp.route("/me", methods=["GET"])
@requires(Permission.VIEW_WORKSPACE)
@blp.response(200, MeSchema)
def me():
    """The caller's account, workspace, role and permissions."""
    return auth.me(db.session, current_principal())


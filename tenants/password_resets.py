"""Password reset: a token mailed to an account's verified address sets a new password once.

Requesting a reset answers the same whatever the address (the route hands the work below to a
background thread, so not even the time of a lookup or a mail differs). An account with a
password gets a new token (any older one stops working): random, 256 bits, stored as SHA-256,
good for :data:`LIFETIME` and once. Confirming it sets a password that meets the sign-up
policy and advances the account's session generation, which ends every sign-in issued before
(access and refresh tokens, console sessions: :func:`codex32.auth.principal.membership`). Both
steps are audited in each workspace the account is a member of (an account in none leaves a
log line). An account an identity provider made has no password and gets no mail: it signs in
through its provider.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from codex32.auth.passwords import check_policy, hash_password
from codex32.auth.principal import Origin, Principal
from codex32.crypto import secret_digest
from codex32.db import tenancy
from codex32.db.account_models import PasswordReset
from codex32.db.models import User
from codex32.services import audit
from codex32.services.auth import find_by_email
from codex32.services.mail import Message
from tenants.accounts import NO_PASSWORD, InvalidToken

log = logging.getLogger(__name__)

LIFETIME = timedelta(minutes=30)
INVALID = "the password reset token is invalid, used or expired: ask for a new one"


@dataclass(frozen=True)
class ResetMail:
    """A reset token to mail to the address of the account it resets."""

    email: str
    token: str


def start(session: Session, email: str, origin: Origin) -> ResetMail | None:
    """A new reset token for the account that holds ``email`` (stored hashed, flushed), or
    None for an unknown, pending or password-less address (the caller answers the same)."""
    user = find_by_email(session, email)
    if user is None or user.password_hash == NO_PASSWORD:
        return None
    token, now = secrets.token_urlsafe(32), datetime.now(UTC)
    values = {"token_hash": secret_digest(token), "expires_at": now + LIFETIME,
              "created_at": now}
    session.execute(insert(PasswordReset).values(user_id=user.id, **values)
                    .on_conflict_do_update(index_elements=["user_id"], set_=values))
    _audit(session, user, origin, "account.password_reset_request",
           {"email": user.email, "expires_at": (now + LIFETIME).isoformat()})
    return ResetMail(user.email, token)


def confirm(session: Session, token: str, password: str, origin: Origin) -> User:
    """Set the account's password with a reset token (once, before it expires) and end its
    every sign-in; a bad token is 400, a password the policy refuses 422 (the token stays)."""
    reset = session.execute(select(PasswordReset)
                            .where(PasswordReset.token_hash == secret_digest(token))
                            .with_for_update()).scalar()
    if reset is None or reset.expires_at <= datetime.now(UTC):
        raise InvalidToken(INVALID)
    user = session.execute(select(User).where(User.id == reset.user_id)
                           .with_for_update()).scalar_one()
    check_policy(password, user.email)
    user.password_hash = hash_password(password)
    user.session_generation += 1
    user.updated_at = datetime.now(UTC)
    session.execute(delete(PasswordReset).where(PasswordReset.user_id == user.id))
    _audit(session, user, origin, "account.password_reset",
           {"email": user.email, "sign_ins_ended": True})
    session.flush()
    return user


def reset_message(mail: ResetMail, api_base: str) -> Message:
    """The mail that carries a reset token to the account's address."""
    minutes = int(LIFETIME.total_seconds() // 60)
    body = (f"Someone asked to reset the password of the Codex-32 account of this address.\n\n"
            f"If it was you, choose a new password within {minutes} minutes:\n\n"
            f"    POST {api_base}/auth/password-reset/confirm\n"
            f"    {{\"token\": \"{mail.token}\", \"password\": \"<a new password>\"}}\n\n"
            f"This signs you out everywhere; then sign in with the new password. If it was "
            f"not you, ignore this mail: your password stays as it is.\n\ntoken: {mail.token}\n")
    return Message(to=mail.email, subject="Reset your Codex-32 password", body=body,
                   token=mail.token)


def _audit(session: Session, user: User, origin: Origin, action: str,
           details: dict[str, Any]) -> None:
    """One audit row in each workspace the account is a member of (the account as actor)."""
    rows = session.execute(text("SELECT workspace_id, role FROM auth_user_workspaces(:u)"),
                           {"u": user.id}).all()
    if not rows:
        log.info("%s for an account in no workspace", action, extra={"user_id": str(user.id)})
    for row in rows:
        with tenancy.bound(session, row.workspace_id):
            principal = Principal(workspace_id=row.workspace_id, role=row.role,
                                  user_id=user.id, origin=origin)
            audit.record(session, principal, action, "user", user.id, details)

"""User accounts: the global identity table (email, password hash). Not tenant data.

An address is bound to an account only once it is verified: by the token a sign-up mails to
it (:func:`verify`), or by accepting an invitation mailed to it. Until then the account cannot
sign in and blocks nobody: the same address may have several pending sign-ups, and the first
verified one binds it; a later verified claim on a bound address joins its workspace to the
account that holds it. Verification tokens are random, stored as SHA-256, single-use and
expire. Passwords are checked against the policy before they are hashed; emails are compared
case-insensitively.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, select, text, update
from sqlalchemy.orm import Session

from codex32.auth.passwords import burn_verify, check_policy, hash_password, verify_password
from codex32.auth.principal import Origin, Principal
from codex32.auth.rbac import Role
from codex32.crypto import secret_digest
from codex32.db import tenancy
from codex32.db.models import Membership, User, Workspace
from codex32.errors import DomainError
from codex32.services import audit
from codex32.services.auth import find_by_email
from codex32.services.mail import Message

VERIFY_LIFETIME = timedelta(hours=24)
# The password hash of an account made by an identity provider: not an Argon2 hash, so no
# password ever matches it.
NO_PASSWORD = "!no-password"
RESEND_AT_MOST = 5  # pending sign-ups of one address re-mailed per request
INVALID = ("the verification token is invalid, used or expired, or the password is not the "
           "sign-up's (or, for an address that has an account already, not that account's)")


class InvalidToken(DomainError):
    status = 400


@dataclass(frozen=True)
class Verified:
    """The outcome of a verification: the account that now holds the address, and the
    workspace its sign-up created."""

    user: User
    workspace: Workspace


@dataclass(frozen=True)
class PendingMail:
    """A verification token to mail, with the workspace its sign-up is for."""

    email: str
    token: str
    workspace_name: str


def create(session: Session, email: str, password: str, *, verified: bool) -> User:
    """A new account (flushed with the caller's transaction) after the password policy check;
    an unverified one is pending until :func:`verify`."""
    check_policy(password, email)
    user = User(id=uuid.uuid4(), email=email, password_hash=hash_password(password),
                email_verified_at=datetime.now(UTC) if verified else None)
    session.add(user)
    session.flush()  # rows added next (memberships) reference it; no relationship orders them
    return user


def create_without_password(session: Session, email: str, *, verified: bool) -> User:
    """A new account that signs in through an identity provider only (flushed). Unverified,
    it does not claim its address: it is reached through its linked identity alone."""
    user = User(id=uuid.uuid4(), email=email, password_hash=NO_PASSWORD,
                email_verified_at=datetime.now(UTC) if verified else None)
    session.add(user)
    session.flush()
    return user


def start_verification(user: User) -> str:
    """Give a pending account a new verification token (any older one stops working)."""
    token = secrets.token_urlsafe(32)
    user.verify_token_hash = secret_digest(token)
    user.verify_expires_at = datetime.now(UTC) + VERIFY_LIFETIME
    return token


def lock_address(session: Session, email: str) -> None:
    """Serialize, until commit, everything that binds ``email`` to an account."""
    session.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(lower(:e), 32))"),
                    {"e": email})


def verify(session: Session, token: str, password: str, origin: Origin) -> Verified:
    """Bind the address of the pending sign-up that ``token`` was mailed for.

    The token proves control of the address and ``password`` proves the verifier is the one
    who signed up: whoever merely receives a sign-up made by someone else cannot bind that
    stranger's password to their address. A bound address keeps its account (``password``
    must then be that account's): the sign-up's workspace joins it and the pending account is
    removed. An account an identity provider made has no password: the sign-up's password is
    checked instead and becomes the account's. A token works once, before it expires.
    """
    digest = secret_digest(token)
    email = session.execute(select(User.email).where(User.verify_token_hash == digest)).scalar()
    if email is None:
        burn_verify(password)  # the same work whether or not the token exists
        raise InvalidToken(INVALID)
    lock_address(session, email)
    pending = session.execute(select(User).where(User.verify_token_hash == digest)
                              .with_for_update()).scalar()
    if (pending is None or pending.email_verified_at is not None
            or pending.verify_expires_at is None
            or pending.verify_expires_at <= datetime.now(UTC)):
        raise InvalidToken(INVALID)
    workspace_id = session.execute(text("SELECT workspace_id FROM auth_user_workspaces(:u)"),
                                   {"u": pending.id}).scalar_one()
    holder = find_by_email(session, pending.email)
    # A holder made by an identity provider has no password: the sign-up's own proves the
    # verifier signed up, and the mailed token that the address is theirs.
    passwordless = holder is not None and holder.password_hash == NO_PASSWORD
    checked = pending if holder is None or passwordless else holder
    if not verify_password(checked.password_hash, password):
        raise InvalidToken(INVALID)
    tenancy.bind(session, workspace_id)
    if holder is None:
        pending.email_verified_at = datetime.now(UTC)
        pending.verify_token_hash = pending.verify_expires_at = None
        account = pending
    else:
        if passwordless:
            holder.password_hash = pending.password_hash
        session.execute(update(Membership).where(Membership.user_id == pending.id)
                        .values(user_id=holder.id))
        session.execute(delete(User).where(User.id == pending.id))
        account = holder
    principal = Principal(workspace_id=workspace_id, role=Role.ADMIN.value, user_id=account.id,
                          origin=origin)
    audit.record(session, principal, "account.verify", "user", account.id,
                 {"email": account.email, "joined_existing_account": holder is not None,
                  "password_set": passwordless})
    workspace = session.get_one(Workspace, workspace_id)
    session.flush()
    return Verified(account, workspace)


def renew_verifications(session: Session, email: str, origin: Origin) -> list[PendingMail]:
    """New tokens for the newest pending sign-ups of ``email`` (none for a bound or unknown
    address: the caller answers the same either way)."""
    pending = session.execute(
        select(User).where(func.lower(User.email) == email.lower(),
                           User.email_verified_at.is_(None), User.password_hash != NO_PASSWORD)
        .order_by(User.created_at.desc()).limit(RESEND_AT_MOST).with_for_update()).scalars().all()
    mails = []
    for user in pending:
        row = session.execute(text("SELECT workspace_id FROM auth_user_workspaces(:u)"),
                              {"u": user.id}).first()
        if row is None:
            continue
        token = start_verification(user)
        tenancy.bind(session, row.workspace_id)
        workspace = session.get_one(Workspace, row.workspace_id)
        principal = Principal(workspace_id=row.workspace_id, role=Role.ADMIN.value,
                              user_id=user.id, origin=origin)
        audit.record(session, principal, "account.verification_resend", "user", user.id,
                     {"email": user.email})
        session.flush()
        mails.append(PendingMail(user.email, token, workspace.name))
    return mails


def verification_message(mail: PendingMail, api_base: str) -> Message:
    """The mail that carries a verification token to the address it verifies."""
    where = f"{api_base}/auth/verify"
    body = (f"Someone signed up for the Codex-32 workspace \"{mail.workspace_name}\" with this "
            f"address.\n\nIf it was you, confirm the address within "
            f"{int(VERIFY_LIFETIME.total_seconds() // 3600)} hours by sending this token:\n\n"
            f"    POST {where}\n    {{\"token\": \"{mail.token}\", \"password\": "
            f"\"<the password you chose>\"}}\n\n"
            f"then sign in with that password. If it was not you, ignore this mail: "
            f"the sign-up expires and the address stays yours.\n\ntoken: {mail.token}\n")
    return Message(to=mail.email, subject="Confirm your email address for Codex-32", body=body,
                   token=mail.token)

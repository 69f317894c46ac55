"""Invitations: an admin invites an email with a role; the invitee accepts with a password.

The token is shown once and stored as a SHA-256. Accepting happens before any workspace is
bound, so the invitation is found through the ``auth_invitation`` SECURITY DEFINER function.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from codex32.auth.passwords import verify_password
from codex32.auth.principal import Origin, Principal
from codex32.crypto import secret_digest
from codex32.db import tenancy
from codex32.db.models import Invitation, Membership, User
from codex32.errors import Conflict, DomainError, NotFound, Unauthorized
from codex32.services import audit
from tenants import accounts

LIFETIME = timedelta(days=7)


class Gone(DomainError):
    status = 410


@dataclass(frozen=True)
class IssuedInvitation:
    """A new invitation with its plain token (shown once)."""

    id: uuid.UUID
    email: str
    role: str
    token: str
    expires_at: datetime


def invite(session: Session, principal: Principal, email: str, role: str) -> IssuedInvitation:
    """Invite ``email`` to the principal's workspace with ``role``."""
    already = session.execute(
        select(Membership.user_id).join(User, User.id == Membership.user_id)
        .where(func.lower(User.email) == email.lower())).first()
    if already:
        raise Conflict("this email is already a member of the workspace")
    token = secrets.token_urlsafe(32)
    invitation = Invitation(workspace_id=principal.workspace_id, id=uuid.uuid4(), email=email,
                            role=role, token_hash=secret_digest(token),
                            invited_by=principal.user_id,
                            expires_at=datetime.now(UTC) + LIFETIME)
    session.add(invitation)
    audit.record(session, principal, "invitation.create", "invitation", invitation.id,
                 {"email": email, "role": role})
    session.commit()
    return IssuedInvitation(invitation.id, email, role, token, invitation.expires_at)


def accept(session: Session, token: str, password: str, origin: Origin) -> tuple[User, uuid.UUID]:
    """Join the invited workspace: a new account sets ``password``, an existing one proves it.

    Returns the user and the workspace id.
    """
    row = session.execute(text(
        "SELECT id, workspace_id, email, role, expires_at, accepted_at FROM auth_invitation(:h)"),
        {"h": secret_digest(token)}).first()
    if row is None:
        raise NotFound("invitation not found")
    if row.accepted_at is not None:
        raise Conflict("the invitation has already been accepted")
    if row.expires_at <= datetime.now(UTC):
        raise Gone("the invitation has expired")
    user = accounts.find_by_email(session, row.email)
    if user is None:
        user = accounts.create(session, row.email, password)
    elif not verify_password(user.password_hash, password):
        raise Unauthorized("give the current password of the invited account")
    tenancy.bind(session, row.workspace_id)
    session.add(Membership(workspace_id=row.workspace_id, user_id=user.id, role=row.role))
    session.execute(update(Invitation).where(Invitation.id == row.id)
                    .values(accepted_at=datetime.now(UTC)))
    principal = Principal(workspace_id=row.workspace_id, role=row.role, user_id=user.id,
                          origin=origin)
    audit.record(session, principal, "invitation.accept", "invitation", row.id,
                 {"email": row.email, "role": row.role})
    try:
        session.commit()
    except IntegrityError as exc:
        session.rollback()
        raise Conflict("you are already a member of this workspace") from exc
    return user, row.workspace_id

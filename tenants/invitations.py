"""Invitations: an admin invites an email with a role; the token is mailed to that address.

An admin may withdraw an invitation until it is accepted: its row is deleted (the audit row
keeps its email and role), so its token then answers exactly as an unknown one. Accepting one
closes (deletes) the workspace's other open invitations to the same address: the address is a
member now, and a stale token must not bring it back once it is removed.

The token is never shown to the admin (who could otherwise claim an address they do not
control); it is stored as a SHA-256. Accepting proves control of the invited address, so it
verifies it: a new account is created verified, and an existing account joins without its
password. The answer and the work are the same either way, so accepting reveals neither whether
the address had an account nor whether a password was right. Accepting happens before any
workspace is bound, so the invitation is found through the ``auth_invitation`` SECURITY DEFINER
function.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from codex32.auth.passwords import check_policy, hash_password
from codex32.auth.principal import Origin, Principal
from codex32.crypto import secret_digest
from codex32.db import tenancy
from codex32.db.models import Invitation, Membership, User, Workspace
from codex32.errors import Conflict, DomainError, NotFound
from codex32.services import audit
from codex32.services.auth import find_by_email
from codex32.services.mail import Message
from tenants import accounts

LIFETIME = timedelta(days=7)


class Gone(DomainError):
    status = 410


@dataclass(frozen=True)
class IssuedInvitation:
    """A new invitation, and its plain token for the mail to the invited address only."""

    id: uuid.UUID
    email: str
    role: str
    token: str
    expires_at: datetime
    workspace_name: str


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
    workspace_name = session.get_one(Workspace, principal.workspace_id).name
    session.flush()
    return IssuedInvitation(invitation.id, email, role, token, invitation.expires_at,
                            workspace_name)


def list_pending(session: Session) -> list[Invitation]:
    """The bound workspace's invitations not yet accepted and not expired, newest first."""
    return list(session.execute(
        select(Invitation).where(Invitation.accepted_at.is_(None),
                                 Invitation.expires_at > datetime.now(UTC))
        .order_by(Invitation.created_at.desc(), Invitation.id)).scalars())


def withdraw(session: Session, principal: Principal, invitation_id: uuid.UUID) -> None:
    """Withdraw an invitation of the bound workspace that is not accepted yet; its token then
    answers 404 like an unknown one. A missing, already withdrawn or another workspace's
    invitation is 404; an accepted one is 409 (remove the member instead)."""
    invitation = session.execute(select(Invitation).where(Invitation.id == invitation_id)
                                 .with_for_update()).scalar()  # waits for an accept under way
    if invitation is None:
        raise NotFound("invitation not found")
    if invitation.accepted_at is not None:
        raise Conflict("the invitation has already been accepted; to undo it, remove the "
                       "member (DELETE /api/v1/members/<user_id>)")
    session.delete(invitation)
    audit.record(session, principal, "invitation.withdraw", "invitation", invitation.id,
                 {"email": invitation.email, "role": invitation.role})
    session.flush()


def close_others(session: Session, email: str, accepted: uuid.UUID) -> int:
    """Delete the bound workspace's other open invitations to ``email`` as ``accepted`` makes
    the address a member (they are moot, and a stale token must not bring the member back
    after a removal); how many went."""
    result = session.execute(
        delete(Invitation).where(func.lower(Invitation.email) == email.lower(),
                                 Invitation.id != accepted, Invitation.accepted_at.is_(None))
        .execution_options(synchronize_session=False))
    return int(result.rowcount)  # type: ignore[attr-defined]


def invitation_message(issued: IssuedInvitation, api_base: str) -> Message:
    """The mail that carries an invitation token to the invited address."""
    body = (f"You are invited to the Codex-32 workspace \"{issued.workspace_name}\" as "
            f"{issued.role}. Accept before {issued.expires_at:%Y-%m-%d %H:%M} UTC:\n\n"
            f"    POST {api_base}/invitations/{issued.token}/accept\n"
            f"    {{\"password\": \"...\"}}\n\n"
            f"A new account takes that password; if this address already has an account, it "
            f"keeps its own password. Then sign in at {api_base}/auth/token.\n\n"
            f"token: {issued.token}\n")
    return Message(to=issued.email, subject=f"Invitation to {issued.workspace_name} on Codex-32",
                   body=body, token=issued.token)


def accept(session: Session, token: str, password: str, origin: Origin) -> tuple[str, uuid.UUID]:
    """Join the invited workspace: a new account takes ``password``, an existing one keeps its
    own. Returns the invited email and the workspace id (the same for both)."""
    row = session.execute(text(
        "SELECT id, workspace_id, email, role, expires_at, accepted_at FROM auth_invitation(:h)"),
        {"h": secret_digest(token)}).first()
    if row is None:
        raise NotFound("invitation not found")
    if row.accepted_at is not None:
        raise Conflict("the invitation has already been accepted")
    if row.expires_at <= datetime.now(UTC):
        raise Gone("the invitation has expired")
    check_policy(password, row.email)  # for both, so a weak password answers the same
    accounts.lock_address(session, row.email)
    user = find_by_email(session, row.email)
    if user is None:
        user = accounts.create(session, row.email, password, verified=True)
    else:
        hash_password(password)  # the work of a new account: the time tells nothing either
    tenancy.bind(session, row.workspace_id)
    # Claim the row first: a withdrawal or another accept that got there meanwhile wins.
    claimed = session.execute(
        update(Invitation).where(Invitation.id == row.id, Invitation.accepted_at.is_(None))
        .values(accepted_at=datetime.now(UTC)).execution_options(synchronize_session=False))
    if claimed.rowcount == 0:  # type: ignore[attr-defined]
        if session.scalar(select(Invitation.id).where(Invitation.id == row.id)) is None:
            raise NotFound("invitation not found")  # withdrawn meanwhile
        raise Conflict("the invitation has already been accepted")
    closed = close_others(session, row.email, row.id)
    session.add(Membership(workspace_id=row.workspace_id, user_id=user.id, role=row.role))
    principal = Principal(workspace_id=row.workspace_id, role=row.role, user_id=user.id,
                          origin=origin)
    audit.record(session, principal, "invitation.accept", "invitation", row.id,
                 {"email": row.email, "role": row.role, "closed_invitations": closed})
    try:
        session.flush()
    except IntegrityError as exc:
        raise Conflict("the invitation has already been accepted") from exc
    return row.email, row.workspace_id

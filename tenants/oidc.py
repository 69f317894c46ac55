"""Signing in with an OpenID provider: link the identity to an account, admit it to the
workspace, issue the platform's own tokens.

An identity is the provider's (``iss``, ``sub``), linked to one account within one workspace
(``oidc_identities``). A new identity links to an existing account by its address only when
the provider says the address is verified (``email_verified`` true), never otherwise, and:

- a platform provider (configured by the operator) is trusted for addresses: it links to the
  account that holds the verified address, or creates a verified account for it;
- a workspace's own provider (configured by a tenant, who could assert any address) speaks for
  that workspace only: it links to an account that is already a member of the workspace, and
  otherwise creates an account that does not claim the address platform-wide (unverified,
  password-less, reached through this identity alone), so it can neither take over nor
  pre-empt anyone's account elsewhere.

An account that is not a member is admitted by a pending invitation to its verified address
(with the invitation's role), or by the workspace's allowlist of email domains
(``settings.oidc.allowed_domains``, with ``settings.oidc.default_role``); with no allowlist the
workspace is invitation-only. The sign-in is audited (``auth.login``) like a password one.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from codex32.auth import tokens
from codex32.auth.principal import Origin
from codex32.db.models import Invitation, Membership, User, Workspace
from codex32.db.oidc_models import OIDCIdentity
from codex32.errors import Forbidden
from codex32.services.auth import find_by_email, record_sign_in
from codex32.services.oidc.providers import Provider
from codex32.services.oidc.sign_ins import Pending
from tenants import accounts, invitations

DEFAULT_ROLE = "user"
DOMAIN_ROLES = ("user", "viewer")  # what settings.oidc.default_role may be
UNVERIFIED = ("the identity provider has not verified this email address, so it cannot be "
              "linked to an account or admitted")
NOT_ADMITTED = ("this workspace admits new members by invitation only (or from its allowed "
                "email domains); ask an admin to invite this address")


def sign_in(session: Session, pending: Pending, claims: dict[str, Any],
            origin: Origin) -> tokens.TokenPair:
    """Tokens for the identity in ``claims`` (a verified ID token) in the pending sign-in's
    workspace, which is bound; 403 when it may not be linked or admitted."""
    provider = pending.provider
    email = _email(claims)
    verified = email is not None and claims.get("email_verified") in (True, "true")
    if email is not None:
        accounts.lock_address(session, email)
    identity = session.execute(select(OIDCIdentity).where(
        OIDCIdentity.issuer == claims["iss"], OIDCIdentity.subject == claims["sub"])
        .with_for_update()).scalar()
    linked = identity is None
    if identity is None:
        if not verified:
            raise Forbidden(UNVERIFIED)
        assert email is not None
        user = _account_for(session, provider, email)
        identity = OIDCIdentity(workspace_id=pending.workspace_id, id=uuid.uuid4(),
                                provider=provider.id, issuer=claims["iss"],
                                subject=claims["sub"], user_id=user.id, email=email)
        session.add(identity)
    role = _role_of(session, identity.user_id)
    admitted_by, closed = None, 0
    if role is None:
        if not verified:
            raise Forbidden(UNVERIFIED)
        assert email is not None
        role, admitted_by, closed = _admit(session, pending.workspace_id, identity.user_id,
                                           email)
    identity.last_sign_in_at = datetime.now(UTC)
    if verified:
        identity.email = email
    session.flush()
    stamp = record_sign_in(session, identity.user_id, pending.workspace_id, origin, {
        "method": "oidc", "provider": provider.id, "issuer": claims["iss"],
        "linked_identity": linked, "admitted_by": admitted_by, "role": role,
        **({"closed_invitations": closed} if closed else {})})
    # A workspace's own provider speaks for its workspace only: what it signs in may not be
    # switched into the account's other workspaces, whose admins never trusted it.
    return tokens.issue_pair(identity.user_id, pending.workspace_id, joined=stamp.joined,
                             generation=stamp.generation,
                             workspace_only=provider.workspace_id is not None)


def _email(claims: dict[str, Any]) -> str | None:
    email = claims.get("email")
    if not isinstance(email, str) or len(email) > 320 or email.count("@") != 1:
        return None
    local, domain = email.split("@")
    return email if local and domain else None


def _account_for(session: Session, provider: Provider, email: str) -> User:
    """The account a new identity with this verified ``email`` links to (see the module)."""
    holder = find_by_email(session, email)
    if provider.workspace_id is None:
        return holder or accounts.create_without_password(session, email, verified=True)
    if holder is not None and _role_of(session, holder.id) is not None:
        return holder
    return accounts.create_without_password(session, email, verified=False)


def _role_of(session: Session, user_id: uuid.UUID) -> str | None:
    """The account's role in the bound workspace, or None for a non-member."""
    return session.execute(select(Membership.role).where(Membership.user_id == user_id)
                           ).scalar()


def _domain_role(stored: object) -> str:
    """The role a domain admits with: the stored one when the API could have saved it (user
    or viewer), else viewer. A row saved before the check, or by hand, must not make every
    address of a domain an admin (or give a role no permission map knows)."""
    return stored if stored in DOMAIN_ROLES else "viewer"


def _admit(session: Session, workspace_id: uuid.UUID, user_id: uuid.UUID,
           email: str) -> tuple[str, str, int]:
    """Make the account a member: by a pending invitation to ``email`` (closing the address's
    other open invitations), else by the allowed domains; 403 when neither admits it. Returns
    the role, what admitted it and how many other invitations closed."""
    now = datetime.now(UTC)
    invitation = session.execute(
        select(Invitation).where(func.lower(Invitation.email) == email.lower(),
                                 Invitation.accepted_at.is_(None), Invitation.expires_at > now)
        .order_by(Invitation.created_at.desc()).limit(1).with_for_update()).scalar()
    if invitation is not None:
        invitation.accepted_at = now
        closed = invitations.close_others(session, email, invitation.id)
        role, admitted_by = invitation.role, "invitation"
    else:
        found = session.get_one(Workspace, workspace_id).settings.get("oidc")
        policy = found if isinstance(found, dict) else {}
        domain = email.rsplit("@", 1)[1].lower()
        domains = policy.get("allowed_domains")
        allowed = {entry.lower() for entry in domains if isinstance(entry, str)} \
            if isinstance(domains, list) else set()
        if domain not in allowed:
            raise Forbidden(NOT_ADMITTED)
        role, admitted_by = _domain_role(policy.get("default_role") or DEFAULT_ROLE), "domain"
        closed = 0
    session.add(Membership(workspace_id=workspace_id, user_id=user_id, role=role))
    session.flush()
    return role, admitted_by, closed

"""Members of a workspace: list, change role, remove; a workspace always keeps one admin.

Removing a member deletes the API keys they minted in the workspace; a demotion needs
nothing: a key never acts with more than its minter's current role."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from codex32.auth.principal import Principal
from codex32.auth.rbac import Role
from codex32.db.models import Membership, User
from codex32.errors import Conflict, NotFound
from codex32.services import api_keys, audit


@dataclass(frozen=True)
class Member:
    """A member as the API shows it."""

    user_id: uuid.UUID
    email: str
    role: str
    joined_at: datetime


def _members() -> Select:
    return (select(Membership.user_id, User.email, Membership.role, Membership.created_at)
            .join(User, User.id == Membership.user_id))


def list_members(session: Session) -> list[Member]:
    """Members of the bound workspace, oldest first."""
    rows = session.execute(_members().order_by(Membership.created_at, Membership.user_id))
    return [Member(*row) for row in rows]


def change_role(session: Session, principal: Principal, user_id: uuid.UUID, role: str) -> Member:
    """Give a member another role; demoting the last admin is a conflict. The role it has
    already is no change: nothing written, not audited."""
    membership, admins = _locked(session, user_id)
    if membership.role == Role.ADMIN and role != Role.ADMIN:
        _keep_an_admin(admins, user_id)
    recorded = audit.apply_changes(membership, {"role": role})
    if recorded:
        audit.record(session, principal, "member.update", "member", user_id, recorded)
        session.flush()
    return _member(session, user_id)


def remove(session: Session, principal: Principal, user_id: uuid.UUID) -> None:
    """Remove a member, and the API keys they minted here; removing the last admin is a
    conflict."""
    membership, admins = _locked(session, user_id)
    if membership.role == Role.ADMIN:
        _keep_an_admin(admins, user_id)
    revoked = api_keys.revoke_minted_by(session, principal, user_id)
    session.delete(membership)
    audit.record(session, principal, "member.delete", "member", user_id,
                 {"role": membership.role, "keys_revoked": revoked})
    session.flush()


def _locked(session: Session, user_id: uuid.UUID) -> tuple[Membership, list[uuid.UUID]]:
    """The member's row and the admins', locked: the admins first, in one order, so two
    concurrent changes (two admins demoting each other) wait for each other and the later one
    sees the earlier's outcome, rather than deadlock or both pass the last-admin check."""
    admins = list(session.execute(
        select(Membership.user_id).where(Membership.role == Role.ADMIN)
        .order_by(Membership.user_id).with_for_update()).scalars())
    membership = session.execute(
        select(Membership).where(Membership.user_id == user_id).with_for_update()).scalar()
    if membership is None:
        raise NotFound("member not found")
    return membership, admins


def _keep_an_admin(admins: list[uuid.UUID], leaving: uuid.UUID) -> None:
    if not [admin for admin in admins if admin != leaving]:
        raise Conflict("a workspace needs at least one admin")


def _member(session: Session, user_id: uuid.UUID) -> Member:
    return Member(*session.execute(_members().where(Membership.user_id == user_id)).one())

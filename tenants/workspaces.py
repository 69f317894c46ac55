"""Workspaces: sign-up (a workspace with its first admin), reading and updating settings."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from codex32.auth.passwords import verify_password
from codex32.auth.principal import Origin, Principal
from codex32.auth.rbac import Role
from codex32.db import tenancy
from codex32.db.models import Membership, User, Workspace
from codex32.errors import Conflict, Invalid, NotFound
from codex32.services import audit
from tenants import accounts

SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")


def slugify(name: str) -> str:
    """A URL-safe slug from a workspace name."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:63].strip("-")
    return slug or f"ws-{uuid.uuid4().hex[:8]}"


def sign_up(session: Session, *, name: str, admin_email: str, admin_password: str,
            origin: Origin, slug: str | None = None) -> tuple[Workspace, User]:
    """Create a workspace and make the given account its admin, in one transaction.

    An existing account may create another workspace by giving its current password.
    """
    slug = slug or slugify(name)
    if not SLUG.match(slug):
        raise Invalid("invalid slug", errors={"json": {"slug": [
            "lowercase letters, digits and inner hyphens, at most 63 characters"]}})
    user = accounts.find_by_email(session, admin_email)
    if user is not None and not verify_password(user.password_hash, admin_password):
        raise Conflict("an account with this email exists; sign up with its password "
                       "or sign in and accept an invitation")
    if user is None:
        user = accounts.create(session, admin_email, admin_password)
    workspace = Workspace(id=uuid.uuid4(), name=name, slug=slug, settings={})
    tenancy.bind(session, workspace.id)
    session.add(workspace)
    try:
        session.flush()  # the membership and audit rows reference the new workspace and user
    except IntegrityError as exc:
        session.rollback()
        if "slug" in str(exc.orig):
            raise Conflict(f"the slug '{slug}' is taken") from exc
        raise Conflict("this account was created concurrently; sign in instead") from exc
    session.add(Membership(workspace_id=workspace.id, user_id=user.id, role=Role.ADMIN.value))
    principal = Principal(workspace_id=workspace.id, role=Role.ADMIN.value, user_id=user.id,
                          origin=origin)
    audit.record(session, principal, "workspace.create", "workspace", workspace.id,
                 {"name": name, "slug": slug, "admin_email": admin_email})
    session.commit()
    return workspace, user


def get(session: Session, principal: Principal) -> Workspace:
    """The principal's workspace."""
    workspace = session.get(Workspace, principal.workspace_id)
    if workspace is None:
        raise NotFound("workspace not found")
    return workspace


def update(session: Session, principal: Principal, changes: dict[str, Any]) -> Workspace:
    """Rename the workspace or replace parts of its settings (merged per top-level key)."""
    workspace = get(session, principal)
    if "settings" in changes:
        from codex32.services.providers import check_workspace_choices

        check_workspace_choices(changes["settings"])
    before = {"name": workspace.name, "settings": workspace.settings}
    if "name" in changes:
        workspace.name = changes["name"]
    if "settings" in changes:
        workspace.settings = {**workspace.settings, **changes["settings"]}
    workspace.updated_at = datetime.now(UTC)
    audit.record(session, principal, "workspace.update", "workspace", workspace.id,
                 {"before": before, "after": changes})
    session.commit()
    return workspace


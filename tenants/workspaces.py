"""Workspaces: sign-up (a workspace with its first admin), reading and updating settings.

A sign-up never looks at existing accounts: it always creates the workspace and a pending
admin account whose address must be verified (see ``tenants.accounts``), so its answer, its
work and its time are the same whether the address is new, already has an account, or the
password is right or wrong.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from codex32.auth.principal import Origin, Principal
from codex32.auth.rbac import Role
from codex32.db import tenancy
from codex32.db.models import Membership, User, Workspace
from codex32.errors import Conflict, Invalid, NotFound
from codex32.services import audit
from codex32.services.gateway import routing
from codex32.services.providers import check_workspace_choices
from tenants import accounts

SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")


@dataclass(frozen=True)
class SignUp:
    """A new workspace, its admin account and, for a pending account, the token to mail."""

    workspace: Workspace
    user: User
    pending: accounts.PendingMail | None


def slugify(name: str) -> str:
    """A URL-safe slug from a workspace name (never one that reads as an id)."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:63].strip("-")
    if reads_as_id(slug):
        slug = f"ws-{slug}"
    return slug or f"ws-{uuid.uuid4().hex[:8]}"


def reads_as_id(slug: str) -> bool:
    """Whether ``slug`` parses as a UUID: workspaces are named "by slug or id", so such a slug
    would make a reference to another workspace's id ambiguous."""
    try:
        uuid.UUID(slug)
    except ValueError:
        return False
    return True


def sign_up(session: Session, *, name: str, admin_email: str, admin_password: str,
            origin: Origin, slug: str | None = None, verified: bool = False) -> SignUp:
    """Create a workspace and its admin account, in one transaction.

    The account is pending until its address is verified, unless ``verified`` (an operator's
    own command, never an API request).
    """
    chosen = slug
    slug = slug or slugify(name)
    if not SLUG.match(slug):
        raise Invalid("invalid slug", errors={"json": {"slug": [
            "lowercase letters, digits and inner hyphens, at most 63 characters"]}})
    if reads_as_id(slug):
        raise Invalid("invalid slug", errors={"json": {"slug": [
            "must not read as a workspace id (a UUID)"]}})
    user = accounts.create(session, admin_email, admin_password, verified=verified)
    token = None if verified else accounts.start_verification(user)
    workspace = Workspace(id=uuid.uuid4(), name=name, slug=slug, settings={})
    tenancy.bind(session, workspace.id)
    session.add(workspace)
    try:
        session.flush()  # the membership and audit rows reference the new workspace and user
    except IntegrityError as exc:
        if "slug" in str(exc.orig):
            told = "" if chosen else (" (made from the name: choose another name, or send a "
                                      "slug of your own)")
            raise Conflict(f"the slug '{slug}' is taken{told}",
                           errors={"json": {"slug": ["taken"]}}) from exc
        raise Conflict("this account exists; sign in instead") from exc
    session.add(Membership(workspace_id=workspace.id, user_id=user.id, role=Role.ADMIN.value))
    principal = Principal(workspace_id=workspace.id, role=Role.ADMIN.value, user_id=user.id,
                          origin=origin)
    audit.record(session, principal, "workspace.create", "workspace", workspace.id,
                 {"name": name, "slug": slug, "admin_email": admin_email,
                  "admin_verified": verified})
    session.flush()
    pending = accounts.PendingMail(admin_email, token, name) if token else None
    return SignUp(workspace, user, pending)


def merge_patch(target: Any, patch: Any) -> Any:
    """``target`` changed by the JSON merge patch ``patch`` (RFC 7396), as a new value."""
    if not isinstance(patch, dict):
        return patch
    merged = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = merge_patch(merged.get(key), value)
    return merged


def get(session: Session, principal: Principal) -> Workspace:
    """The principal's workspace."""
    workspace = session.get(Workspace, principal.workspace_id)
    if workspace is None:
        raise NotFound("workspace not found")
    return workspace


def update(session: Session, principal: Principal, changes: dict[str, Any], *,
           check_settings: Callable[[dict[str, Any]], None] | None = None) -> Workspace:
    """Rename the workspace or change its settings: ``changes["settings"]`` is a JSON merge
    patch (RFC 7396: an object merges key by key, ``None`` removes a key, anything else
    replaces it). ``check_settings`` checks what the merge made of each top-level key the
    patch names (and so do the plugin-id and alias checks); a key it does not name is kept as
    stored. The audit row records each field that changed, ``{"before", "after"}``; an update
    that changes nothing is no mutation: nothing written, not audited. The workspace's row is
    locked first and read fresh: two updates at once merge one after the other, never from
    the same settings (the second would drop the first's change)."""
    workspace = session.execute(
        select(Workspace).where(Workspace.id == principal.workspace_id).with_for_update()
        .execution_options(populate_existing=True)).scalar_one_or_none()
    if workspace is None:
        raise NotFound("workspace not found")
    wanted = dict(changes)
    if "settings" in wanted:
        patch = wanted["settings"]
        merged = merge_patch(workspace.settings, patch)
        touched = {key: merged[key] for key in patch if key in merged}
        if check_settings is not None:
            check_settings(touched)
        check_workspace_choices(touched)
        routing.check_aliases(touched.get("llm") or {})
        wanted["settings"] = merged
    recorded = audit.apply_changes(workspace, wanted)
    if not recorded:
        return workspace
    workspace.updated_at = datetime.now(UTC)
    audit.record(session, principal, "workspace.update", "workspace", workspace.id, recorded)
    session.flush()
    return workspace


"""Who is calling: the principal resolved from a JWT or an API key, bound to one workspace.

Authentication binds the workspace from the verified credential (never from a header alone)
and reads the role from the database on every request, so a demotion or removal applies to
tokens already issued.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from codex32.auth import api_keys, tokens
from codex32.auth.rbac import Permission, permissions_of
from codex32.db import tenancy
from codex32.errors import Unauthorized


@dataclass(frozen=True)
class Origin:
    """Where a request came from, for the audit log."""

    request_id: str | None = None
    ip: str | None = None


@dataclass(frozen=True)
class Principal:
    """An authenticated caller acting in one workspace with one role."""

    workspace_id: uuid.UUID
    role: str
    user_id: uuid.UUID | None = None
    api_key_id: uuid.UUID | None = None
    origin: Origin = field(default_factory=Origin)
    claims: dict[str, Any] | None = None

    @property
    def permissions(self) -> frozenset[Permission]:
        return permissions_of(self.role)

    def can(self, permission: Permission) -> bool:
        return permission in self.permissions

    @property
    def actor_type(self) -> str:
        if self.api_key_id:
            return "api_key"
        return "user" if self.user_id else "system"

    @property
    def actor_id(self) -> uuid.UUID | None:
        return self.api_key_id or self.user_id

    @property
    def rate_key(self) -> str:
        return f"{self.actor_type}:{self.actor_id}"


def credential_from(headers: Any) -> str:
    """The bearer token or API key in the request headers; a malformed header is 401."""
    authorization = headers.get("Authorization")
    if authorization is not None:
        scheme, _, value = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not value.strip() or " " in value.strip():
            raise Unauthorized("the Authorization header must be 'Bearer <token>'")
        return value.strip()
    key = headers.get("X-API-Key")
    if key is not None:
        if not key.strip():
            raise Unauthorized("the X-API-Key header is empty")
        return key.strip()
    raise Unauthorized()


def authenticate(session: Session, headers: Any, origin: Origin) -> Principal:
    """Resolve the caller from ``headers`` and bind its workspace to ``session``."""
    credential = credential_from(headers)
    if api_keys.looks_like_key(credential):
        return _from_api_key(session, credential, origin)
    return _from_access_token(session, credential, origin)


def _from_api_key(session: Session, plain: str, origin: Origin) -> Principal:
    record = api_keys.lookup_and_bind(session, plain)
    if record is None:
        raise Unauthorized("the API key is invalid")
    if record.expires_at is not None and record.expires_at <= datetime.now(UTC):
        tenancy.unbind()
        raise Unauthorized("the API key has expired")
    return Principal(workspace_id=uuid.UUID(record.workspace_id), role=record.role,
                     api_key_id=uuid.UUID(record.id), origin=origin)


def _from_access_token(session: Session, token: str, origin: Origin) -> Principal:
    claims = tokens.decode(token, "access")
    role = membership_role(session, claims)
    return Principal(workspace_id=uuid.UUID(claims["ws"]), role=role,
                     user_id=uuid.UUID(claims["sub"]), origin=origin, claims=claims)


def membership(session: Session, claims: dict[str, Any]) -> dict[str, Any] | None:
    """The user's membership in the token's workspace (``role``, and ``revoked``: whether the
    token or its family is revoked), binding that workspace; None for a non-member."""
    return tenancy.bind_through(
        session, claims["ws"],
        "SELECT role, revoked FROM auth_membership(%(user)s, %(workspace)s, %(jti)s, %(fam)s)",
        {"user": claims["sub"], "workspace": claims["ws"], "jti": claims["jti"],
         "fam": tokens.family_id(claims)})


def membership_role(session: Session, claims: dict[str, Any]) -> str:
    """The user's current role in the token's workspace, which it binds; 401 if the token is
    revoked or the user is no longer a member."""
    return granted_role(membership(session, claims))


def granted_role(row: dict[str, Any] | None) -> str:
    """The role a :func:`membership` row grants; 401 (and nothing bound) for none or a
    revoked token."""
    if row is None:
        tenancy.unbind()
        raise Unauthorized("the token no longer grants access to this workspace")
    if row["revoked"]:
        tenancy.unbind()
        raise Unauthorized("the token has been revoked")
    return row["role"]

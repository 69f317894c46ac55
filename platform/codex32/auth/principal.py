"""Who is calling: the principal resolved from a JWT or an API key, bound to one workspace.

Authentication binds the workspace from the verified credential (never from a header alone)
and reads the role from the database on every request, so a demotion or removal applies to
tokens already issued, and to the API keys the member minted: a key acts with the permissions
both its own role and its minter's current role grant, and not at all once the minter is no
longer a member.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from codex32.auth import api_keys, tokens
from codex32.auth.rbac import Permission, permissions_of
from codex32.db import driver, tenancy
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
    # An API key's minter and their current role, which caps the key's (see permissions).
    minted_by: uuid.UUID | None = None
    minter_role: str | None = None
    # The rows of the reads the route asked to run with the authentication (see authenticate).
    reads: list[driver.Rows] = field(default_factory=list, compare=False, repr=False)

    @property
    def permissions(self) -> frozenset[Permission]:
        """What ``role`` grants; for an API key with a minter, only what the minter's current
        role grants too (a key never acts with more than the member who minted it)."""
        granted = permissions_of(self.role)
        if self.minted_by is not None:
            granted &= permissions_of(self.minter_role or "")
        return granted

    @property
    def role_label(self) -> str:
        """The role as a refusal names it (with the minter's, when that caps a key's)."""
        if self.minted_by is not None and self.minter_role != self.role:
            return f"{self.role}, capped by its minter's role {self.minter_role}"
        return self.role

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
    raise Unauthorized("authentication required: send 'Authorization: Bearer <token>' (the "
                       "refresh token, to refresh, revoke or switch) or 'X-API-Key: <key>'")


def authenticate(session: Session, headers: Any, origin: Origin,
                 reads: Sequence[driver.Statement] = ()) -> Principal:
    """Resolve the caller from ``headers`` and bind its workspace to ``session``.

    ``reads``: statements the route runs first anyway, sent in the authentication's round
    trip (they find the bound workspace's rows through row-level security alone); their rows
    are the principal's ``reads``, and are dropped when authentication refuses.
    """
    credential = credential_from(headers)
    if api_keys.looks_like_key(credential):
        return _from_api_key(session, credential, origin, reads)
    return _from_access_token(session, credential, origin, reads)


def _from_api_key(session: Session, plain: str, origin: Origin,
                  reads: Sequence[driver.Statement]) -> Principal:
    record = api_keys.lookup_and_bind(session, plain, reads)
    if record is None:
        raise Unauthorized("the API key is invalid")
    if record.expires_at is not None and record.expires_at <= datetime.now(UTC):
        tenancy.unbind()
        raise Unauthorized("the API key has expired")
    if record.created_by is not None and record.minter_role is None:
        tenancy.unbind()  # removal revokes the keys; this holds should one be left
        raise Unauthorized("the API key's minter is no longer a member of the workspace")
    return Principal(workspace_id=uuid.UUID(record.workspace_id), role=record.role,
                     api_key_id=uuid.UUID(record.id), origin=origin, reads=record.reads,
                     minted_by=uuid.UUID(record.created_by) if record.created_by else None,
                     minter_role=record.minter_role)


def _from_access_token(session: Session, token: str, origin: Origin,
                       reads: Sequence[driver.Statement]) -> Principal:
    claims = tokens.decode(token, "access")
    row, found = membership_reading(session, claims, reads)
    return Principal(workspace_id=uuid.UUID(claims["ws"]), role=granted_role(row),
                     user_id=uuid.UUID(claims["sub"]), origin=origin, claims=claims,
                     reads=found)


def membership(session: Session, claims: dict[str, Any]) -> dict[str, Any] | None:
    """The user's membership in the token's workspace (``role``, and ``revoked``: whether the
    token or its family is revoked), binding that workspace; None for a non-member."""
    return membership_reading(session, claims, ())[0]


def membership_reading(session: Session, claims: dict[str, Any],
                       reads: Sequence[driver.Statement]
                       ) -> tuple[dict[str, Any] | None, list[driver.Rows]]:
    """:func:`membership`, with ``reads`` in its round trip (see :func:`authenticate`). A
    membership other than the one the token was issued for (the member was removed and
    invited back since), or a token issued before the account's password was reset since, is
    none, and nothing is bound."""
    row, found = tenancy.bind_through_reading(
        session, claims["ws"],
        "SELECT role, revoked, joined_at, generation FROM auth_membership(%(user)s, "
        "%(workspace)s, %(jti)s, %(fam)s)",
        {"user": claims["sub"], "workspace": claims["ws"], "jti": claims["jti"],
         "fam": tokens.family_id(claims)}, reads)
    if row is not None and not (tokens.names_membership(claims, row["joined_at"])
                                and tokens.generation_of(claims) == row["generation"]):
        tenancy.unbind()
        return None, []
    return row, found


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

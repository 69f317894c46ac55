"""API key material: generation, hashing and the pre-tenant lookup. No HTTP here.

A key reads ``c32_<prefix>_<secret>``; only its SHA-256 and the prefix are stored. The key is
high-entropy, so a fast hash is right (unlike passwords).
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

from codex32.crypto import secret_digest
from codex32.db import driver, tenancy

KEY_PREFIX = "c32_"


@dataclass(frozen=True)
class NewKey:
    """A generated key: the plain value (shown once), its visible prefix and its hash."""

    plain: str
    prefix: str
    key_hash: str


@dataclass(frozen=True)
class KeyRecord:
    """What authentication learns about a presented key."""

    id: str
    workspace_id: str
    role: str
    expires_at: datetime | None
    created_by: str | None = None  # the member the key answers to (see services.api_keys)
    minter_role: str | None = None  # their current role in the key's workspace, None if gone
    reads: list[driver.Rows] = field(default_factory=list)  # see lookup_and_bind


def generate() -> NewKey:
    """A new random key."""
    prefix = secrets.token_hex(4)
    plain = f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    return NewKey(plain=plain, prefix=f"{KEY_PREFIX}{prefix}", key_hash=secret_digest(plain))


def looks_like_key(credential: str) -> bool:
    return credential.startswith(KEY_PREFIX)


def lookup_and_bind(session: Session, plain: str,
                    reads: Sequence[driver.Statement] = ()) -> KeyRecord | None:
    """Find a key by hash through the SECURITY DEFINER function (no workspace is bound yet)
    and bind its workspace in the same statement; None (nothing bound) for an unknown key.
    ``reads`` run in the same round trip (:func:`codex32.db.tenancy.bind_through_reading`)."""
    row, found = tenancy.bind_through_reading(
        session, None, "SELECT id, workspace_id, role, expires_at, created_by, minter_role "
        "FROM auth_api_key(%(h)s)", {"h": secret_digest(plain)}, reads)
    if row is None:
        return None
    minter = row["created_by"]
    return KeyRecord(str(row["id"]), str(row["workspace_id"]), row["role"], row["expires_at"],
                     str(minter) if minter is not None else None, row["minter_role"], found)

"""API keys of a workspace: mint (shown once), list, delete. Deletion takes effect at once.

A key answers to the member who minted it (``created_by``; a key minted by a key answers to
that key's member): it acts with no more than that member's current role
(:attr:`codex32.auth.principal.Principal.permissions`), and removing the member from the
workspace deletes the keys they minted there (:func:`revoke_minted_by`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from codex32.auth import api_keys
from codex32.auth.principal import Principal
from codex32.db.models import ApiKey
from codex32.errors import Conflict, Invalid, NotFound
from codex32.services import audit


@dataclass(frozen=True)
class MintedKey:
    """A new key record and its plain value, which is never shown again."""

    record: ApiKey
    key: str


def mint(session: Session, principal: Principal, name: str, role: str,
         expires_at: datetime | None) -> MintedKey:
    """Create a key bound to the principal's workspace and ``role``, answering to the member
    who minted it (through the minting key, for a key minted by a key)."""
    if expires_at is not None and expires_at <= datetime.now(UTC):
        raise Invalid("expires_at must be in the future",
                      errors={"json": {"expires_at": ["must be in the future"]}})
    new = api_keys.generate()
    record = ApiKey(workspace_id=principal.workspace_id, id=uuid.uuid4(), name=name,
                    prefix=new.prefix, key_hash=new.key_hash, role=role,
                    created_by=principal.user_id or principal.minted_by, expires_at=expires_at,
                    created_at=datetime.now(UTC))
    session.add(record)
    audit.record(session, principal, "api_key.create", "api_key", record.id,
                 {"name": name, "role": role, "prefix": new.prefix,
                  "expires_at": expires_at.isoformat() if expires_at else None})
    try:
        session.flush()
    except IntegrityError as exc:
        raise Conflict(f"an API key named '{name}' exists") from exc
    return MintedKey(record, new.plain)


def list_keys(session: Session) -> list[ApiKey]:
    """Keys of the bound workspace, newest first (hashes never leave the service)."""
    return list(session.execute(select(ApiKey).order_by(ApiKey.created_at.desc(), ApiKey.id))
                .scalars())


def get(session: Session, key_id: uuid.UUID) -> ApiKey:
    record = session.execute(select(ApiKey).where(ApiKey.id == key_id)).scalar()
    if record is None:
        raise NotFound("API key not found")
    return record


def remove(session: Session, principal: Principal, key_id: uuid.UUID) -> None:
    """Delete a key; requests presenting it fail from now on."""
    record = get(session, key_id)
    session.execute(delete(ApiKey).where(ApiKey.id == key_id))
    audit.record(session, principal, "api_key.delete", "api_key", key_id,
                 {"name": record.name, "prefix": record.prefix})
    session.flush()


def revoke_minted_by(session: Session, principal: Principal, user_id: uuid.UUID) -> int:
    """Delete the bound workspace's keys minted by ``user_id`` (the member leaves it), each
    audited as ``api_key.delete`` with ``reason: minter_removed``; how many went."""
    records = session.execute(select(ApiKey).where(ApiKey.created_by == user_id)
                              .with_for_update()).scalars().all()
    for record in records:
        audit.record(session, principal, "api_key.delete", "api_key", record.id,
                     {"name": record.name, "prefix": record.prefix, "role": record.role,
                      "reason": "minter_removed", "minted_by": str(user_id)})
    if records:
        session.execute(delete(ApiKey).where(ApiKey.id.in_([r.id for r in records]))
                        .execution_options(synchronize_session=False))
    return len(records)

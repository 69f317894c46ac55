"""The audit log: one row per mutation, written in the mutation's own transaction.

Secrets and passwords are redacted before they are stored. The runtime role may only insert
and read audit rows, never change or delete them.
"""

from __future__ import annotations

import hashlib
import uuid
from functools import cache
from typing import Any

from sqlalchemy import bindparam, inspect
from sqlalchemy.orm import Session

from codex32.auth.principal import Principal
from codex32.db import rows
from codex32.db.models import AuditLog
from codex32.services.pages import (
    KeysetRequest,
    ListQuery,
    Page,
    PageRequest,
    Slice,
    fetch,
    paged,
)

REDACTED = "[redacted]"
_SENSITIVE = ("password", "secret", "token", "api_key", "key_hash", "authorization")


def redact(value: Any) -> Any:
    """A copy of ``value`` with every sensitive-looking key's value replaced."""
    if isinstance(value, dict):
        return {k: (REDACTED if any(s in str(k).lower() for s in _SENSITIVE) else redact(v))
                for k, v in value.items()}
    if isinstance(value, list):
        return [redact(item) for item in value]
    return value


MAX_KEYS, MAX_KEY_CHARS = 50, 100


def keys_of(mapping: dict[str, Any] | None) -> list[str]:
    """How an audit row names a tenant's mapping (a run's or a schedule's input): its first
    ``MAX_KEYS`` keys in order, each cut to ``MAX_KEY_CHARS``; never its values."""
    return [key[:MAX_KEY_CHARS] for key in sorted(mapping or {})[:MAX_KEYS]]


def code_summary(code: str) -> dict[str, Any]:
    """How the audit log records code: its size and digest, not the text."""
    return {"code_sha256": hashlib.sha256(code.encode()).hexdigest(),
            "code_bytes": len(code.encode())}


def apply_changes(target: Any, changes: dict[str, Any]) -> dict[str, Any]:
    """Set each changed attribute of ``target``; returns what an update records: ``{field:
    {"before", "after"}}`` for those that differ (a model's ``metadata_`` as ``metadata``).

    Empty when every value equals the current one (or ``changes`` is empty): such an update
    is no mutation, and its caller writes nothing, neither an audit row nor ``updated_at``."""
    recorded: dict[str, Any] = {}
    for field, value in changes.items():
        before = getattr(target, field)
        if before != value:
            recorded[field.rstrip("_")] = {"before": before, "after": value}
            setattr(target, field, value)
    return recorded


def record(session: Session, principal: Principal, action: str, resource_type: str,
           resource_id: Any, changes: dict[str, Any] | None = None,
           workspace_id: uuid.UUID | None = None) -> None:
    """Write the audit row for one mutation in the current transaction (at once; the
    mutation's pending ORM changes follow at commit, and a failed commit takes both back)."""
    rows.insert(session, entry(principal, action, resource_type, resource_id, changes,
                               workspace_id))


def entry(principal: Principal, action: str, resource_type: str, resource_id: Any,
          changes: dict[str, Any] | None = None,
          workspace_id: uuid.UUID | None = None) -> AuditLog:
    """The audit row for one mutation, for a caller that writes it with its own rows."""
    return AuditLog(
        workspace_id=workspace_id or principal.workspace_id,
        id=uuid.uuid4(),
        actor_type=principal.actor_type,
        actor_id=principal.actor_id,
        action=action,
        resource_type=resource_type,
        resource_id=None if resource_id is None else str(resource_id),
        changes=redact(changes or {}),
        request_id=principal.origin.request_id,
        ip=principal.origin.ip,
    )


def list_entries(session: Session, page: PageRequest | KeysetRequest, *,
                 action: str | None = None,
                 resource_type: str | None = None, resource_id: str | None = None,
                 user_id: uuid.UUID | None = None) -> Page | Slice:
    """Audit rows of the bound workspace, newest first, filtered."""
    params = {name: value for name, value in (
        ("action", action), ("resource_type", resource_type), ("resource_id", resource_id),
        ("user_id", user_id)) if value}
    return fetch(session, page, _list_query(frozenset(params)), params)


@cache
def _list_query(by: frozenset[str]) -> ListQuery:
    filters = [getattr(AuditLog, name) == bindparam(name) for name in sorted(by)
               if name != "user_id"]
    if "user_id" in by:
        filters += [AuditLog.actor_type == "user", AuditLog.actor_id == bindparam("user_id")]
    columns = [attribute.class_attribute for attribute in inspect(AuditLog).column_attrs]
    return paged(columns, filters, (AuditLog.created_at.desc(), AuditLog.id))

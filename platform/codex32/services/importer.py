"""Import a legacy JSON bot registry into a workspace: idempotent, one savepoint per bot in the
caller's transaction (the caller commits; a refused bot is skipped, the others are kept).

The registry is ``registry.json`` (``{name: {description, status?}}``) with ``<name>.py``
beside it for each bot's code. Existing bots are skipped, never overwritten.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from codex32.auth.principal import Origin, Principal
from codex32.db import tenancy
from codex32.db.models import Bot
from codex32.errors import DomainError, NotFound
from codex32.services import bots


@dataclass
class ImportReport:
    """What an import created and what it skipped, with the reason for each skip."""

    created: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)


def workspace_id_for(session: Session, slug: str) -> uuid.UUID:
    """The id of the workspace with ``slug`` (looked up before any workspace is bound)."""
    found = session.execute(text("SELECT auth_workspace_id(:s)"), {"s": slug}).scalar()
    if found is None:
        raise NotFound(f"no workspace with slug '{slug}'")
    return found


def import_registry(session: Session, slug: str, folder: Path,
                    max_code_bytes: int = 256 * 1024) -> ImportReport:
    """Create each registry bot that does not exist yet in the workspace ``slug``."""
    registry = json.loads((folder / "registry.json").read_text(encoding="utf-8"))
    if not isinstance(registry, dict):
        raise ValueError("registry.json must be an object of {name: {description, status?}}")
    workspace_id = workspace_id_for(session, slug)
    principal = Principal(workspace_id=workspace_id, role="admin",
                          origin=Origin(request_id="import-json"))
    report = ImportReport()
    tenancy.bind(session, workspace_id)
    for name, meta in registry.items():
        reason = _problem(session, folder, name, meta, max_code_bytes)
        if reason:
            report.skipped.append((name, reason))
            continue
        code = (folder / f"{name}.py").read_text(encoding="utf-8")
        try:
            with session.begin_nested():  # a refused bot takes back only its own rows
                bots.create(session, principal, name=name,
                            description=meta.get("description", ""), code=code,
                            status=meta.get("status", "draft"),
                            message="Imported from JSON registry",
                            audit_changes={"source": "import-json"})
        except DomainError as exc:
            report.skipped.append((name, exc.message))
            continue
        report.created.append(name)
    return report


def _problem(session: Session, folder: Path, name: object, meta: object,
             max_code_bytes: int) -> str | None:
    if not isinstance(name, str) or not name.strip() or len(name) > 255:
        return "invalid name"
    if not isinstance(meta, dict):
        return "entry is not an object"
    if meta.get("status", "draft") not in bots.STATUSES:
        return f"unknown status {meta.get('status')!r}"
    if not isinstance(meta.get("description", ""), str):
        return "description is not a string"
    path = folder / f"{name}.py"
    if "/" in name or "\\" in name or not path.is_file():
        return f"no code file {name}.py"
    if path.stat().st_size > max_code_bytes:
        return "code file too large"
    if session.execute(select(Bot.id).where(Bot.name == name)).first():
        return "already exists"
    return None

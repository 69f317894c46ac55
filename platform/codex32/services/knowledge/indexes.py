"""Index generations: which embedder's vectors search reads, and the switch to a new one.

A workspace's vectors live in one vector-store collection per generation
(``knowledge_g<N>``). A generation is the index of one embedder configuration (its
fingerprint: the plugin id and a digest of its configuration, secrets excluded). New vectors
go to the newest generation; when the workspace's embedder changes, a ``building`` generation
starts and a background job fills it while search keeps reading the ``active`` one; once every
chunk has its vector in the new generation, it becomes active and the old one is retired (its
vectors dropped by a job). Store calls happen outside transactions (:mod:`.vectors`).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime

from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session

from codex32.db.knowledge_models import KnowledgeChunk, KnowledgeIndex
from codex32.execution import queue
from codex32.plugins.interfaces import Embedder
from codex32.services import providers

COLLECTION_PREFIX = "knowledge_g"


def collection_of(generation: int) -> str:
    """The vector store collection holding a generation's vectors."""
    return f"{COLLECTION_PREFIX}{generation}"


def current_embedder(session: Session, workspace_id: uuid.UUID | str,
                     plugin_id: str | None = None) -> tuple[str, str]:
    """The workspace's embedder now (or its configuration of ``plugin_id``): the plugin id
    and its fingerprint."""
    embedder = providers.build(session, workspace_id, Embedder, plugin_id)
    config = json.dumps(embedder.config, sort_keys=True, default=str)
    digest = hashlib.sha256(config.encode()).hexdigest()[:16]
    return embedder.id, f"{embedder.id}:{digest}"


def active(session: Session) -> KnowledgeIndex | None:
    """The generation search reads (None before anything was indexed)."""
    return session.execute(select(KnowledgeIndex).where(
        KnowledgeIndex.status == "active")).scalar()


def newest(session: Session) -> KnowledgeIndex | None:
    """The generation new vectors go to: the building one, else the active one."""
    return session.execute(select(KnowledgeIndex).where(
        KnowledgeIndex.status != "retired").order_by(
        KnowledgeIndex.generation.desc()).limit(1)).scalar()


def live(session: Session) -> list[int]:
    """Every generation that may still hold vectors (retired ones not yet dropped too)."""
    return list(session.execute(select(KnowledgeIndex.generation)).scalars())


def _lock(session: Session, workspace_id: uuid.UUID | str) -> None:
    """Serialize generation changes of one workspace (held to the transaction's end)."""
    session.execute(text("SELECT pg_advisory_xact_lock(hashtext('knowledge:' || :w))"),
                    {"w": str(workspace_id)})


def target(session: Session, workspace_id: uuid.UUID | str) -> KnowledgeIndex:
    """The generation to write vectors to, starting a new one (and queuing its build) when
    the workspace's embedder is not the one the newest generation was built with."""
    embedder, fingerprint = current_embedder(session, workspace_id)
    found = newest(session)
    if found is not None and found.fingerprint == fingerprint:
        return found
    _lock(session, workspace_id)
    found = newest(session)
    if found is not None and found.fingerprint == fingerprint:
        return found
    now = datetime.now(UTC)
    if found is None:  # numbers are never reused: an erased generation's vectors may remain
        top = session.execute(select(func.max(KnowledgeIndex.generation))).scalar() or 0
        first = KnowledgeIndex(workspace_id=uuid.UUID(str(workspace_id)), generation=top + 1,
                               embedder=embedder, fingerprint=fingerprint, status="active",
                               created_at=now, updated_at=now, activated_at=now)
        session.add(first)
        session.flush()
        return first
    if found.status == "building":  # a build for an embedder no longer chosen: abandon it
        found.status = "retired"
        session.flush()
        queue.defer_knowledge(session, queue.DROP_GENERATION_TASK, workspace_id,
                              generation=found.generation)
    top = session.execute(select(func.max(KnowledgeIndex.generation))).scalar() or 0
    building = KnowledgeIndex(workspace_id=uuid.UUID(str(workspace_id)), generation=top + 1,
                              embedder=embedder, fingerprint=fingerprint, status="building",
                              created_at=now, updated_at=now)
    session.add(building)
    session.flush()
    queue.defer_knowledge(session, queue.REINDEX_TASK, workspace_id,
                          generation=building.generation)
    return building


def sync(session: Session, workspace_id: uuid.UUID | str) -> None:
    """Start a new generation if the workspace's embedder changed since the newest one (called
    where the embedder may change: its provider settings and the workspace's defaults).
    Nothing happens in a workspace that never indexed anything."""
    if newest(session) is not None:
        target(session, workspace_id)


def complete(session: Session, workspace_id: uuid.UUID | str, generation: int) -> bool:
    """Activate a building generation once every chunk has its vector in it; True if active."""
    _lock(session, workspace_id)
    found = session.get(KnowledgeIndex, (uuid.UUID(str(workspace_id)), generation))
    if found is None or found.status == "retired":
        return False
    if found.status == "active":
        return True
    behind = session.execute(select(KnowledgeChunk.id).where(
        KnowledgeChunk.generation < generation).limit(1)).first()
    if behind is not None:
        return False
    now = datetime.now(UTC)
    old = active(session)
    if old is not None:
        old.status = "retired"
        old.updated_at = now
        session.flush()
        queue.defer_knowledge(session, queue.DROP_GENERATION_TASK, workspace_id,
                              generation=old.generation)
    found.status, found.activated_at, found.updated_at = "active", now, now
    session.flush()
    return True


def touch(session: Session, generation: int, dimension: int | None = None) -> None:
    """Record progress on a generation (and its vectors' dimension once known)."""
    values: dict[str, object] = {"updated_at": datetime.now(UTC)}
    if dimension is not None:
        values["dimension"] = func.coalesce(KnowledgeIndex.dimension, dimension)
    session.execute(update(KnowledgeIndex).where(KnowledgeIndex.generation == generation)
                    .values(**values))

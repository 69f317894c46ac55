"""Index generations: which embedder's vectors search reads, in which store, and the switch
to a new one.

A workspace's vectors live in one vector-store collection per generation
(``knowledge_g<N>``). A generation is the index of one embedder configuration (its
fingerprint: the plugin id and a digest of its configuration, secrets excluded) kept in one
vector store (the store's plugin id and the configuration it was written with, with the
operator's placement beside it; secrets are never part of a configuration). New vectors go
to the newest generation; when the workspace's embedder or vector store changes (another
plugin, a setting the store names in its ``placement``, or the operator's placement), a
``building`` generation starts and a background job fills it while search keeps reading the
``active`` one from the store that holds it; once every chunk has its vector in the new
generation, it becomes active and the old one is retired (its vectors dropped from its own
store by a job). What changes without the workspace (the operator's settings) is checked by
the worker (:func:`converge`). Store calls happen outside transactions (:mod:`.vectors`).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import func, or_, select, text, update
from sqlalchemy.orm import Session

from codex32 import runtime
from codex32.db.knowledge_models import KnowledgeChunk, KnowledgeDocument, KnowledgeIndex
from codex32.errors import NotFound
from codex32.execution import queue
from codex32.plugins.interfaces import Embedder, VectorStore, with_defaults
from codex32.services import provider_instances, providers

# The kinds of plugin whose settings decide a generation: saving or removing their
# configuration, or choosing another default, may start a new one (:func:`sync`).
KINDS = (Embedder.kind, VectorStore.kind)

COLLECTION_PREFIX = "knowledge_g"


def collection_of(generation: int) -> str:
    """The vector store collection holding a generation's vectors."""
    return f"{COLLECTION_PREFIX}{generation}"


def current_embedder(session: Session, workspace_id: uuid.UUID | str,
                     plugin_id: str | None = None) -> tuple[str, str]:
    """The workspace's embedder now (or its configuration of ``plugin_id``): the plugin id
    and its fingerprint."""
    embedder = provider_instances.build(session, workspace_id, Embedder, plugin_id)
    config = json.dumps(embedder.config, sort_keys=True, default=str)
    digest = hashlib.sha256(config.encode()).hexdigest()[:16]
    return embedder.id, f"{embedder.id}:{digest}"


def current_store(session: Session,
                  workspace_id: uuid.UUID | str) -> tuple[str, dict[str, Any]] | None:
    """The workspace's vector store now: the plugin id and the configuration a generation
    started now records (the workspace's, as saved, with the operator's placement beside it:
    :func:`with_operator`), or None when no vector store plugin is installed."""
    known = provider_instances.snapshot(session, workspace_id, VectorStore.kind)
    plugin_id = providers.default_id(VectorStore.kind, known.settings)
    if plugin_id is None:
        return None
    row = known.rows.get(plugin_id)
    return plugin_id, with_operator(plugin_id, dict(row.config) if row is not None else {})


def _store_class(plugin_id: str) -> type[VectorStore] | None:
    registration = runtime.current().plugins.get(VectorStore.kind, plugin_id)
    return None if registration is None else cast(type[VectorStore], registration.cls)


def _operator_part(cls: type[VectorStore], config: dict[str, Any]) -> dict[str, Any]:
    """The operator's placement a configuration holds: its names are no settings."""
    settings = cls.config_schema.get("properties") or {}
    return {name: value for name, value in config.items() if name not in settings}


def with_operator(plugin_id: str, config: dict[str, Any]) -> dict[str, Any]:
    """``config`` with the operator's placement of its store now beside it
    (:meth:`VectorStore.operator_placement`): what a generation records. A configuration
    holding one already (a generation's) is returned as it is, and so is one of a store not
    installed."""
    cls = _store_class(plugin_id)
    if cls is None or _operator_part(cls, config):
        return dict(config)
    return {**config, **cls.operator_placement(with_defaults(cls.config_schema, config))}


def placement(plugin_id: str, config: dict[str, Any]) -> dict[str, Any]:
    """What decides where vectors of a store configured so are kept: the settings it names
    in ``placement`` (defaults applied; all of them when it names none) and the operator's
    placement (the one ``config`` recorded, else the operator's now). A store not installed:
    the whole configuration."""
    cls = _store_class(plugin_id)
    if cls is None:
        return dict(config)
    full = with_defaults(cls.config_schema, with_operator(plugin_id, config))
    keys = cls.placement
    chosen = full if keys is None else {name: full[name] for name in keys if name in full}
    return {**chosen, **_operator_part(cls, full)}


def lives_in(index: KnowledgeIndex, plugin_id: str, config: dict[str, Any]) -> bool:
    """Whether a generation's vectors are in the store ``plugin_id`` configured so."""
    return index.vector_store == plugin_id and (
        placement(plugin_id, index.store_config) == placement(plugin_id, config))


def active(session: Session) -> KnowledgeIndex | None:
    """The generation search reads (None before anything was indexed)."""
    return session.execute(select(KnowledgeIndex).where(
        KnowledgeIndex.status == "active")).scalar()


def newest(session: Session) -> KnowledgeIndex | None:
    """The generation new vectors go to: the building one, else the active one."""
    return session.execute(select(KnowledgeIndex).where(
        KnowledgeIndex.status != "retired").order_by(
        KnowledgeIndex.generation.desc()).limit(1)).scalar()


def live(session: Session) -> list[KnowledgeIndex]:
    """Every generation that may still hold vectors (retired ones not yet dropped too)."""
    return list(session.execute(select(KnowledgeIndex).order_by(
        KnowledgeIndex.generation)).scalars())


def _lock(session: Session, workspace_id: uuid.UUID | str) -> None:
    """Serialize generation changes of one workspace (held to the transaction's end)."""
    session.execute(text("SELECT pg_advisory_xact_lock(hashtext('knowledge:' || :w))"),
                    {"w": str(workspace_id)})


def target(session: Session, workspace_id: uuid.UUID | str) -> KnowledgeIndex:
    """The generation to write vectors to, starting a new one (and queuing its build) when
    the workspace's embedder or vector store is not the one the newest generation was built
    with and in. 404 when no vector store plugin is installed."""
    embedder, fingerprint = current_embedder(session, workspace_id)
    store = current_store(session, workspace_id)
    if store is None:
        raise NotFound(f"no {VectorStore.kind} plugin is installed")
    plugin_id, config = store

    def fits(found: KnowledgeIndex | None) -> bool:
        return found is not None and found.fingerprint == fingerprint and lives_in(
            found, plugin_id, config)

    found = newest(session)
    if fits(found):
        assert found is not None
        return found
    _lock(session, workspace_id)
    found = newest(session)
    if fits(found):
        assert found is not None
        return found
    now = datetime.now(UTC)
    top = session.execute(select(func.max(KnowledgeIndex.generation))).scalar() or 0
    # Numbers are never reused: an erased or dropped generation's vectors may remain.
    started = KnowledgeIndex(workspace_id=uuid.UUID(str(workspace_id)), generation=top + 1,
                             embedder=embedder, fingerprint=fingerprint, vector_store=plugin_id,
                             store_config=config, status="building", created_at=now,
                             updated_at=now)
    if found is None:
        started.status, started.activated_at = "active", now
        session.add(started)
        session.flush()
        return started
    if found.status == "building":  # a build for a choice no longer made: abandon it
        abandon(session, workspace_id, found)
        kept = active(session)
        if fits(kept):  # the choice went back to the active generation's: nothing to build
            assert kept is not None
            return kept
    session.add(started)
    session.flush()
    queue.defer_knowledge(session, queue.REINDEX_TASK, workspace_id,
                          generation=started.generation)
    return started


def sync(session: Session, workspace_id: uuid.UUID | str) -> None:
    """Start a new generation if the workspace's embedder or vector store changed since the
    newest one (called where they may change: their provider settings and the workspace's
    defaults, :data:`KINDS`). Nothing happens in a workspace that never indexed anything, or
    while no vector store plugin is installed (nothing could be built)."""
    if newest(session) is not None and current_store(session, workspace_id) is not None:
        target(session, workspace_id)


def converge(session: Session, workspace_id: uuid.UUID | str) -> bool:
    """Bring the workspace's index where the platform would put it now, whatever changed
    since (the operator's default store or embedder, the operator's placement of a store,
    a store plugin removed): record the operator's placement on generations written before
    it was recorded (they are taken to be where the operator places vectors now: no
    rebuild), then start the build :func:`sync` would. True when a generation was started.
    Runs in a session bound to the workspace."""
    for index in session.execute(select(KnowledgeIndex).where(
            KnowledgeIndex.status != "retired")).scalars():
        pinned = with_operator(index.vector_store, index.store_config)
        if pinned != index.store_config:
            index.store_config, index.updated_at = pinned, datetime.now(UTC)
    before = newest(session)
    sync(session, workspace_id)
    after = newest(session)
    return after is not None and after.status == "building" and (
        before is None or after.generation > before.generation)


def abandon(session: Session, workspace_id: uuid.UUID | str, index: KnowledgeIndex) -> None:
    """Retire a building generation that will not be completed and queue its drop."""
    index.status, index.updated_at = "retired", datetime.now(UTC)
    session.flush()
    queue.defer_knowledge(session, queue.DROP_GENERATION_TASK, workspace_id,
                          generation=index.generation)


def complete(session: Session, workspace_id: uuid.UUID | str, generation: int) -> bool:
    """Activate a building generation once every chunk has its vector in it (a failed
    document's chunks aside); True if active."""
    _lock(session, workspace_id)
    found = session.get(KnowledgeIndex, (uuid.UUID(str(workspace_id)), generation))
    if found is None or found.status == "retired":
        return False
    if found.status == "active":
        return True
    failed = select(KnowledgeDocument.id).where(KnowledgeDocument.status == "failed")
    behind = session.execute(select(KnowledgeChunk.id).where(  # a failed document's: no wait
        KnowledgeChunk.generation < generation, or_(
            KnowledgeChunk.document_id.is_(None), KnowledgeChunk.document_id.not_in(failed)))
        .limit(1)).first()
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

"""Indexing, as the knowledge jobs run it: parse and chunk a document, embed chunks in
batches through the gateway, write their vectors, settle the document's status.

Each step opens its own tenant-bound session and commits it; no session is open while the
gateway embeds or the store writes (docs/architecture.md, "Transactions"). Progress is kept
per chunk (``knowledge_chunks.generation``: the newest generation holding its vector), so a
job that dies and runs again resumes where it stopped, and a generation build
(:mod:`.rebuilding`) is the same loop over every chunk behind it. A document leaves
``indexing`` in every case: ``indexed``, or ``failed`` with the reason when parsing fails or
the last attempt does; the worker's maintenance loop settles one whose job vanished
(:func:`settle_stale`).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, delete, insert, select, text, update
from sqlalchemy.orm import Session

from codex32 import runtime
from codex32.db import tenancy
from codex32.db.knowledge_models import KnowledgeChunk, KnowledgeDocument, KnowledgeIndex
from codex32.db.models import Bot, BotVersion
from codex32.errors import DomainError
from codex32.execution import queue
from codex32.plugins.interfaces import VectorItem, VectorStore
from codex32.services import gateway
from codex32.services.knowledge import bot_passages, chunking, indexes, parsing, vectors

log = logging.getLogger(__name__)

STALE_BATCH = 100
UNEXPECTED_ERROR = ("indexing failed with an unexpected error; the operator's logs have "
                    "the details (search them for this document's id)")
NO_VECTOR_STORE = "no vector store is installed: searchable by full-text search only"


class EmbedderChanged(Exception):
    """The embedder answered for another configuration than the generation's: the next
    attempt writes to the new generation."""


class EraseIncomplete(Exception):
    """A store could not erase a workspace's vectors now: the job runs again."""


def _sessions() -> Any:
    return runtime.current().sessions()


def _now() -> datetime:
    return datetime.now(UTC)


# --- documents -------------------------------------------------------------------------------


def index_document(workspace_id: str, document_id: str,
                   is_final: Callable[[BaseException], bool]) -> None:
    """Parse, chunk and embed a document; raising makes the job run again (unless final)."""
    settings = runtime.current().settings
    with _sessions() as session, tenancy.bound(session, workspace_id):
        document = _locked_document(session, document_id)
        if document is None or document.status not in ("pending", "indexing"):
            return
        document.status, document.updated_at = "indexing", _now()
        document.attempts += 1
        media_type = document.media_type
        content = document.content if document.chunk_count == 0 else None
        session.commit()
    try:
        if content is not None:
            pieces = chunking.chunk(parsing.parse(media_type, content),
                                    max_tokens=settings.knowledge_chunk_tokens,
                                    overlap=settings.knowledge_chunk_overlap_tokens)
            if not pieces:
                raise parsing.ParseError("the document holds no text")
            _store_document_chunks(workspace_id, document_id, pieces)
        generation = embed_pending(workspace_id, KnowledgeChunk.document_id ==
                                   uuid.UUID(document_id))
    except parsing.ParseError as exc:
        _settle(workspace_id, document_id, "failed", str(exc))
        return
    except Exception as exc:
        final = is_final(exc)
        if not isinstance(exc, DomainError):  # its text is internal: logged, never stored
            log.error("indexing document %s failed unexpectedly", document_id, exc_info=exc,
                      extra={"workspace_id": workspace_id, "document_id": document_id})
        _settle(workspace_id, document_id, "failed" if final else "indexing", failure_reason(exc))
        raise
    _settle(workspace_id, document_id, "indexed", None if generation else NO_VECTOR_STORE,
            generation)


def _store_document_chunks(workspace_id: str, document_id: str,
                           pieces: list[chunking.Chunk]) -> None:
    with _sessions() as session, tenancy.bound(session, workspace_id):
        document = _locked_document(session, document_id)
        # Another attempt stored them meanwhile (a recovered job whose worker was only slow):
        # they are kept, with whatever vectors it wrote (replacing them would orphan those).
        if document is None or document.chunk_count:
            return
        session.execute(insert(KnowledgeChunk), [{
            "workspace_id": document.workspace_id, "id": uuid.uuid4(),
            "document_id": document.id, "collection_id": document.collection_id,
            "ordinal": piece.ordinal, "heading": piece.heading, "text": piece.text,
            "tokens": piece.tokens, "location": piece.location, "generation": 0,
        } for piece in pieces])
        document.chunk_count = len(pieces)
        session.commit()


def _settle(workspace_id: str, document_id: str, status: str, error: str | None,
            generation: int | None = None) -> None:
    with _sessions() as session, tenancy.bound(session, workspace_id):
        document = _locked_document(session, document_id)
        if document is None or document.status not in ("pending", "indexing"):
            return
        document.status, document.error, document.updated_at = status, error, _now()
        if status == "indexed":
            document.generation, document.indexed_at = generation, _now()
        session.commit()


def _locked_document(session: Session, document_id: str) -> KnowledgeDocument | None:
    return session.execute(select(KnowledgeDocument).where(
        KnowledgeDocument.id == uuid.UUID(document_id)).with_for_update()).scalar()


def failure_reason(error: BaseException) -> str:
    """Why an attempt failed, in words fit for the API: a domain error's own message, else
    :data:`UNEXPECTED_ERROR` (the error itself is logged with the job's ids)."""
    if isinstance(error, DomainError):
        return f"{error.status}: {error.message}"[:1000]
    return UNEXPECTED_ERROR


# --- bots ------------------------------------------------------------------------------------


def index_bot(workspace_id: str, bot_id: str) -> None:
    """Replace a bot's passages with those of its current version and embed them."""
    settings = runtime.current().settings
    with _sessions() as session, tenancy.bound(session, workspace_id):
        bot = session.execute(select(Bot).where(Bot.id == uuid.UUID(bot_id))
                              .with_for_update()).scalar()
        if bot is None:
            return
        version = session.execute(select(BotVersion).where(
            BotVersion.bot_id == bot.id, BotVersion.number == bot.current_version)).scalar()
        pieces = bot_passages.chunks(bot, version, max_tokens=settings.knowledge_chunk_tokens,
                                     overlap=settings.knowledge_chunk_overlap_tokens)
        old = [str(i) for i in session.execute(select(KnowledgeChunk.id).where(
            KnowledgeChunk.bot_id == bot.id)).scalars()]
        session.execute(delete(KnowledgeChunk).where(KnowledgeChunk.bot_id == bot.id))
        if pieces:
            session.execute(insert(KnowledgeChunk), [{
                "workspace_id": bot.workspace_id, "id": uuid.uuid4(), "bot_id": bot.id,
                "bot_version": bot.current_version, "ordinal": piece.ordinal,
                "heading": piece.heading, "text": piece.text, "tokens": piece.tokens,
                "location": piece.location, "generation": 0} for piece in pieces])
        if old:
            queue.defer_knowledge(session, queue.FORGET_VECTORS_TASK, workspace_id, ids=old)
        session.commit()
    embed_pending(workspace_id, KnowledgeChunk.bot_id == uuid.UUID(bot_id))


# --- embedding -------------------------------------------------------------------------------


def embed_pending(workspace_id: str, where: ColumnElement[bool] | None = None) -> int | None:
    """Give every chunk (``where`` it matches) a vector in the newest generation, in batches;
    returns that generation. A generation started meanwhile is filled too before returning.
    Without a vector store plugin nothing is embedded (the chunks serve full-text search):
    returns None."""
    batch = runtime.current().settings.knowledge_embed_batch
    while True:
        with _sessions() as session, tenancy.bound(session, workspace_id):
            if indexes.current_store(session, workspace_id) is None:
                log.info("no vector store is installed: chunks kept for full-text search only")
                return None
            generation = indexes.target(session, workspace_id)
            store = vectors.store_for(session, workspace_id, generation)
            number, embedder = generation.generation, generation.embedder
            session.commit()
        while _embed_batch(workspace_id, number, embedder, store, where, batch):
            pass
        with _sessions() as session, tenancy.bound(session, workspace_id):
            newest = indexes.newest(session)
            if newest is None or newest.generation == number:
                return number


def _embed_batch(workspace_id: str, generation: int, embedder: str, store: VectorStore,
                 where: ColumnElement[bool] | None, size: int) -> bool:
    """Embed and store one batch of chunks behind ``generation``; False when none is left."""
    rows = behind(workspace_id, generation, where, size)
    if not rows:
        return False
    embed_rows(workspace_id, generation, embedder, store, rows)
    return True


def behind(workspace_id: str, generation: int, where: ColumnElement[bool] | None,
           size: int) -> list[Any]:
    """Up to ``size`` chunks (``where`` it matches) without a vector in ``generation``."""
    with _sessions() as session, tenancy.bound(session, workspace_id):
        query = select(KnowledgeChunk.id, KnowledgeChunk.heading, KnowledgeChunk.text,
                       KnowledgeChunk.document_id, KnowledgeChunk.collection_id,
                       KnowledgeChunk.bot_id, KnowledgeChunk.ordinal).where(
            KnowledgeChunk.generation < generation)
        if where is not None:
            query = query.where(where)
        return list(session.execute(query.order_by(KnowledgeChunk.id).limit(size)).all())


def embed_rows(workspace_id: str, generation: int, embedder: str, store: VectorStore,
               rows: list[Any]) -> None:
    """Embed these chunks (:func:`behind`'s rows), store their vectors, mark them done."""
    texts = [f"{row.heading}\n\n{row.text}" if row.heading else row.text for row in rows]
    embedded = gateway.embed(workspace_id, texts, purpose="search", caller=gateway.Caller(),
                             embedder=embedder)
    if embedded.provider != embedder:
        raise EmbedderChanged(f"the embedder is {embedded.provider}, not {embedder}")
    vectors.upsert(store, workspace_id, generation, [
        VectorItem(id=str(row.id), vector=vector, metadata=_metadata(row))
        for row, vector in zip(rows, embedded.vectors, strict=True)])
    ids = [row.id for row in rows]
    with _sessions() as session, tenancy.bound(session, workspace_id):
        session.execute(update(KnowledgeChunk).where(
            KnowledgeChunk.id.in_(ids),
            KnowledgeChunk.generation < generation).values(generation=generation))
        indexes.touch(session, generation, len(embedded.vectors[0]) if embedded.vectors else None)
        kept = set(session.execute(select(KnowledgeChunk.id).where(
            KnowledgeChunk.id.in_(ids))).scalars())
        session.commit()
    # Chunks deleted since they were read: their forget job may have run before the upsert.
    gone = [str(chunk_id) for chunk_id in ids if chunk_id not in kept]
    if gone:
        vectors.delete(store, workspace_id, [generation], gone)


def _metadata(row: Any) -> dict[str, Any]:
    if row.bot_id is not None:
        return {"kind": "bot", "bot_id": str(row.bot_id)}
    return {"kind": "document", "document_id": str(row.document_id),
            "collection_id": str(row.collection_id)}


# --- generations, forgetting ------------------------------------------------------------------


def forget(workspace_id: str, ids: list[str], generation: int | None = None) -> None:
    """Delete the vectors of these chunk ids from one generation, or from every generation
    the workspace has, each in the store that holds it."""
    with _sessions() as session, tenancy.bound(session, workspace_id):
        found = indexes.live(session)
        if generation is not None:
            found = [index for index in found if index.generation == generation]
        stores = vectors.stores_of(session, workspace_id, found)
    for store, generations in stores:
        vectors.delete(store, workspace_id, generations, ids)


def erase(workspace_id: str, generations: list[int]) -> None:
    """Delete the vectors of an erased workspace's (retired) generations from every store
    that may hold some, then the generations; raising makes the job run again."""
    with _sessions() as session, tenancy.bound(session, workspace_id):
        erased = [index for index in indexes.live(session) if index.generation in generations]
        stores = vectors.stores_holding(session, workspace_id, erased)
    failed: list[str] = []
    for store in stores:
        try:
            if not vectors.erase(store, workspace_id, generations):
                log.warning("vector store %s cannot delete a collection: vectors remain",
                            store.id, extra={"workspace_id": workspace_id})
        except DomainError as exc:
            failed.append(f"{store.id}: {exc.message}")
    if failed:
        raise EraseIncomplete("; ".join(failed))
    with _sessions() as session, tenancy.bound(session, workspace_id):
        session.execute(delete(KnowledgeIndex).where(KnowledgeIndex.generation.in_(generations),
                                                     KnowledgeIndex.status == "retired"))
        session.commit()


def drop_generation(workspace_id: str, generation: int) -> None:
    """Delete a retired generation's vectors from the store that holds them (the one it
    recorded: after a switch of store, not the workspace's current one), then the
    generation itself. The whole collection goes (vectors a failed forget job left too);
    by chunk id only in a store that cannot delete a collection."""
    with _sessions() as session, tenancy.bound(session, workspace_id):
        found = session.get(KnowledgeIndex, (uuid.UUID(workspace_id), generation))
        if found is None or found.status != "retired":
            return
        ids = [str(i) for i in session.execute(select(KnowledgeChunk.id)).scalars()]
        stores = vectors.stores_of(session, workspace_id, [found])  # its own, not the current
        gone = runtime.current().plugins.get(VectorStore.kind, found.vector_store) is None
    if gone:
        log.warning("generation %s is dropped without deleting its vectors: its vector store "
                    "'%s' is not installed, and they stay there", generation,
                    found.vector_store, extra={"workspace_id": workspace_id})
    for store, _ in stores:
        if not vectors.erase(store, workspace_id, [generation]):
            vectors.delete(store, workspace_id, [generation], ids)
    with _sessions() as session, tenancy.bound(session, workspace_id):
        session.execute(delete(KnowledgeIndex).where(KnowledgeIndex.generation == generation,
                                                     KnowledgeIndex.status == "retired"))
        session.commit()


# --- the maintenance loop ----------------------------------------------------------------------


def settle_stale(limit: int = STALE_BATCH) -> int:
    """Settle documents unsettled for ``KNOWLEDGE_STALE_SECONDS`` whose job is gone (queued
    again, or ``failed`` after the last attempt) and restart stalled generation builds;
    returns how many were handled. Called by every worker's maintenance loop."""
    settings = runtime.current().settings
    with _sessions() as session:
        found = session.execute(text("SELECT workspace_id, document_id FROM "
                                     "stale_knowledge(:seconds, :limit)"),
                                {"seconds": int(settings.knowledge_stale_seconds),
                                 "limit": limit}).all()
    handled = 0
    for workspace_id, document_id in found:
        try:
            handled += _settle_one(str(workspace_id), document_id)
        except Exception:
            log.exception("could not settle stale knowledge", extra={
                "workspace_id": str(workspace_id)})
    return handled


def _settle_one(workspace_id: str, document_id: uuid.UUID | None) -> int:
    settings = runtime.current().settings
    with _sessions() as session, tenancy.bound(session, workspace_id):
        if document_id is None:  # a generation build that stopped moving
            building = session.execute(select(KnowledgeIndex).where(
                KnowledgeIndex.status == "building").with_for_update(skip_locked=True)).scalar()
            if building is None:
                return 0
            building.updated_at = _now()
            queue.defer_knowledge(session, queue.REINDEX_TASK, workspace_id,
                                  generation=building.generation)
            session.commit()
            return 1
        document = session.execute(select(KnowledgeDocument).where(
            KnowledgeDocument.id == document_id).with_for_update(skip_locked=True)).scalar()
        if document is None or document.status not in ("pending", "indexing"):
            return 0
        if document.job_id is not None and queue.job_status(
                session, document.job_id) in ("todo", "doing"):
            return 0  # waiting for its retry, or running (a lost worker's job is recovered)
        document.updated_at = _now()
        if document.attempts >= settings.knowledge_max_attempts:
            document.status = "failed"
            document.error = document.error or "indexing stopped without finishing"
        else:
            document.job_id = queue.defer_knowledge(
                session, queue.INDEX_DOCUMENT_TASK, workspace_id, document_id=str(document.id))
        session.commit()
        return 1

"""Building an index generation, as the ``reindex`` job runs it: embed every chunk behind it
in batches (:mod:`codex32.execution.indexing`), then make it active.

A chunk the generation's embedder can never embed must not hold the whole build back: when a
batch fails and the job will not retry it (a refusal, or its last attempt), each chunk of the
batch is embedded alone. One that still fails while its neighbours (or, when every chunk of the
batch fails, a fresh probe text) embed is set aside: its document is ``failed`` with the reason
(a bot's passage keeps serving full-text search only), and the build goes on without it. When
nothing embeds at all the embedder is down, not the chunk: the error is raised (the maintenance
loop restarts the build later), and no document is failed for it.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, or_, select, update

from codex32 import runtime
from codex32.db import tenancy
from codex32.db.knowledge_models import KnowledgeChunk, KnowledgeDocument, KnowledgeIndex
from codex32.errors import NotFound
from codex32.execution import indexing
from codex32.plugins.interfaces import VectorStore
from codex32.services import gateway
from codex32.services.knowledge import indexes, vectors

log = logging.getLogger(__name__)


def reindex(workspace_id: str, generation: int,
            is_final: Callable[[BaseException], bool]) -> None:
    """Fill a building generation with every chunk's vector, then make it active; raising
    makes the job run again (unless ``is_final`` says this attempt is its last)."""
    with runtime.current().sessions() as session, tenancy.bound(session, workspace_id):
        found = session.get(KnowledgeIndex, (uuid.UUID(workspace_id), generation))
        if found is None or found.status != "building":
            return
        try:  # the store the generation is built in: the workspace's new one
            store = vectors.store_for(session, workspace_id, found)
        except NotFound:  # its plugin is gone: it cannot be built, the active one stays
            log.warning("generation %s is abandoned: its vector store '%s' is not installed "
                        "(search keeps the active generation)", generation, found.vector_store,
                        extra={"workspace_id": workspace_id})
            indexes.abandon(session, workspace_id, found)
            indexes.sync(session, workspace_id)  # another build, in the store there is now
            session.commit()
            return
        indexes.touch(session, generation)
        embedder = found.embedder
        session.commit()
    batch = runtime.current().settings.knowledge_embed_batch
    while rows := indexing.behind(workspace_id, generation, embeddable(), batch):
        try:
            indexing.embed_rows(workspace_id, generation, embedder, store, rows)
        except indexing.EmbedderChanged:
            raise
        except Exception as exc:
            if not is_final(exc):
                raise
            _set_aside(workspace_id, generation, embedder, store, rows, exc)
    with runtime.current().sessions() as session, tenancy.bound(session, workspace_id):
        indexes.complete(session, workspace_id, generation)
        session.commit()


def embeddable() -> ColumnElement[bool]:
    """The chunks a build embeds: a bot's, or a document's that did not fail (a failed
    document's passages are never served; deleting it deletes them)."""
    failed = select(KnowledgeDocument.id).where(KnowledgeDocument.status == "failed")
    return or_(KnowledgeChunk.document_id.is_(None), KnowledgeChunk.document_id.not_in(failed))


def _set_aside(workspace_id: str, generation: int, embedder: str, store: VectorStore,
               rows: list[Any], error: Exception) -> None:
    """Embed a failed batch's chunks one by one and set aside those that cannot be; raise
    ``error`` when nothing embeds (the embedder, not a chunk, is failing)."""
    failures: list[tuple[Any, Exception]] = []
    embedded = False
    if len(rows) == 1:
        failures.append((rows[0], error))
    else:
        for row in rows:
            try:
                indexing.embed_rows(workspace_id, generation, embedder, store, [row])
                embedded = True
            except indexing.EmbedderChanged:
                raise
            except Exception as exc:
                failures.append((row, exc))
    if not failures:
        return
    if not embedded and not _answers(workspace_id, embedder):
        raise error
    with runtime.current().sessions() as session, tenancy.bound(session, workspace_id):
        for row, failure in failures:
            _give_up(session, workspace_id, generation, embedder, row, failure)
        session.commit()


def _answers(workspace_id: str, embedder: str) -> bool:
    """Whether the embedder embeds a text of its own now (one no cache can answer)."""
    try:
        gateway.embed(workspace_id, [f"probe {uuid.uuid4().hex}"], purpose="search",
                      caller=gateway.Caller(), embedder=embedder)
    except Exception:
        return False
    return True


def _give_up(session: Any, workspace_id: str, generation: int, embedder: str, row: Any,
             error: Exception) -> None:
    """Fail the document of a chunk that cannot be embedded (a bot's passage: marked done
    without a vector, full-text search only)."""
    now = datetime.now(UTC)
    reason = (f"the embedder {embedder} could not embed passage {row.ordinal + 1} while the "
              f"index was rebuilt: {indexing.failure_reason(error)}")[:1000]
    log.warning("a chunk cannot be embedded by %s: %s", embedder, reason, exc_info=error,
                extra={"workspace_id": workspace_id, "document_id": str(row.document_id),
                       "chunk_id": str(row.id)})
    if row.document_id is None:
        session.execute(update(KnowledgeChunk).where(KnowledgeChunk.id == row.id).values(
            generation=generation))
        return
    session.execute(update(KnowledgeDocument).where(
        KnowledgeDocument.id == row.document_id, KnowledgeDocument.status != "failed").values(
        status="failed", error=reason, updated_at=now))

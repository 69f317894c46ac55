"""Collections and their documents: create, list, read, change, delete; upload.

An upload checks the document (size, media type, that it can be read as that type) and stores
it ``pending`` with its indexing job deferred in the same transaction, so the request answers
at once and a crash loses nothing; the same content uploaded again to the same collection is
the existing document (its content hash is unique per collection). Deleting a document or a
collection deletes its chunks (by cascade) and queues the deletion of their vectors in the same
transaction. Every mutation is audited in the caller's transaction, which the caller commits.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime
from functools import cache
from typing import Any

from sqlalchemy import bindparam, delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from codex32 import runtime
from codex32.auth.principal import Principal
from codex32.db.knowledge_models import (
    KnowledgeChunk,
    KnowledgeCollection,
    KnowledgeDocument,
    KnowledgeIndex,
)
from codex32.errors import Conflict, Invalid, NotFound, TooLarge
from codex32.execution import queue
from codex32.services import audit
from codex32.services.knowledge import parsing
from codex32.services.pages import ListQuery, Page, PageRequest, fetch, paged

MAX_METADATA_BYTES = 16 * 1024
COLLECTION_KEY = "knowledge_documents_workspace_id_collection_id_fkey"  # migration 0012

COLLECTION_COLUMNS = (KnowledgeCollection.id, KnowledgeCollection.name,
                      KnowledgeCollection.description, KnowledgeCollection.metadata_,
                      KnowledgeCollection.created_by, KnowledgeCollection.created_at,
                      KnowledgeCollection.updated_at)
DOCUMENT_COLUMNS = (KnowledgeDocument.id, KnowledgeDocument.collection_id,
                    KnowledgeDocument.title, KnowledgeDocument.media_type,
                    KnowledgeDocument.size, KnowledgeDocument.content_hash,
                    KnowledgeDocument.metadata_, KnowledgeDocument.status,
                    KnowledgeDocument.error, KnowledgeDocument.generation,
                    KnowledgeDocument.chunk_count, KnowledgeDocument.attempts,
                    KnowledgeDocument.created_by, KnowledgeDocument.created_at,
                    KnowledgeDocument.updated_at, KnowledgeDocument.indexed_at)


# --- collections -----------------------------------------------------------------------------


def create_collection(session: Session, principal: Principal, *, name: str,
                      description: str = "", metadata: dict[str, Any] | None = None
                      ) -> KnowledgeCollection:
    """A new, empty collection; 409 when the workspace has one of that name in any case."""
    now = datetime.now(UTC)
    collection = KnowledgeCollection(
        workspace_id=principal.workspace_id, id=uuid.uuid4(), name=name,
        description=description, metadata_=_checked_metadata(metadata),
        created_by=principal.user_id, created_at=now, updated_at=now)
    session.add(collection)
    _flush_unique(session, name)
    audit.record(session, principal, "collection.create", "collection", collection.id,
                 {"name": name, "description": description})
    return collection


def list_collections(session: Session, page: PageRequest) -> Page:
    """The workspace's collections, by name."""
    return fetch(session, page, _COLLECTIONS)


_COLLECTIONS = paged(COLLECTION_COLUMNS, [], (KnowledgeCollection.name, KnowledgeCollection.id))


def get_collection(session: Session, collection_id: uuid.UUID, *,
                   lock: bool = False) -> KnowledgeCollection:
    """A collection of the bound workspace; another workspace's is 404 too."""
    query = select(KnowledgeCollection).where(KnowledgeCollection.id == collection_id)
    found = session.execute(query.with_for_update() if lock else query).scalar()
    if found is None:
        raise NotFound("collection not found")
    return found


def update_collection(session: Session, principal: Principal, collection_id: uuid.UUID,
                      changes: dict[str, Any]) -> KnowledgeCollection:
    """Rename a collection or change its description or metadata; a change that changes
    nothing (an empty one, or the values it has) is no mutation: nothing written, not audited."""
    collection = get_collection(session, collection_id, lock=True)
    if "metadata" in changes:
        changes["metadata_"] = _checked_metadata(changes.pop("metadata"))
    recorded = audit.apply_changes(collection, changes)
    if not recorded:
        return collection
    collection.updated_at = datetime.now(UTC)
    _flush_unique(session, collection.name)
    audit.record(session, principal, "collection.update", "collection", collection.id, recorded)
    return collection


def delete_collection(session: Session, principal: Principal, collection_id: uuid.UUID) -> None:
    """Delete a collection with its documents and chunks; their vectors by a queued job."""
    collection = get_collection(session, collection_id, lock=True)
    ids = _chunk_ids(session, KnowledgeChunk.collection_id == collection.id)
    documents = session.execute(delete(KnowledgeDocument).where(
        KnowledgeDocument.collection_id == collection.id)).rowcount  # type: ignore[attr-defined]
    session.execute(delete(KnowledgeCollection).where(KnowledgeCollection.id == collection.id))
    _forget_later(session, principal.workspace_id, ids)
    audit.record(session, principal, "collection.delete", "collection", collection.id,
                 {"name": collection.name, "documents": documents, "chunks": len(ids)})


def _flush_unique(session: Session, name: str) -> None:
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError as exc:
        if "uq_knowledge_collections_name" in str(exc.orig):
            raise Conflict(f"a collection named '{name}' exists in this workspace") from exc
        raise


def _checked_metadata(metadata: dict[str, Any] | None) -> dict[str, Any]:
    metadata = metadata or {}
    try:
        encoded = json.dumps(metadata, allow_nan=False)
    except (TypeError, ValueError):
        raise Invalid("metadata must be JSON", errors={"json": {"metadata": ["not JSON"]}}
                      ) from None
    if len(encoded.encode()) > MAX_METADATA_BYTES or "\\u0000" in encoded:
        raise Invalid(f"metadata must be at most {MAX_METADATA_BYTES} bytes of JSON without NUL",
                      errors={"json": {"metadata": ["too large or holds NUL"]}})
    return metadata


# --- documents -------------------------------------------------------------------------------


def upload(session: Session, principal: Principal, collection_id: uuid.UUID, *, title: str,
           content: bytes, media_type: str | None = None, filename: str | None = None,
           metadata: dict[str, Any] | None = None,
           content_field: tuple[str, str] = ("json", "text")) -> tuple[KnowledgeDocument, bool]:
    """Store a document and queue its indexing; returns it and whether it is new (the same
    content already in the collection is returned as it is). ``content_field`` is where the
    request sent the content, (location, name), for the errors that refuse it."""
    limit = runtime.current().settings.knowledge_max_document_bytes
    if len(content) > limit:
        raise TooLarge(f"the document is larger than {limit} bytes")
    collection = get_collection(session, collection_id)
    kind = parsing.media_type_of(media_type, filename, content)
    parsing.check(kind, content, content_field)
    digest = hashlib.sha256(content).hexdigest()
    existing = _holding(session, collection.id, digest)
    if existing is not None:
        return existing, False
    now = datetime.now(UTC)
    document = KnowledgeDocument(
        workspace_id=principal.workspace_id, id=uuid.uuid4(), collection_id=collection.id,
        title=title or digest[:12], media_type=kind, size=len(content),
        content_hash=digest, content=content, metadata_=_checked_metadata(metadata),
        status="pending", chunk_count=0, attempts=0, created_by=principal.user_id,
        created_at=now, updated_at=now)
    try:
        with session.begin_nested():  # added inside: a refused insert leaves nothing pending
            session.add(document)
            session.flush()
    except IntegrityError as exc:
        if "uq_knowledge_documents_content" in str(exc.orig):  # uploaded at the same moment
            # The insert waited for the other upload's commit: that document is the answer,
            # as for any content the collection holds.
            existing = _holding(session, collection.id, digest)
            if existing is not None:
                return existing, False
            raise Conflict("this content is being uploaded to the collection already") from exc
        if COLLECTION_KEY in str(exc.orig):  # the collection was deleted since it was read
            raise NotFound("collection not found") from exc
        raise
    document.job_id = queue.defer_knowledge(session, queue.INDEX_DOCUMENT_TASK,
                                            principal.workspace_id, document_id=str(document.id))
    audit.record(session, principal, "document.create", "document", document.id,
                 {"collection_id": str(collection.id), "title": document.title,
                  "media_type": kind, "size": len(content), "content_hash": digest})
    session.flush()
    return document, True


def _holding(session: Session, collection_id: uuid.UUID, digest: str
             ) -> KnowledgeDocument | None:
    """The collection's document of this content (SHA-256 ``digest``), if any."""
    return session.execute(select(KnowledgeDocument).where(
        KnowledgeDocument.collection_id == collection_id,
        KnowledgeDocument.content_hash == digest)).scalar()


def list_documents(session: Session, collection_id: uuid.UUID, page: PageRequest,
                   status: str | None = None) -> Page:
    """A collection's documents, newest first, without their content."""
    get_collection(session, collection_id)
    params: dict[str, Any] = {"collection_id": collection_id}
    if status:
        params["status"] = status
    return fetch(session, page, _documents_query(bool(status)), params)


@cache
def _documents_query(by_status: bool) -> ListQuery:
    filters = [KnowledgeDocument.collection_id == bindparam("collection_id")]
    if by_status:
        filters.append(KnowledgeDocument.status == bindparam("status"))
    return paged(DOCUMENT_COLUMNS, filters,
                 (KnowledgeDocument.created_at.desc(), KnowledgeDocument.id))


def get_document(session: Session, collection_id: uuid.UUID, document_id: uuid.UUID, *,
                 lock: bool = False) -> KnowledgeDocument:
    """A document of a collection of the bound workspace; anything else is 404."""
    query = select(KnowledgeDocument).where(KnowledgeDocument.id == document_id,
                                            KnowledgeDocument.collection_id == collection_id)
    found = session.execute(query.with_for_update() if lock else query).scalar()
    if found is None:
        raise NotFound("document not found")
    return found


def delete_document(session: Session, principal: Principal, collection_id: uuid.UUID,
                    document_id: uuid.UUID) -> None:
    """Delete a document and its chunks; their vectors by a queued job."""
    document = get_document(session, collection_id, document_id, lock=True)
    ids = _chunk_ids(session, KnowledgeChunk.document_id == document.id)
    session.execute(delete(KnowledgeDocument).where(KnowledgeDocument.id == document.id))
    _forget_later(session, principal.workspace_id, ids)
    audit.record(session, principal, "document.delete", "document", document.id,
                 {"collection_id": str(collection_id), "title": document.title,
                  "chunks": len(ids)})


def erase_workspace(session: Session, principal: Principal) -> dict[str, int]:
    """Delete every collection, document and chunk (bots' passages too) of the workspace,
    retire its index generations and queue the deletion of their vectors in every store that
    may hold some (then of the generations); returns how many of each went."""
    generations = list(session.execute(select(KnowledgeIndex.generation)).scalars())
    erased = {"collections": _count(session, KnowledgeCollection),
              "documents": _count(session, KnowledgeDocument),
              "chunks": _count(session, KnowledgeChunk), "generations": len(generations)}
    session.execute(delete(KnowledgeChunk))
    session.execute(delete(KnowledgeCollection))
    # Retired, not deleted: a new upload starts a generation of a new number, so the erase
    # job (which deletes these generations' collections, then their rows) cannot touch it.
    session.execute(update(KnowledgeIndex).values(status="retired", updated_at=func.now()))
    queue.defer_knowledge(session, queue.ERASE_VECTORS_TASK, principal.workspace_id,
                          generations=generations)
    audit.record(session, principal, "knowledge.erase", "workspace", principal.workspace_id,
                 erased)
    return erased


def _count(session: Session, model: Any) -> int:
    return int(session.execute(select(func.count()).select_from(model)).scalar_one())


ERASE_BATCH = 5000


def _chunk_ids(session: Session, where: Any) -> list[str]:
    query = select(KnowledgeChunk.id)
    if where is not None:
        query = query.where(where)
    return [str(i) for i in session.execute(query).scalars()]


def _forget_later(session: Session, workspace_id: uuid.UUID, ids: list[str]) -> None:
    for start in range(0, len(ids), ERASE_BATCH):
        queue.defer_knowledge(session, queue.FORGET_VECTORS_TASK, workspace_id,
                              ids=ids[start:start + ERASE_BATCH])

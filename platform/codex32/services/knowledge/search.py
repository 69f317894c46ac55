"""Hybrid search over a workspace's documents and bots: PostgreSQL full-text search and vector
similarity, fused by reciprocal rank fusion.

A search is a prepared call (docs/architecture.md, "Transactions"): :func:`prepare` runs the
full-text query (any of its terms, ``ts_rank_cd``) in the caller's transaction and picks
the active index generation and the store it lives in (while a new store is being filled,
not the workspace's current one); the caller ends its transaction; :meth:`Search.nearest`
embeds the query through the gateway (with the embedder that built the active generation)
and asks that store; :func:`finish` reads the passages of both lists in a new
transaction (row-level security drops anything not the workspace's) and fuses them. Each hit
carries its scores (``fts``, ``vector``, ``fused``), the passage and its location.
"""

from __future__ import annotations

import logging
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from codex32 import runtime
from codex32.auth.principal import Principal
from codex32.errors import DomainError, Invalid
from codex32.plugins.interfaces import VectorMatch, VectorStore
from codex32.services import gateway
from codex32.services.knowledge import indexes, vectors
from codex32.services.knowledge.documents import get_collection

log = logging.getLogger(__name__)

KINDS = ("bots", "documents")
RRF_K = 60          # the constant of reciprocal rank fusion (Cormack et al., 2009)
CANDIDATES = 50     # hits taken from each list before fusing
MAX_QUERY_CHARS = 1000


@dataclass
class Search:
    """A search prepared in a transaction, to finish after it ended."""

    workspace_id: str
    query: str
    kind: str | None
    collection_id: uuid.UUID | None
    limit: int
    caller: gateway.Caller
    fts: list[tuple[str, float]]
    generation: int | None = None
    embedder: str | None = None
    store: VectorStore | None = None
    vector_note: str | None = None
    vector: list[tuple[str, float]] = field(default_factory=list)

    def nearest(self, deadline_seconds: float | None = None) -> Search:
        """Embed the query and ask the store (no transaction open); a failure leaves the
        full-text hits and says why in ``vector_note``. ``deadline_seconds`` bounds the
        query's embedding (a bot's call: the time its channel gives it)."""
        if self.store is None or self.generation is None:
            return self
        try:
            embedded = gateway.embed(self.workspace_id, [self.query], purpose="search",
                                     caller=self.caller, embedder=self.embedder,
                                     deadline_seconds=deadline_seconds)
            if not any(embedded.vectors[0]):  # no direction: nothing is nearer than the rest
                self.vector_note = ("the query holds nothing the embedder can place: "
                                    "full-text only")
                return self
            matches: list[VectorMatch] = vectors.search(
                self.store, self.workspace_id, self.generation, embedded.vectors[0],
                CANDIDATES, _filters(self.kind, self.collection_id))
        except DomainError as exc:
            if exc.status == 429:
                raise
            log.warning("vector search failed; answering from full-text search: %s",
                        exc.message)
            self.vector_note = f"vector search failed: {exc.message}"
            return self
        least = runtime.current().settings.knowledge_min_vector_score
        self.vector = [(match.id, match.score) for match in matches if match.score > least]
        return self


def prepare(session: Session, workspace_id: uuid.UUID | str, query: str, *,
            caller: gateway.Caller, kind: str | None = None,
            collection_id: uuid.UUID | None = None, limit: int = 10) -> Search:
    """Run the full-text half and choose the generation the vector half will read (in a
    session bound to ``workspace_id``; ``caller`` is who the query's embedding is metered
    to)."""
    query = query.strip()[:MAX_QUERY_CHARS]
    if not query:
        raise Invalid("the query is blank: search for at least one word")
    if "\x00" in query:  # PostgreSQL text cannot hold one (a bot's call is not HTTP-checked)
        raise Invalid("the query must not contain NUL characters")
    if collection_id is not None:
        get_collection(session, collection_id)  # another workspace's collection: 404
        kind = "documents"
    workspace_id = str(workspace_id)
    found = Search(workspace_id=workspace_id, query=query, kind=kind,
                   collection_id=collection_id, limit=limit, caller=caller,
                   fts=_full_text(session, query, kind, collection_id))
    active = indexes.active(session)
    if active is None:
        found.vector_note = "nothing is indexed for vector search yet"
        return found
    try:
        _, fingerprint = indexes.current_embedder(session, workspace_id, active.embedder)
    except DomainError:
        fingerprint = None
    if fingerprint != active.fingerprint:
        found.vector_note = ("the embedder of the active index changed its configuration; "
                             "vector search resumes when the new index is complete")
        return found
    try:  # where the active generation lives: while a new store is filled, the old one
        found.store = vectors.store_for(session, workspace_id, active)
    except DomainError as exc:
        found.vector_note = f"the vector store of the active index is unavailable: {exc.message}"
        return found
    found.generation, found.embedder = active.generation, active.embedder
    return found


def caller_of(principal: Principal) -> gateway.Caller:
    """Who a search made through the API is metered to."""
    return gateway.Caller(user_id=principal.user_id, api_key_id=principal.api_key_id)


def finish(session: Session, prepared: Search) -> dict[str, Any]:
    """The fused hits with their passages, best first."""
    rows = _passages(session, list(dict.fromkeys(
        chunk_id for chunk_id, _ in (*prepared.fts, *prepared.vector))),
        prepared.kind, prepared.collection_id)
    fused: dict[str, dict[str, Any]] = {}
    for name, ranked in (("fts", prepared.fts), ("vector", prepared.vector)):
        # Ranked among what may be served: a vector of a document not (or no longer) indexed,
        # or of a deleted chunk, takes no rank from the passages after it.
        servable = [(chunk_id, score) for chunk_id, score in ranked if chunk_id in rows]
        for rank, (chunk_id, score) in enumerate(servable, 1):
            entry = fused.setdefault(chunk_id, {"fts": None, "vector": None, "fused": 0.0})
            entry[name] = score
            entry["fused"] += 1.0 / (RRF_K + rank)
    hits: list[dict[str, Any]] = []
    seen_bots: set[str] = set()
    for chunk_id, scores in sorted(fused.items(), key=lambda item: (-item[1]["fused"],
                                                                    item[0])):
        row = rows[chunk_id]  # (deleted since, not the workspace's, not servable: absent)
        if row["bot_id"] is not None:
            if row["bot_id"] in seen_bots:
                continue  # one hit per bot: its best passage
            seen_bots.add(row["bot_id"])
        hits.append(_hit(chunk_id, scores, row))
        if len(hits) >= prepared.limit:
            break
    return {"query": prepared.query, "kind": prepared.kind,
            "collection_id": prepared.collection_id, "generation": prepared.generation,
            "vector_search": prepared.generation is not None and prepared.vector_note is None,
            "note": prepared.vector_note, "items": hits}


def _filters(kind: str | None, collection_id: uuid.UUID | None) -> dict[str, Any]:
    filters: dict[str, Any] = {}
    if kind == "bots":
        filters["kind"] = "bot"
    elif kind == "documents":
        filters["kind"] = "document"
    if collection_id is not None:
        filters["collection_id"] = str(collection_id)
    return filters


# A chunk with its document or bot; only what is servable is a passage: a document's chunks
# once it is ``indexed`` (not while ``pending``/``indexing``, nor ``failed``), a bot's of its
# current version (its chunks are replaced by a job after each new version).
_SERVED = ("knowledge_chunks c "
           "LEFT JOIN knowledge_documents d ON d.workspace_id = c.workspace_id "
           "AND d.id = c.document_id "
           "LEFT JOIN bots b ON b.workspace_id = c.workspace_id AND b.id = c.bot_id")
_SERVABLE = ("(d.status = 'indexed' OR (c.bot_id IS NOT NULL "
             "AND c.bot_version IS NOT DISTINCT FROM b.current_version))")


def _where(kind: str | None, collection_id: uuid.UUID | None) -> str:
    clauses = []
    if kind == "bots":
        clauses.append("c.bot_id IS NOT NULL")
    elif kind == "documents":
        clauses.append("c.document_id IS NOT NULL")
    if collection_id is not None:
        clauses.append("c.collection_id = :collection_id")
    return "".join(f" AND {clause}" for clause in clauses)


def _full_text(session: Session, query: str, kind: str | None,
               collection_id: uuid.UUID | None) -> list[tuple[str, float]]:
    phrases, words, excluded = terms_of(query)
    if not phrases and not words:
        return []
    rows = session.execute(text(
        "WITH q AS (" + _ANY_TERM + ") SELECT c.id, ts_rank_cd(c.tsv, q.query) AS rank FROM q, "
        + _SERVED + " WHERE c.tsv @@ q.query AND " + _SERVABLE
        + _where(kind, collection_id) + " ORDER BY rank DESC, c.id LIMIT :limit"),
        {"phrases": phrases, "words": words, "excluded": excluded,
         "collection_id": collection_id, "limit": CANDIDATES}).all()
    return [(str(row.id), float(row.rank)) for row in rows]


MAX_TERMS = 32  # words and phrases of a query the keyword half matches (the first ones)
_TERM = re.compile(r'(-?)"([^"]*)"?|(-?)([^\s"]+)')

# The tsquery of any term: each phrase (``phraseto_tsquery``) or word (``plainto_tsquery``)
# OR-ed, then each excluded word or phrase (``phraseto_tsquery``) AND-NOT-ed; a term that is
# only stop words drops out, and a query of nothing else is NULL (it matches nothing). The
# terms' tsqueries are joined as text (their output is tsquery input) so one statement serves
# any number of them.
_ANY_TERM = (
    "SELECT CAST('(' || string_agg('(' || t::text || ')', ' | ') || ')' || coalesce((SELECT "
    "' & ' || string_agg('!(' || n::text || ')', ' & ') FROM (SELECT phraseto_tsquery("
    "'english', x) AS n FROM unnest(CAST(:excluded AS text[])) x) e WHERE numnode(n) > 0), "
    "'') AS tsquery) AS query FROM (SELECT phraseto_tsquery('english', p) AS t "
    "FROM unnest(CAST(:phrases AS text[])) p UNION ALL SELECT plainto_tsquery('english', w) "
    "FROM unnest(CAST(:words AS text[])) w) a WHERE numnode(t) > 0")


def terms_of(query: str) -> tuple[list[str], list[str], list[str]]:
    """A query's quoted phrases, its words, and its excluded words (``-word``, ``-"a b"``),
    as :func:`websearch_to_tsquery` reads them; ``or`` is no term (any term matches)."""
    phrases: list[str] = []
    words: list[str] = []
    excluded: list[str] = []
    for match in _TERM.finditer(query):
        negated, phrase, word = match[1] or match[3], match[2], match[4]
        value = phrase if phrase is not None else word
        if not value.strip() or (word is not None and word.lower() == "or"):
            continue
        if negated:
            excluded.append(value)
        elif phrase is not None:
            phrases.append(phrase)
        else:
            words.append(word)
        if len(phrases) + len(words) + len(excluded) >= MAX_TERMS:
            break
    return phrases, words, excluded


def _passages(session: Session, ids: list[str], kind: str | None,
              collection_id: uuid.UUID | None) -> dict[str, dict[str, Any]]:
    valid = [i for i in ids if _is_uuid(i)]
    if not valid:
        return {}
    rows = session.execute(text(
        "SELECT c.id, c.document_id, c.collection_id, c.bot_id, c.bot_version, c.ordinal, "
        "c.heading, c.text, c.location, d.title, b.name AS bot_name FROM " + _SERVED
        + " WHERE c.id = ANY(CAST(:ids AS uuid[])) AND " + _SERVABLE
        + _where(kind, collection_id)),
        {"ids": valid, "collection_id": collection_id}).mappings().all()
    return {str(row["id"]): {**row, "bot_id": str(row["bot_id"]) if row["bot_id"] else None}
            for row in rows}


def _hit(chunk_id: str, scores: dict[str, Any], row: dict[str, Any]) -> dict[str, Any]:
    hit: dict[str, Any] = {
        "chunk_id": chunk_id, "kind": "bot" if row["bot_id"] else "document",
        "scores": {"fts": scores["fts"], "vector": scores["vector"],
                   "fused": round(scores["fused"], 6)},
        "passage": row["text"], "heading": row["heading"], "location": row["location"],
        "ordinal": row["ordinal"], "document": None, "bot": None,
    }
    if row["bot_id"]:
        hit["bot"] = {"id": row["bot_id"], "name": row["bot_name"],
                      "version": row["bot_version"]}
    else:
        hit["document"] = {"id": str(row["document_id"]), "title": row["title"],
                           "collection_id": str(row["collection_id"])}
    return hit


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True

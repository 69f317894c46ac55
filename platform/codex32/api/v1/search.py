"""Search: hybrid retrieval over the workspace's documents and bots. Thin HTTP layer over
:mod:`codex32.services.knowledge.search`; no SQL here.

The full-text half runs in the request's transaction; the transaction ends before the query
is embedded and the vector store is asked (docs/architecture.md, "Transactions").
"""

from __future__ import annotations

from marshmallow import fields, validate

from codex32.api import transaction
from codex32.api.blueprint import Blueprint
from codex32.api.schemas import Output, Strict
from codex32.auth.guard import current_principal, requires
from codex32.auth.rbac import Permission
from codex32.db import db
from codex32.services.knowledge import search as knowledge_search

blp = Blueprint("search", __name__, url_prefix="/api/v1/search",
                description="Hybrid (full-text and vector) search over documents and bots.")

MAX_LIMIT = 50


class SearchArgs(Strict):
    q = fields.String(required=True, validate=validate.Length(
        min=1, max=knowledge_search.MAX_QUERY_CHARS))
    kind = fields.String(validate=validate.OneOf(knowledge_search.KINDS),
                         metadata={"description": "bots or documents; both when absent"})
    collection = fields.UUID(metadata={"description": "only this collection's documents"})
    limit = fields.Integer(load_default=10, validate=validate.Range(min=1, max=MAX_LIMIT))


class ScoresSchema(Output):
    fts = fields.Float(allow_none=True, metadata={
        "description": "ts_rank_cd over any of the query's terms, when one matched"})
    vector = fields.Float(allow_none=True, metadata={"description": "similarity, when near"})
    fused = fields.Float(required=True, metadata={"description": "reciprocal rank fusion"})


class HitDocumentSchema(Output):
    id = fields.UUID(required=True)
    title = fields.String(required=True)
    collection_id = fields.UUID(required=True)


class HitBotSchema(Output):
    id = fields.UUID(required=True)
    name = fields.String(required=True)
    version = fields.Integer(allow_none=True)


class HitSchema(Output):
    chunk_id = fields.UUID(required=True)
    kind = fields.String(required=True, metadata={"description": "document or bot"})
    scores = fields.Nested(ScoresSchema, required=True)
    passage = fields.String(required=True)
    heading = fields.String(required=True, metadata={"description": "its heading path"})
    location = fields.Dict(required=True, metadata={
        "description": "start/end character offsets, page for a PDF, file for a bot"})
    ordinal = fields.Integer(required=True)
    document = fields.Nested(HitDocumentSchema, allow_none=True)
    bot = fields.Nested(HitBotSchema, allow_none=True)


class SearchResultSchema(Output):
    query = fields.String(required=True)
    kind = fields.String(allow_none=True)
    collection_id = fields.UUID(allow_none=True)
    generation = fields.Integer(allow_none=True, metadata={
        "description": "the index generation the vector half read"})
    vector_search = fields.Boolean(required=True)
    note = fields.String(allow_none=True, metadata={
        "description": "why the vector half did not take part, when it did not"})
    items = fields.List(fields.Nested(HitSchema), required=True)


@blp.route("", methods=["GET"])
@requires(Permission.VIEW_KNOWLEDGE)
@blp.arguments(SearchArgs, location="query")
@blp.response(200, SearchResultSchema)
def search(args):
    """Hybrid search: full-text and vector hits fused by reciprocal rank fusion."""
    principal = current_principal()
    prepared = knowledge_search.prepare(
        db.session, principal.workspace_id, args["q"],
        caller=knowledge_search.caller_of(principal), kind=args.get("kind"),
        collection_id=args.get("collection"), limit=args["limit"])
    transaction.end()
    return knowledge_search.finish(db.session, prepared.nearest())

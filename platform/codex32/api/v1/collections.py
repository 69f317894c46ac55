"""Knowledge collections and their documents: thin HTTP layer over
:mod:`codex32.services.knowledge.documents`. No SQL here.

A document is uploaded as a multipart file (``file``, with optional ``title`` and ``metadata``
as a JSON string) or as JSON ``{title, text, media_type, metadata}``; the answer is 202 with
the document ``pending`` (its indexing is queued), or 200 with the existing document when the
collection already holds the same content.
"""

from __future__ import annotations

from typing import Any

from flask import current_app, request
from marshmallow import ValidationError, fields, validate

from codex32 import runtime
from codex32.api import transaction
from codex32.api.blueprint import Blueprint, body_limit
from codex32.api.json_provider import read_body
from codex32.api.schemas import Output, PageArgs, Strict, description_length, name_length, page_of
from codex32.auth.guard import current_principal, requires
from codex32.auth.rbac import Permission
from codex32.db import db
from codex32.db.knowledge_models import DOCUMENT_STATUSES
from codex32.errors import DomainError, Invalid, UnsupportedMediaType, first_message
from codex32.services.knowledge import answers, documents, parsing
from codex32.services.knowledge import search as knowledge_search
from codex32.services.pages import PageRequest

blp = Blueprint("collections", __name__, url_prefix="/api/v1/collections",
                description="Knowledge collections: documents indexed for search.")

BODY_OVERHEAD = 64 * 1024  # multipart boundaries and form fields around the file
# The most bytes of JSON one byte of text takes: a control character is six ("\u0001"), and
# ASCII-only JSON spells a 2-byte character in six too ("\u00e9"), a 4-byte one in twelve.
JSON_ESCAPE_FACTOR = 6


def upload_body_limit() -> int:
    """The body an upload may send: a document of ``KNOWLEDGE_MAX_DOCUMENT_BYTES`` however
    its body spells it (as a file, or as JSON text at its most escaped), and the fields
    around it. What the document itself may hold is checked on its bytes (413)."""
    limit = runtime.of(current_app).settings.knowledge_max_document_bytes
    factor = JSON_ESCAPE_FACTOR if request.mimetype == "application/json" else 1
    return limit * factor + BODY_OVERHEAD


class CollectionCreateSchema(Strict):
    name = fields.String(required=True, validate=name_length)
    description = fields.String(load_default="", validate=description_length)
    metadata = fields.Dict(load_default=dict)


class CollectionUpdateSchema(Strict):
    name = fields.String(validate=name_length)
    description = fields.String(validate=description_length)
    metadata = fields.Dict()


class CollectionSchema(Output):
    id = fields.UUID(required=True)
    name = fields.String(required=True)
    description = fields.String(required=True)
    metadata = fields.Dict(attribute="metadata_", required=True)
    created_by = fields.UUID(allow_none=True)
    created_at = fields.DateTime(required=True)
    updated_at = fields.DateTime(required=True)


CollectionPageSchema = page_of(CollectionSchema, "CollectionPage")


class TextDocumentSchema(Strict):
    title = fields.String(required=True, validate=name_length)
    text = fields.String(required=True, validate=validate.Length(min=1))
    media_type = fields.String(load_default=parsing.TEXT, validate=validate.OneOf(
        (parsing.TEXT, parsing.MARKDOWN, parsing.HTML)))
    metadata = fields.Dict(load_default=dict)


class DocumentArgs(PageArgs):
    status = fields.String(validate=validate.OneOf(DOCUMENT_STATUSES))


class DocumentSchema(Output):
    id = fields.UUID(required=True)
    collection_id = fields.UUID(required=True)
    title = fields.String(required=True)
    media_type = fields.String(required=True)
    size = fields.Integer(required=True)
    content_hash = fields.String(required=True, metadata={"description": "SHA-256, hex"})
    metadata = fields.Dict(attribute="metadata_", required=True)
    status = fields.String(required=True, metadata={"description": ", ".join(DOCUMENT_STATUSES)})
    error = fields.String(allow_none=True, metadata={"description": "why indexing failed"})
    generation = fields.Integer(allow_none=True,
                                metadata={"description": "the index generation it is in"})
    chunk_count = fields.Integer(required=True)
    attempts = fields.Integer(required=True)
    created_by = fields.UUID(allow_none=True)
    created_at = fields.DateTime(required=True)
    updated_at = fields.DateTime(required=True)
    indexed_at = fields.DateTime(allow_none=True)


DocumentPageSchema = page_of(DocumentSchema, "DocumentPage")


@blp.route("", methods=["GET"])
@requires(Permission.VIEW_KNOWLEDGE)
@blp.arguments(PageArgs, location="query")
@blp.response(200, CollectionPageSchema)
def list_collections(args):
    """The workspace's collections, by name."""
    return documents.list_collections(db.session, PageRequest(**args))


@blp.route("", methods=["POST"])
@requires(Permission.MANAGE_KNOWLEDGE)
@blp.arguments(CollectionCreateSchema)
@blp.response(201, CollectionSchema)
def create_collection(data):
    """Create a collection (names are unique per workspace whatever their case: 409)."""
    return documents.create_collection(db.session, current_principal(), **data)


@blp.route("/<uuid:collection_id>", methods=["GET"])
@requires(Permission.VIEW_KNOWLEDGE)
@blp.response(200, CollectionSchema)
def get_collection(collection_id):
    """One collection."""
    return documents.get_collection(db.session, collection_id)


@blp.route("/<uuid:collection_id>", methods=["PATCH"])
@requires(Permission.MANAGE_KNOWLEDGE)
@blp.arguments(CollectionUpdateSchema)
@blp.response(200, CollectionSchema)
def update_collection(data, collection_id):
    """Rename a collection or change its description or metadata.

    A PATCH that changes nothing answers the collection as it is and is not audited."""
    return documents.update_collection(db.session, current_principal(), collection_id, data)


@blp.route("/<uuid:collection_id>", methods=["DELETE"])
@requires(Permission.MANAGE_KNOWLEDGE)
@blp.response(204)
def delete_collection(collection_id):
    """Delete a collection, its documents, their chunks and vectors."""
    documents.delete_collection(db.session, current_principal(), collection_id)


@blp.route("/<uuid:collection_id>/documents", methods=["GET"])
@requires(Permission.VIEW_KNOWLEDGE)
@blp.arguments(DocumentArgs, location="query")
@blp.response(200, DocumentPageSchema)
def list_documents(args, collection_id):
    """A collection's documents, newest first, with their status."""
    status = args.pop("status", None)
    return documents.list_documents(db.session, collection_id, PageRequest(**args), status)


@blp.route("/<uuid:collection_id>/documents", methods=["POST"])
@body_limit(upload_body_limit)
@requires(Permission.MANAGE_KNOWLEDGE)
@blp.response(202, DocumentSchema, description="stored; its indexing is queued")
@blp.alt_response(200, schema=DocumentSchema,
                  description="the collection holds this content already")
def upload_document(collection_id):
    """Upload a document: a multipart ``file`` (text, Markdown, HTML or PDF), or JSON text."""
    document, created = documents.upload(db.session, current_principal(), collection_id,
                                         **_upload())
    return document, 202 if created else 200


def _upload() -> dict[str, Any]:
    """The upload's fields from a multipart form or a JSON body."""
    if request.mimetype == "multipart/form-data":
        upload = request.files.get("file")
        if upload is None:
            raise Invalid("a multipart upload needs a 'file' part",
                          errors={"files": {"file": ["Missing data for required field."]}})
        title = (_bounded_title(request.form.get("title") or "")
                 or _bounded_title(upload.filename or ""))
        return {"title": title, "content": upload.read(), "content_field": ("files", "file"),
                "media_type": upload.mimetype, "filename": upload.filename,
                "metadata": _form_metadata(request.form.get("metadata"))}
    if request.mimetype == "application/json":
        try:
            data = TextDocumentSchema().load(read_body(request.get_data(cache=True)))
        except ValidationError as exc:
            errors = {"json": exc.messages}
            raise Invalid(first_message(errors) or "invalid document", errors=errors) from None
        return {"title": data["title"], "content": data["text"].encode(),
                "media_type": data["media_type"], "metadata": data["metadata"]}
    raise UnsupportedMediaType("upload a document as multipart/form-data or application/json")


def _bounded_title(title: str) -> str:
    title = title.strip()[:255]
    if "\x00" in title:
        raise Invalid("the title holds NUL characters", errors={"form": {"title": ["NUL"]}})
    return title


def _form_metadata(raw: str | None) -> dict[str, Any]:
    if not raw:
        return {}
    try:  # as strictly as a JSON body: no lone surrogate, NUL or deep nesting
        value = read_body(raw.encode("utf-8", "surrogatepass"))
    except DomainError as exc:
        raise Invalid(f"metadata must be a JSON object: {exc.message}",
                      errors={"form": {"metadata": [exc.message]}}) from None
    if not isinstance(value, dict):
        raise Invalid("metadata must be a JSON object", errors={"form": {"metadata": [
            "not a JSON object"]}})
    return value


@blp.route("/<uuid:collection_id>/documents/<uuid:document_id>", methods=["GET"])
@requires(Permission.VIEW_KNOWLEDGE)
@blp.response(200, DocumentSchema)
def get_document(collection_id, document_id):
    """One document with its indexing status (and the reason when it failed)."""
    return documents.get_document(db.session, collection_id, document_id)


@blp.route("/<uuid:collection_id>/documents/<uuid:document_id>", methods=["DELETE"])
@requires(Permission.MANAGE_KNOWLEDGE)
@blp.response(204)
def delete_document(collection_id, document_id):
    """Delete a document, its chunks and their vectors."""
    documents.delete_document(db.session, current_principal(), collection_id, document_id)


class AskSchema(Strict):
    question = fields.String(required=True, validate=validate.Length(
        min=1, max=knowledge_search.MAX_QUERY_CHARS))
    limit = fields.Integer(load_default=5, validate=validate.Range(min=1, max=20),
                           metadata={"description": "passages retrieved for the answer"})


class CitationSchema(Output):
    chunk_id = fields.UUID(required=True)
    document = fields.Dict(allow_none=True)
    heading = fields.String(required=True)
    location = fields.Dict(required=True)
    passage = fields.String(required=True)


class AnswerSchema(Output):
    question = fields.String(required=True)
    mode = fields.String(required=True, metadata={
        "description": "generated (by a language model), extractive (the best passages "
                       "quoted) or none (nothing matched)"})
    answer = fields.String(allow_none=True)
    citations = fields.List(fields.Nested(CitationSchema), required=True)
    rejected_citations = fields.List(fields.String(), required=True, metadata={
        "description": "ids the model cited that were not among the retrieved passages"})
    note = fields.String(allow_none=True)
    provider = fields.String(allow_none=True)
    model = fields.String(allow_none=True)
    retrieved = fields.Integer(required=True)


@blp.route("/<uuid:collection_id>/ask", methods=["POST"])
@requires(Permission.USE_LLM)
@blp.arguments(AskSchema)
@blp.response(200, AnswerSchema)
def ask(data, collection_id):
    """Answer a question from the collection's passages, citing the chunks it used (metered
    through the LLM gateway, purpose ``search``; extractive without a language model)."""
    asking = answers.prepare(db.session, current_principal(), collection_id, data["question"],
                             data["limit"])
    transaction.end()  # the embedder, the store and the model may take seconds
    found = knowledge_search.finish(db.session, asking.retrieval.nearest())
    transaction.end()
    return answers.compose(asking, found)

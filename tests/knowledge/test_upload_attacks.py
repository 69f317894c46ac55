"""Hostile uploads: whatever a client sends as a document's body, title, file name or metadata
is a clear 4xx with nothing stored, never a 500."""

from __future__ import annotations

import json
import time
from io import BytesIO

import pytest
from psycopg.types.json import Jsonb

from codex32 import runtime
from codex32.services.knowledge import chunking, parsing
from tests.knowledge.conftest import collection, document, make_pdf, search, use_milvus


def _documents(tenant, collection_id: str) -> list[dict]:
    response = tenant.call("GET", f"/api/v1/collections/{collection_id}/documents")
    assert response.status_code == 200, response.json
    return response.json["items"]


def _post(tenant, collection_id: str, body: bytes, content_type: str = "application/json"):
    return tenant.call("POST", f"/api/v1/collections/{collection_id}/documents", data=body,
                       content_type=content_type)


def test_a_json_upload_is_read_as_strictly_as_any_json_body(tenant):
    handbook = collection(tenant)
    nul = _post(tenant, handbook, b'{"title": "a\\u0000b", "text": "hello"}')
    assert nul.status_code == 422, nul.json
    assert nul.json["errors"] == {"json": {"title": ["must not contain NUL characters"]}}
    for body in (b'{"title": "t", "text": "hello"', b'{"title": "a\\ud800", "text": "x"}',
                 b'{"title": "t", "text": "x", "metadata": ' + b'{"a": ' * 100 + b"1"
                 + b"}" * 100 + b"}", b"\xff\xfe", b""):
        response = _post(tenant, handbook, body)
        assert response.status_code == 400, (body[:40], response.json)
        assert "JSON" in response.json["message"], response.json
    assert _documents(tenant, handbook) == []


def _upload(tenant, collection_id: str, filename: str, content: bytes,
            content_type: str = "text/plain", **form: str):
    data = {**form, "file": (BytesIO(content), filename, content_type)}
    return tenant.call("POST", f"/api/v1/collections/{collection_id}/documents", data=data,
                       content_type="multipart/form-data")


def test_a_blank_title_falls_back_to_a_bounded_file_name(tenant):
    handbook = collection(tenant)
    long_name = _upload(tenant, handbook, "x" * 10_000 + ".txt", b"one", title="   ")
    assert long_name.status_code == 202, long_name.json
    assert long_name.json["title"] == "x" * 255
    blank = _upload(tenant, handbook, "\t" * 10_000, b"two")
    assert blank.status_code == 202, blank.json
    assert blank.json["title"] == blank.json["content_hash"][:12]
    nul = _upload(tenant, handbook, "a\x00b.txt", b"three", title=" ")
    assert nul.status_code == 422, nul.json
    assert len(_documents(tenant, handbook)) == 2


def test_form_metadata_is_read_as_strictly_as_any_json_body(tenant):
    handbook = collection(tenant)
    for metadata in ('{"a": "\\ud800"}', '{"a": ' * 5000 + "1" + "}" * 5000, "{"):
        response = _upload(tenant, handbook, "a.txt", b"hello", metadata=metadata)
        assert response.status_code in (400, 422), (metadata[:20], response.json)
        assert "metadata" in response.json["message"], response.json
    assert _documents(tenant, handbook) == []


def test_a_hostile_heading_line_is_parsed_in_linear_time():
    """A heading line of 40,000 '#' took seconds (the heading pattern backtracked quadratically;
    a 10 MB line would hold the indexing worker for hours)."""
    line = "# " + "#" * 40_000 + "x"
    started = time.perf_counter()
    parsed = parsing.markdown(line + "\n\nbody\n")
    assert time.perf_counter() - started < 0.5
    assert parsed.sections[0].headings == (line[2:2 + parsing.MAX_HEADING_CHARS],)
    for heading, expected in (("# Title ##", "Title"), ("## a#b \t", "a#b"), ("# ##", "#"),
                              ("#   ", " ")):
        assert parsing.markdown(heading + "\ntext\n").sections[0].headings == (expected,)


def test_a_long_heading_is_bounded_not_copied_into_every_chunk():
    """A heading is stored with, searched with and embedded before each chunk under it: a
    100,000-character heading made every chunk carry it (a 10 MB upload, gigabytes of rows)."""
    text = "# " + "h" * 100_000 + "\n\n" + "Some words of the body. " * 2000
    chunks = chunking.chunk(parsing.markdown(text), max_tokens=400, overlap=60)
    assert len(chunks) > 1
    assert {chunk.heading for chunk in chunks} == {"h" * parsing.MAX_HEADING_CHARS}


def test_deeply_nested_html_is_parsed():
    """HTML nested 5,000 elements deep was a RecursionError in the indexing job, retried as
    if transient until the document failed with a Python error for its reason."""
    for tag in ("div", "b", "li", "td"):
        text = parsing.parse(parsing.HTML, (f"<{tag}>" * 5000 + "deep text").encode()).text
        assert "deep text" in text, tag


def test_a_pdf_whose_text_holds_nul_is_indexed(tenant, kb):
    """pypdf extracts a NUL from a string drawn with byte 0 (\\000 in the PDF): the chunk
    insert failed (PostgreSQL text cannot hold one), retried until the document failed."""
    handbook = collection(tenant)
    uploaded = _upload(tenant, handbook, "report.pdf", make_pdf(
        [["Quarterly\\000revenue grew"]]), content_type="application/pdf")
    assert uploaded.status_code == 202, uploaded.json
    assert all(outcome == "ok" for _, outcome in kb.drain(tenant))
    found = document(tenant, handbook, uploaded.json["id"])
    assert found["status"] == "indexed", found
    assert [hit["document"]["id"] for hit in search(tenant, "revenue")["items"]] == [
        uploaded.json["id"]]


def test_a_document_deleted_while_its_vectors_are_written_leaves_none(tenant, kb, monkeypatch):
    """Deleted between the embedding job's read of its chunks and its upsert, with the queued
    forget job run meanwhile (another worker): the upsert wrote vectors nothing would delete."""
    from codex32.execution import indexing

    handbook = collection(tenant)
    doomed = _upload(tenant, handbook, "doomed.txt", b"Vectors of a deleted document.").json
    real_upsert = indexing.vectors.upsert

    def upsert_after_the_delete(*args, **kwargs):
        deleted = tenant.call("DELETE", f"/api/v1/collections/{handbook}/documents/"
                                        f"{doomed['id']}")
        assert deleted.status_code == 204, deleted.json
        kb.drain(tenant)  # the forget job, before the vectors are written
        real_upsert(*args, **kwargs)

    monkeypatch.setattr(indexing.vectors, "upsert", upsert_after_the_delete)
    kb.drain(tenant)
    monkeypatch.setattr(indexing.vectors, "upsert", real_upsert)
    assert kb.chunks(tenant) == []
    assert kb.vector_ids(tenant) == set()


def test_an_upload_into_a_collection_deleted_meanwhile_is_404_not_500(tenant, superuser,
                                                                       monkeypatch):
    """The collection is deleted (another request, committed) between the upload's read of it
    and its insert: the document's foreign key fails, which is a missing collection."""
    from codex32.services.knowledge import documents

    handbook = collection(tenant)
    real_check = documents.parsing.check

    def check_then_delete(*args, **kwargs):
        real_check(*args, **kwargs)
        superuser.execute("DELETE FROM knowledge_collections WHERE id = %s", (handbook,))

    monkeypatch.setattr(documents.parsing, "check", check_then_delete)
    response = _post(tenant, handbook, b'{"title": "late", "text": "Too late."}')

    assert response.status_code == 404, response.json
    assert response.json["message"] == "collection not found"
    assert superuser.execute("SELECT count(*) FROM knowledge_documents WHERE workspace_id = %s",
                             (tenant.workspace_id,)).fetchone()[0] == 0


def test_the_same_content_uploaded_at_the_same_moment_returns_the_first_upload(
        tenant, superuser, monkeypatch):
    """Another request uploads (and commits) the same content between this upload's look for
    it and its insert: the unique index refuses the insert, and the upload answers as an
    upload of content the collection holds does (200, that document), not 409."""
    from codex32.services.knowledge import documents

    handbook = collection(tenant)
    body = b'{"title": "twice", "text": "Same words, sent twice at once."}'
    first = _post(tenant, handbook, body)
    assert first.status_code == 202, first.json  # stored, its indexing queued
    cursor = superuser.execute("SELECT * FROM knowledge_documents WHERE id = %s",
                               (first.json["id"],))
    columns = [c.name for c in cursor.description]
    values = [Jsonb(v) if isinstance(v, dict | list) else v for v in cursor.fetchone()]
    superuser.execute("DELETE FROM knowledge_documents WHERE id = %s", (first.json["id"],))
    real_checked = documents._checked_metadata

    def committed_meanwhile(*args, **kwargs):  # after the look, before the insert
        superuser.execute(f"INSERT INTO knowledge_documents ({', '.join(columns)}) VALUES "
                          f"({', '.join(['%s'] * len(columns))})", values)
        return real_checked(*args, **kwargs)

    monkeypatch.setattr(documents, "_checked_metadata", committed_meanwhile)
    second = _post(tenant, handbook, body)
    assert second.status_code == 200, second.json
    assert second.json["id"] == first.json["id"]
    assert [d["id"] for d in _documents(tenant, handbook)] == [first.json["id"]]


@pytest.mark.parametrize("store", ["pgvector", "milvus"])
def test_two_attempts_at_one_document_leave_one_set_of_vectors(tenant, kb, app, monkeypatch,
                                                               store, request):
    """Two attempts overlap (a recovered job whose worker was only slow): the later one
    replaced the chunks the first had stored and embedded, leaving their vectors with no chunk,
    which deleting the document never deleted."""
    from codex32.execution import indexing

    if store == "milvus":
        request.getfixturevalue("milvus_uri")
        use_milvus(tenant)
    handbook = collection(tenant)
    uploaded = _post(tenant, handbook, json.dumps(
        {"title": "Notes", "text": "Alpha beta gamma. " * 200}).encode()).json
    real_chunk = indexing.chunking.chunk

    def chunk_while_another_attempt_runs(*args, **kwargs):
        monkeypatch.setattr(indexing.chunking, "chunk", real_chunk)
        indexing.index_document(tenant.workspace_id, uploaded["id"], lambda error: True)
        return real_chunk(*args, **kwargs)

    monkeypatch.setattr(indexing.chunking, "chunk", chunk_while_another_attempt_runs)
    with runtime.activated(runtime.of(app)):
        indexing.index_document(tenant.workspace_id, uploaded["id"], lambda error: True)
    chunks = {chunk["id"] for chunk in kb.chunks(tenant)}
    assert len(chunks) > 1 and kb.vector_ids(tenant) == chunks
    assert document(tenant, handbook, uploaded["id"])["status"] == "indexed"
    deleted = tenant.call("DELETE", f"/api/v1/collections/{handbook}/documents/"
                                    f"{uploaded['id']}")
    assert deleted.status_code == 204, deleted.json
    kb.drain(tenant)
    assert kb.vector_ids(tenant) == set()


@pytest.mark.parametrize("content", [b"\xef\xbb\xbf", "\u3000\u2003\n".encode(),
                                     b"\xef\xbb\xbf  \r\n\t"])
def test_a_document_of_blanks_only_is_refused_as_empty(tenant, content):
    """A byte-order mark or Unicode spaces alone are no text: accepted (202), the document
    failed later in the job ("holds no text") where an empty one is a 422 at once."""
    handbook = collection(tenant)
    for kind in ("text/plain", "text/markdown"):
        response = _upload(tenant, handbook, "blank.txt", content, content_type=kind)
        assert response.status_code == 422, response.json
        assert response.json["message"] == "the document is empty", response.json
    assert _documents(tenant, handbook) == []

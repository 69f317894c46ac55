"""Collections and documents through the API: each format uploaded, indexed through the queue,
deduplicated by content hash, refused clearly when too large, unsupported or unreadable, and
deleted with their chunks and vectors."""

from __future__ import annotations

import pytest

from codex32.app import create_app
from tests.conftest import make_settings, sign_up
from tests.knowledge.conftest import (
    collection,
    document,
    make_pdf,
    search,
    upload_file,
    upload_text,
)

MARKDOWN = """# Handbook

Welcome to the team.

## Expenses

Submit receipts within thirty days. The finance team reimburses approved expenses monthly.

### Travel

Book trains when the journey is under four hours.
"""
HTML = """<html><head><title>Ignored</title><script>var tracking = 1;</script></head>
<body><nav>Home | About</nav><h1>Security policy</h1><p>Rotate <b>credentials</b> every
ninety days.</p><h2>Laptops</h2><ul><li>Encrypt the disk</li><li>Lock the screen</li></ul>
</body></html>"""


def test_each_format_is_uploaded_indexed_and_searchable(tenant, kb):
    handbook = collection(tenant)
    text = upload_file(tenant, handbook, "notes.txt", b"Plain notes about quarterly planning.",
                       "text/plain")
    markdown = upload_text(tenant, handbook, "Handbook", MARKDOWN,
                           metadata={"team": "people"})
    html = upload_file(tenant, handbook, "policy.html", HTML.encode(), "text/html")
    pdf = upload_file(tenant, handbook, "report.pdf", make_pdf(
        [["Annual report", "Revenue grew in every region."],
         ["Outlook", "We expect steady growth of subscriptions."]]), "application/pdf")
    for response in (text, markdown, html, pdf):
        assert response.status_code == 202, response.json
        assert response.json["status"] == "pending"
    assert markdown.json["metadata"] == {"team": "people"}
    assert pdf.json["media_type"] == "application/pdf"

    outcomes = kb.drain(tenant)
    assert {task for task, _ in outcomes} >= {"codex32.index_document"}
    assert all(outcome == "ok" for _, outcome in outcomes), outcomes
    for response in (text, markdown, html, pdf):
        found = document(tenant, handbook, response.json["id"])
        assert found["status"] == "indexed" and found["error"] is None, found
        assert found["generation"] == 1 and found["chunk_count"] >= 1

    headings = {c["heading"] for c in kb.chunks(tenant, document_id=html.json["id"])}
    assert "Security policy > Laptops" in headings
    html_text = " ".join(c["text"] for c in kb.chunks(tenant, document_id=html.json["id"]))
    assert "tracking" not in html_text and "Home | About" not in html_text
    assert "- Encrypt the disk" in html_text
    pages = [c["location"] for c in kb.chunks(tenant, document_id=pdf.json["id"])]
    assert pages[0]["page"] == 1 and pages[-1].get("page_end", pages[-1]["page"]) == 2

    hit = search(tenant, "subscriptions growth", kind="documents")["items"][0]
    assert hit["document"]["id"] == pdf.json["id"]
    assert hit["location"]["page"] in (1, 2) and "subscriptions" in hit["passage"]
    listed = tenant.call("GET", f"/api/v1/collections/{handbook}/documents",
                         query_string={"page_size": 2})
    assert listed.json["total"] == 4 and len(listed.json["items"]) == 2


def test_the_same_content_uploaded_again_is_the_same_document(tenant, kb):
    handbook = collection(tenant)
    first = upload_text(tenant, handbook, "Handbook", MARKDOWN)
    again = upload_text(tenant, handbook, "Another title", MARKDOWN)
    assert first.status_code == 202 and again.status_code == 200
    assert again.json["id"] == first.json["id"] and again.json["title"] == "Handbook"
    assert len(kb.jobs(tenant)) == 1  # one indexing job, not two
    elsewhere = upload_text(tenant, collection(tenant, "other"), "Handbook", MARKDOWN)
    assert elsewhere.status_code == 202 and elsewhere.json["id"] != first.json["id"]


@pytest.fixture(scope="module")
def small_limit(database, data_dir):
    """An app that takes documents of at most 2048 bytes."""
    return create_app(make_settings(data_dir, knowledge_max_document_bytes=2048),
                      database.urls)


@pytest.mark.parametrize(("name", "content", "content_type", "status", "says"), [
    ("big.txt", b"x" * 2049, "text/plain", 413, "larger than 2048 bytes"),
    ("sheet.xlsx", b"PK\x03\x04 zipped", "application/vnd.ms-excel", 415, "unsupported"),
    ("latin.txt", "caf\u00e9".encode("latin-1"), "text/plain", 422, "not UTF-8"),
    ("fake.pdf", b"hello, not a pdf", "application/pdf", 422, "not a PDF"),
    ("empty.md", b"  \n", "text/markdown", 422, "empty"),
])
def test_bad_uploads_are_refused_clearly_and_write_nothing(small_limit, name, content,
                                                           content_type, status, says):
    tenant = sign_up(small_limit.test_client())
    handbook = collection(tenant)
    response = upload_file(tenant, handbook, name, content, content_type)
    assert response.status_code == status, response.json
    assert says in response.json["message"]
    listed = tenant.call("GET", f"/api/v1/collections/{handbook}/documents")
    assert listed.json["total"] == 0


def test_a_refused_content_names_the_field_it_was_sent_in(tenant):
    """An empty or unreadable upload named `json.content`, a field neither body has."""
    handbook = collection(tenant)
    cases = ((upload_file(tenant, handbook, "empty.md", b"  \n", "text/markdown"), "files",
              "file"),
             (upload_file(tenant, handbook, "latin.txt", "caf\u00e9".encode("latin-1"),
                          "text/plain"), "files", "file"),
             (upload_text(tenant, handbook, "Empty", "   "), "json", "text"),
             (upload_text(tenant, handbook, "NUL", "a\x00b"), "json", "text"))
    for response, location, name in cases:
        assert response.status_code == 422, response.json
        assert list(response.json["errors"]) == [location], response.json
        assert list(response.json["errors"][location]) == [name], response.json


def test_an_invalid_json_document_names_the_field_in_its_message(tenant):
    handbook = collection(tenant)
    response = tenant.call("POST", f"/api/v1/collections/{handbook}/documents",
                           json={"text": "Hello world"})

    assert response.status_code == 422
    assert response.json["message"] == "json.title: Missing data for required field."


def test_a_body_that_is_neither_multipart_nor_json_is_415(tenant):
    handbook = collection(tenant)
    response = tenant.call("POST", f"/api/v1/collections/{handbook}/documents",
                           data=b"raw", content_type="text/plain")
    assert response.status_code == 415


def test_a_pdf_without_text_fails_with_the_reason(tenant, kb):
    handbook = collection(tenant)
    blank = upload_file(tenant, handbook, "scan.pdf", make_pdf([[]]), "application/pdf")
    assert blank.status_code == 202
    kb.drain(tenant)
    found = document(tenant, handbook, blank.json["id"])
    assert found["status"] == "failed" and "no extractable text" in found["error"]


def test_deleting_a_document_or_a_collection_removes_its_chunks_and_vectors(tenant, kb):
    handbook, other = collection(tenant), collection(tenant, "other")
    kept = upload_text(tenant, other, "Kept", "Kept text about gardening.").json
    gone = upload_text(tenant, handbook, "Gone", MARKDOWN).json
    also_gone = upload_text(tenant, handbook, "Also gone", "Sailing in the fjords.").json
    kb.drain(tenant)
    chunk_ids = {c["id"] for c in kb.chunks(tenant)}
    assert kb.vector_ids(tenant) == chunk_ids

    deleted = tenant.call("DELETE", f"/api/v1/collections/{handbook}/documents/{gone['id']}")
    assert deleted.status_code == 204
    kb.drain(tenant)
    assert not kb.chunks(tenant, document_id=gone["id"])
    assert kb.vector_ids(tenant) == {c["id"] for c in kb.chunks(tenant)}
    assert tenant.call("GET", f"/api/v1/collections/{handbook}/documents/{gone['id']}"
                       ).status_code == 404

    assert tenant.call("DELETE", f"/api/v1/collections/{handbook}").status_code == 204
    kb.drain(tenant)
    remaining = kb.chunks(tenant)
    assert {c["document_id"] for c in remaining} == {kept["id"]}
    assert kb.vector_ids(tenant) == {c["id"] for c in remaining}
    assert also_gone["id"] not in {c["document_id"] for c in remaining}
    assert search(tenant, "fjords")["items"] == []


def test_a_pdf_whose_text_map_yields_half_a_utf16_pair_is_indexed(tenant, kb, monkeypatch):
    """A PDF's ToUnicode map may give a code unit of half a pair (pypdf hands it on as a lone
    surrogate), which has no UTF-8 form: its chunks could not be stored, and the document
    failed with the codec's error. It reads as U+FFFD, as NUL reads as a space."""
    import pypdf

    real = pypdf.PageObject.extract_text

    def with_half_a_pair(self, *args, **kwargs):
        return real(self, *args, **kwargs) + " tail \ud800 end"

    monkeypatch.setattr(pypdf.PageObject, "extract_text", with_half_a_pair)
    handbook = collection(tenant)
    pdf = upload_file(tenant, handbook, "odd.pdf", make_pdf([["Quarterly figures"]]),
                      "application/pdf")
    assert pdf.status_code == 202, pdf.json
    kb.drain(tenant)
    found = document(tenant, handbook, pdf.json["id"])
    assert found["status"] == "indexed" and found["error"] is None, found
    hits = search(tenant, "quarterly figures")["items"]
    assert hits and "tail \ufffd end" in hits[0]["passage"]


EDGE = 256 * 1024  # bytes: JSON-escaped at worst (6x), more than the 1 MiB request body limit


@pytest.fixture(scope="module")
def edge_limit(database, data_dir):
    """An app that takes documents of at most EDGE bytes."""
    return create_app(make_settings(data_dir, knowledge_max_document_bytes=EDGE), database.urls)


def test_a_document_at_the_limit_is_uploadable_as_json_however_it_escapes(edge_limit):
    """The JSON body limit was the document limit plus 64 KiB, but JSON spells one byte of
    text in up to six (a control character as \\u0001), so a document under the documented
    limit could not be uploaded as JSON; sent chunked, the request limit (1 MiB) refused it
    before the route's was read."""
    import io
    import json

    tenant = sign_up(edge_limit.test_client())
    handbook = collection(tenant)
    path = f"/api/v1/collections/{handbook}/documents"

    def body(text: str) -> bytes:
        return json.dumps({"title": "Edge", "text": text, "media_type": "text/plain"},
                          ensure_ascii=True).encode()

    worst = body("\x01" * EDGE)  # every byte of the document six bytes of JSON
    assert len(worst) > 6 * EDGE
    sent = tenant.call("POST", path, data=worst, content_type="application/json")
    assert sent.status_code == 202, sent.json
    assert sent.json["size"] == EDGE
    chunked = tenant.call("POST", path, input_stream=io.BytesIO(body("\x02" * EDGE)), headers={
        "Content-Type": "application/json", "Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True})
    assert chunked.status_code == 202, chunked.json
    over = tenant.call("POST", path, data=body("\x03" * (EDGE + 1)),
                       content_type="application/json")
    assert over.status_code == 413 and f"larger than {EDGE} bytes" in over.json["message"]
    listed = tenant.call("GET", path).json
    assert listed["total"] == 2

"""Hostile uploads: whatever a client sends as a document's body, title, file name or metadata
is a clear 4xx with nothing stored, never a 500."""

from __future__ import annotations

from io import BytesIO

from tests.knowledge.conftest import collection


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


def _upload(tenant, collection_id: str, filename: str, content: bytes, **form: str):
    data = {**form, "file": (BytesIO(content), filename, "text/plain")}
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

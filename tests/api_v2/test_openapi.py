"""One OpenAPI document per version, valid, with operation ids and problem errors; docs pages
for each, offline."""

from __future__ import annotations

import re

import pytest

DOCUMENTS = {"1": "/api/v1/openapi.json", "2": "/api/v2/openapi.json"}


@pytest.mark.parametrize("version", sorted(DOCUMENTS))
def test_each_versions_document_is_valid_openapi(client, version):
    from openapi_spec_validator import validate

    document = client.get(DOCUMENTS[version]).json
    validate(document)
    assert document["info"]["title"] == f"Codex-32 API v{version}"
    paths = list(document["paths"])
    assert paths and all(path.startswith(f"/api/v{version}/") or path.startswith("/health")
                         or path == "/metrics" for path in paths), paths


@pytest.mark.parametrize("version", sorted(DOCUMENTS))
def test_every_operation_has_a_unique_camel_case_id(client, version):
    document = client.get(DOCUMENTS[version]).json
    ids = [operation["operationId"] for item in document["paths"].values()
           for method, operation in item.items() if method != "parameters"]
    assert len(ids) == len(set(ids))
    assert all(re.fullmatch(r"[a-z][A-Za-z0-9]*", name) for name in ids), ids


def test_v2_documents_its_resources_lists_and_problems(client):
    document = client.get("/api/v2/openapi.json").json
    paths = document["paths"]
    for path in ("/api/v2/bots", "/api/v2/bots/{bot_id}", "/api/v2/bots/{bot_id}/versions",
                 "/api/v2/executions", "/api/v2/bots/{bot_id}/schedule",
                 "/api/v2/audit-logs", "/api/v2/members", "/api/v2/api-keys", "/api/v2/usage"):
        assert path in paths, path
    schemas = document["components"]["schemas"]
    assert set(schemas["BotList"]["properties"]) == {"data", "next_cursor"}
    assert schemas["Problem"]["required"] == ["detail", "instance", "status", "title", "type"]
    error = document["components"]["responses"]["NOT_FOUND"]["content"]
    assert list(error) == ["application/problem+json"]
    assert {tag["name"] for tag in document["tags"]} >= {"bots", "executions"}
    listed = paths["/api/v2/bots"]["get"]
    assert listed["operationId"] == "listBots" and listed["tags"] == ["bots"]
    names = {p["name"] for p in listed["parameters"]}
    assert {"cursor", "limit", "expand"} <= names
    assert "Idempotency-Key" in {p["name"] for p in
                                 paths["/api/v2/bots/{bot_id}/executions"]["post"]["parameters"]}


def test_the_old_document_url_still_serves_v1(client):
    assert client.get("/api/openapi.json").json == client.get("/api/v1/openapi.json").json


@pytest.mark.parametrize("prefix", ["/api/v1", "/api/v2"])
@pytest.mark.parametrize("page", ["docs", "redoc"])
def test_each_version_has_offline_docs_pages(client, prefix, page):
    response = client.get(f"{prefix}/{page}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    references = re.findall(r'(?:src|href)\s*=\s*"([^"]+)"', html)
    assert references
    for url in references:
        assert url.startswith("/") and not url.startswith("//"), url
        assert client.get(url).status_code == 200, url
    expected = "/api/v2/openapi.json" if prefix == "/api/v2" else "/api/openapi.json"
    assert expected in html

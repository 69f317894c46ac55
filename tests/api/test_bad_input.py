"""Bad request bodies on every endpoint that reads JSON: a clear 400, 415 or 422, never a 500.

The endpoints come from the OpenAPI document (every operation with a JSON request body), so
an endpoint is attacked the day it is added. Path parameters get fresh ids: the body is parsed
before any lookup, so the body alone decides the answer.
"""

from __future__ import annotations

import json
import re
import uuid

import pytest

PATH_VALUES = {"kind": "llm", "plugin_id": "builtin", "token": "no-such-invitation",
               "number": "1"}
HTTP_METHODS = {"get", "put", "post", "patch", "delete"}


def _json_operations(client) -> list[tuple[str, str, dict]]:
    """(METHOD, path with ids filled in, request body schema) of every JSON-reading operation."""
    spec = client.get("/api/openapi.json").json
    found = []
    for template, item in spec["paths"].items():
        for method, operation in item.items():
            if method not in HTTP_METHODS:
                continue  # e.g. the path's shared "parameters"
            content = (operation.get("requestBody") or {}).get("content") or {}
            if "application/json" not in content:
                continue
            path = re.sub(r"\{([^}]+)\}",
                          lambda m: PATH_VALUES.get(m.group(1), str(uuid.uuid4())), template)
            found.append((method.upper(), path, _resolve(spec, content["application/json"]
                                                         ["schema"])))
    return found


def _resolve(spec: dict, schema: dict) -> dict:
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def _string_property(schema: dict) -> str:
    """A property of the body that takes a string (the first one), or a made-up name."""
    for name, spec in (schema.get("properties") or {}).items():
        if spec.get("type") == "string" and not spec.get("format") and not spec.get("enum"):
            return name
    return "name"


@pytest.fixture()
def operations(client) -> list[tuple[str, str, dict]]:
    found = _json_operations(client)
    paths = {path.split("/api/v1/", 1)[-1].split("/", 1)[0] for _, path, _ in found}
    # The attacked set must include the unauthenticated endpoints too.
    assert {"auth", "workspaces", "bots", "invitations"} <= paths, paths
    assert len(found) >= 12
    return found


def _assert_json_error(response, status: int, what: str) -> dict:
    openai_shaped = response.request.path.startswith("/api/v1/openai/")
    if openai_shaped and status == 422:
        status = 400  # OpenAI's status for an invalid request
    assert response.status_code == status, (what, response.status_code, response.data[:300])
    body = response.get_json()
    assert body is not None, (what, response.data[:300])
    if openai_shaped:
        # OpenAI's shape there: read as the platform's (the field its param names first).
        assert set(body) == {"error"} and body["error"]["type"], (what, body)
        param = body["error"]["param"] or "body"
        body = {"message": body["error"]["message"],
                "errors": {"json": {param.split(".")[0]: [body["error"]["message"]]}}}
    else:
        assert body["code"] == status and body["status"], (what, body)
    assert body["message"] and "browser (or proxy)" not in body["message"], (what, body)
    return body


BAD_JSON = {
    "a lone high surrogate escape": b'{"name": "x\\ud800y"}',
    "a lone low surrogate escape": b'{"name": "\\udc00", "admin_password": "p"}',
    "an encoded surrogate (invalid UTF-8)": b'{"name": "\xed\xa0\x80"}',
    "invalid UTF-8": b'{"name": "\xff"}',
    "nesting 100,000 deep": b'{"name": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    "nesting 1,000 deep (within the parser's own limit)":
        b'{"name": "n", "x": ' + b"[" * 1000 + b"]" * 1000 + b"}",
    "a trailing comma": b'{"name": "n",}',
    "a truncated document": b'{"name": "n"',
}


@pytest.mark.parametrize("case", list(BAD_JSON))
def test_malformed_json_is_a_clear_400_on_every_endpoint(tenant, operations, case):
    for method, path, _ in operations:
        response = tenant.call(method, path, data=BAD_JSON[case],
                               headers={"Content-Type": "application/json"})
        body = _assert_json_error(response, 400, f"{case}: {method} {path}")
        assert body["message"].startswith(("malformed JSON", "JSON nested")), body
        assert body["errors"]["json"], body


def test_the_malformed_json_message_says_where(tenant):
    response = tenant.call("POST", "/api/v1/bots", data=b'{"name": "n",\n "code": }',
                           headers={"Content-Type": "application/json"})
    body = _assert_json_error(response, 400, "position")
    assert "line 2" in body["message"] and "column" in body["message"], body


def test_a_nul_character_in_a_string_is_422_on_every_endpoint(tenant, operations):
    for method, path, schema in operations:
        field = _string_property(schema)
        response = tenant.call(method, path, json={field: "before\x00after"})
        body = _assert_json_error(response, 422, f"{method} {path}")
        assert "NUL" in body["message"], (method, path, body)
        assert field in body["errors"]["json"], (method, path, body)


def test_a_nul_character_in_a_nested_key_names_its_path(tenant):
    response = tenant.call("POST", "/api/v1/bots", json={
        "name": "nested", "template": "http_health_check",
        "parameters": {"url": "http://127.0.0.1/", "deep": [{"k\x00": 1}]}})
    body = _assert_json_error(response, 422, "nested NUL")
    assert "parameters.deep.0" in body["errors"]["json"], body


def test_a_nul_in_a_name_or_description_stores_nothing(tenant):
    for field in ("name", "description"):
        body = {"name": "nul-bot", field: "a\x00b"} if field == "description" else \
            {"name": "nul\x00bot"}
        _assert_json_error(tenant.call("POST", "/api/v1/bots", json=body), 422, field)
    assert tenant.call("GET", "/api/v1/bots?q=nul").json["total"] == 0
    renamed = tenant.call("PATCH", "/api/v1/workspace", json={"name": "w\x00"})
    _assert_json_error(renamed, 422, "workspace name")


def test_a_nul_in_a_query_argument_is_422(tenant):
    response = tenant.call("GET", "/api/v1/bots?q=a%00b")
    body = _assert_json_error(response, 422, "query NUL")
    assert "q" in body["errors"]["query"], body


@pytest.mark.parametrize("path, name", [
    ("/api/v1/bots?status=active&status=paused", "status"),     # a filter narrowed in silence
    ("/api/v1/bots?page_size=1&page_size=50", "page_size"),
    ("/api/v2/bots?q=a&q=b", "q"),
    ("/api/v2/executions?limit=1&limit=2", "limit"),
    ("/api/v2/audit-logs?action=bot.create&action=bot.delete", "action"),
])
def test_a_query_argument_given_twice_is_422_never_half_read(tenant, path, name):
    # The second value was dropped: ?status=active&status=paused listed active bots only.
    response = tenant.call("GET", path)
    assert response.status_code == 422, (path, response.status_code)
    if path.startswith("/api/v1/"):
        assert name in response.json["errors"]["query"], response.json
    else:
        assert response.json["errors"][0]["pointer"] == f"/{name}", response.json
    assert tenant.call("GET", "/api/v2/bots?expand=latest_version").status_code == 200


@pytest.mark.parametrize("content_type", [None, "text/plain",
                                          "application/x-www-form-urlencoded"])
def test_a_body_without_the_json_content_type_is_415_on_every_endpoint(tenant, operations,
                                                                      content_type):
    headers = {"Content-Type": content_type} if content_type else {}
    for method, path, _ in operations:
        response = tenant.call(method, path, data=b'{"name": "n"}', headers=headers)
        body = _assert_json_error(response, 415, f"{content_type}: {method} {path}")
        assert "application/json" in body["message"], body


def test_an_execution_input_sent_without_a_content_type_is_refused_not_lost(tenant):
    bot = tenant.create_bot()
    response = tenant.call("POST", f"/api/v1/bots/{bot['id']}/executions",
                           data=b'{"input": {"order": 42}}')
    _assert_json_error(response, 415, "execution")
    assert tenant.call("GET", f"/api/v1/bots/{bot['id']}/executions").json["total"] == 0


def test_a_schedule_sent_as_text_is_415_not_missing_data(tenant):
    bot = tenant.create_bot()
    response = tenant.call("PUT", f"/api/v1/bots/{bot['id']}/schedule",
                           data=b'{"cron": "0 3 * * *"}', headers={"Content-Type": "text/plain"})
    body = _assert_json_error(response, 415, "schedule")
    assert "Missing data" not in str(body)


def test_json_with_a_charset_or_a_json_suffix_is_read(tenant):
    for content_type in ("application/json; charset=utf-8", "application/merge-patch+json"):
        response = tenant.call("POST", "/api/v1/bots", data=b'{"name": "typed-%d"}'
                               % len(content_type), headers={"Content-Type": content_type})
        assert response.status_code == 201, (content_type, response.json)


def test_an_empty_body_without_a_content_type_is_no_body(tenant):
    bot = tenant.create_bot()
    response = tenant.call("POST", f"/api/v1/bots/{bot['id']}/executions")
    assert response.status_code == 202, response.json


def test_a_lone_surrogate_in_an_otherwise_valid_body_is_400_and_stores_nothing(client, tenant):
    suffix = uuid.uuid4().hex[:8]
    bodies = [  # LONE marks where the escape of a lone surrogate goes
        (None, "/api/v1/workspaces", {"name": "Acme LONE", "slug": f"s-{suffix}",
                                      "admin_email": f"a-{suffix}@example.com",
                                      "admin_password": "a long passphrase"}),
        (None, "/api/v1/auth/token", {"email": tenant.email, "password": "LONE"}),
        (tenant, "/api/v1/bots", {"name": "surrogate-LONE"}),
    ]
    for caller, path, fields in bodies:
        raw = json.dumps(fields).replace("LONE", "\\ud800").encode()
        headers = {"Content-Type": "application/json", **(caller.headers if caller else {})}
        response = client.post(path, data=raw, headers=headers)
        body = _assert_json_error(response, 400, path)
        assert "surrogate" in body["message"], body
    assert tenant.call("GET", "/api/v1/bots?q=surrogate").json["total"] == 0
    assert client.post("/api/v1/auth/token", json={
        "email": f"a-{suffix}@example.com", "password": "a long passphrase"}).status_code == 401
    # The refused sign-up left no workspace behind: its slug is still free.
    assert client.post("/api/v1/workspaces", json={
        "name": "Acme", "slug": f"s-{suffix}", "admin_email": f"a-{suffix}@example.com",
        "admin_password": "a long passphrase"}).status_code == 202


def test_a_key_given_twice_is_422_on_every_endpoint(tenant, operations):
    # The last value won in silence (orjson, like json.loads).
    for method, path, schema in operations:
        field = _string_property(schema)
        raw = b'{"%s": "first", "%s": "second"}' % (field.encode(), field.encode())
        response = tenant.call(method, path, data=raw,
                               headers={"Content-Type": "application/json"})
        body = _assert_json_error(response, 422, f"{method} {path}")
        assert "given more than once" in body["message"], (method, path, body)
        assert field in body["errors"]["json"], (method, path, body)


def test_a_repeated_key_stores_nothing(tenant):
    response = tenant.call("POST", "/api/v1/bots", data=b'{"name": "twice-a", "name": "twice-b"}',
                           headers={"Content-Type": "application/json"})
    _assert_json_error(response, 422, "repeated name")
    assert tenant.call("GET", "/api/v1/bots?q=twice").json["total"] == 0

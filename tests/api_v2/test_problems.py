"""v2 errors are RFC 9457 problem details, for every class of error; v1 keeps its shape."""

from __future__ import annotations

import uuid

import pytest

from tests.conftest import sign_up

PROBLEM_KEYS = {"type", "title", "status", "detail", "instance", "request_id"}


def _problem(response, status: int, kind: str) -> dict:
    assert response.status_code == status, (response.status_code, response.get_data(True))
    assert response.mimetype == "application/problem+json"
    body = response.json
    assert set(body) >= PROBLEM_KEYS, body
    assert body["status"] == status and body["type"] == f"urn:codex32:problem:{kind}"
    assert body["instance"].startswith("/api/v2/") and body["detail"]
    return body


def test_401_without_credentials(client):
    response = client.get("/api/v2/bots")
    _problem(response, 401, "unauthenticated")
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_403_for_a_role_without_the_permission(tenant):
    viewer = tenant.add_member("viewer")
    response = tenant.client.post("/api/v2/bots", json={"name": "x"}, headers=viewer["headers"])
    _problem(response, 403, "forbidden")


def test_404_for_a_missing_bot_and_an_unknown_path(tenant):
    _problem(tenant.call("GET", f"/api/v2/bots/{uuid.uuid4()}"), 404, "not-found")
    _problem(tenant.call("GET", "/api/v2/no-such-thing"), 404, "not-found")


def test_405_for_a_wrong_method(tenant):
    _problem(tenant.call("PUT", "/api/v2/bots"), 405, "method-not-allowed")


def test_409_for_a_duplicate_name(tenant):
    tenant.create_bot("twin")
    _problem(tenant.call("POST", "/api/v2/bots", json={"name": "twin"}), 409, "conflict")


def test_400_for_malformed_json(tenant):
    response = tenant.call("POST", "/api/v2/bots", data=b"{not json",
                           content_type="application/json")
    _problem(response, 400, "malformed-request")


def test_422_for_a_key_given_twice(tenant):
    response = tenant.call("POST", "/api/v2/bots", data=b'{"name": "a", "name": "b"}',
                           content_type="application/json")
    body = _problem(response, 422, "invalid-input")
    assert "given more than once" in body["detail"], body


def test_415_for_a_body_that_is_not_json(tenant):
    response = tenant.call("POST", "/api/v2/bots", data=b"name=x",
                           content_type="application/x-www-form-urlencoded")
    _problem(response, 415, "unsupported-media-type")


def test_413_for_a_body_too_large(tenant, app):
    limit = app.config["MAX_CONTENT_LENGTH"]
    response = tenant.call("POST", "/api/v2/bots", data=b"x" * (limit + 1),
                           content_type="application/json")
    _problem(response, 413, "too-large")


def test_422_lists_each_invalid_field_with_a_pointer(tenant):
    response = tenant.call("POST", "/api/v2/bots", json={
        "name": "", "settings": {"memory_mb": 1}, "surprise": 1})
    body = _problem(response, 422, "invalid-input")
    found = {(entry["location"], entry["pointer"]) for entry in body["errors"]}
    assert {("json", "/name"), ("json", "/settings/memory_mb"), ("json", "/surprise")} <= found


def test_422_for_a_bad_query_argument(tenant):
    body = _problem(tenant.call("GET", "/api/v2/bots?limit=0"), 422, "invalid-input")
    assert body["errors"][0] == {"location": "query", "pointer": "/limit",
                                 "detail": body["errors"][0]["detail"]}
    body = _problem(tenant.call("GET", "/api/v2/bots?expand=owner"), 422, "invalid-input")
    assert body["errors"][0]["pointer"].startswith("/expand")


def test_429_keeps_retry_after(make_app):
    app = make_app(rate_limit_per_minute=2)
    tenant = sign_up(app.test_client())
    answers = [tenant.call("GET", "/api/v2/bots") for _ in range(4)]
    limited = answers[-1]
    _problem(limited, 429, "rate-limited")
    assert int(limited.headers["Retry-After"]) >= 1


def test_500_is_a_problem_and_says_nothing_inside(tenant, app, monkeypatch):
    from codex32.services import bots

    def broken(*args, **kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(bots, "get", broken)
    body = _problem(tenant.call("GET", f"/api/v2/bots/{uuid.uuid4()}"), 500, "internal-error")
    assert "secret" not in repr(body)


@pytest.mark.parametrize("path", ["/api/v1/bots",
                                  "/api/v1/bots/0b1f6f2e-9f43-4f63-9d43-2f5d4b0b7a11"])
def test_v1_errors_keep_their_shape(client, path):
    response = client.get(path)
    assert response.mimetype == "application/json"
    assert set(response.json) >= {"code", "status", "message"}

"""Bot secrets through the API: write-only values, encrypted at rest, names validated, sizes
bounded, changes audited by name only, permissions by role, bot secrets over workspace ones."""

from __future__ import annotations

import json
import logging

import pytest

from codex32.crypto import SecretBox
from codex32.services import bot_secrets

VALUE = "s3cr3t-VALUE-never-shown-0123456789"


def _put(tenant, path, value=VALUE, **kwargs):
    return tenant.call("PUT", path, json={"value": value}, **kwargs)


def test_a_secret_is_stored_encrypted_and_never_appears_in_a_response_or_log(
        tenant, superuser, caplog):
    caplog.set_level(logging.DEBUG)
    bot = tenant.create_bot()
    responses = [_put(tenant, "/api/v1/secrets/API_TOKEN"),
                 _put(tenant, "/api/v1/secrets/API_TOKEN", value=VALUE + "-2"),
                 _put(tenant, f"/api/v1/bots/{bot['id']}/secrets/API_TOKEN")]
    assert [r.status_code for r in responses] == [201, 200, 201]
    assert set(responses[0].json) == {"name", "scope", "bot_id", "updated_at"}
    assert responses[0].json["scope"] == "workspace" and responses[0].json["bot_id"] is None
    assert responses[2].json["scope"] == "bot" and responses[2].json["bot_id"] == bot["id"]
    responses += [tenant.call("GET", "/api/v1/secrets"),
                  tenant.call("GET", f"/api/v1/bots/{bot['id']}/secrets"),
                  tenant.call("GET", "/api/v1/audit-logs?page_size=100")]
    for response in responses:
        assert VALUE not in response.get_data(as_text=True)
    assert VALUE not in caplog.text
    stored = superuser.execute("SELECT value FROM bot_secrets WHERE workspace_id = %s",
                               (tenant.workspace_id,)).fetchall()
    assert len(stored) == 2 and all(VALUE not in token for (token,) in stored)
    box = SecretBox(["k" * 44])
    assert {box.open(token)["value"] for (token,) in stored} == {VALUE + "-2", VALUE}


def test_changes_are_audited_with_the_name_and_scope_only(tenant):
    bot = tenant.create_bot()
    _put(tenant, "/api/v1/secrets/WEATHER_TOKEN")
    _put(tenant, "/api/v1/secrets/WEATHER_TOKEN")  # the value it has: not audited
    _put(tenant, "/api/v1/secrets/WEATHER_TOKEN", VALUE + "-2")
    _put(tenant, f"/api/v1/bots/{bot['id']}/secrets/WEATHER_TOKEN")
    assert tenant.call("DELETE", "/api/v1/secrets/WEATHER_TOKEN").status_code == 204
    entries = tenant.call("GET", "/api/v1/audit-logs?resource_type=secret").json["items"]
    actions = sorted((e["action"], e["resource_id"]) for e in entries)
    assert actions == sorted([("secret.create", "WEATHER_TOKEN"),
                              ("secret.create", f"{bot['id']}/WEATHER_TOKEN"),
                              ("secret.delete", "WEATHER_TOKEN"),
                              ("secret.update", "WEATHER_TOKEN")])
    for entry in entries:
        assert entry["changes"]["name"] == "WEATHER_TOKEN"
        assert VALUE not in json.dumps(entry)


def test_a_bots_listing_shows_what_its_runs_get_its_own_secret_winning(tenant):
    bot = tenant.create_bot()
    other = tenant.create_bot()
    for name in ("SHARED", "API_TOKEN"):
        assert _put(tenant, f"/api/v1/secrets/{name}").status_code == 201
    assert _put(tenant, f"/api/v1/bots/{bot['id']}/secrets/API_TOKEN").status_code == 201
    listed = tenant.call("GET", f"/api/v1/bots/{bot['id']}/secrets").json
    assert [(s["name"], s["scope"]) for s in listed] == [("API_TOKEN", "bot"),
                                                          ("SHARED", "workspace")]
    others = tenant.call("GET", f"/api/v1/bots/{other['id']}/secrets").json
    assert [(s["name"], s["scope"]) for s in others] == [("API_TOKEN", "workspace"),
                                                          ("SHARED", "workspace")]
    workspace = tenant.call("GET", "/api/v1/secrets").json
    assert [(s["name"], s["scope"]) for s in workspace] == [("API_TOKEN", "workspace"),
                                                             ("SHARED", "workspace")]
    # Deleting the bot's own secret leaves the workspace's in force; a workspace name is not
    # the bot's to delete.
    assert tenant.call("DELETE", f"/api/v1/bots/{bot['id']}/secrets/API_TOKEN"
                       ).status_code == 204
    assert tenant.call("DELETE", f"/api/v1/bots/{bot['id']}/secrets/SHARED").status_code == 404
    listed = tenant.call("GET", f"/api/v1/bots/{bot['id']}/secrets").json
    assert [(s["name"], s["scope"]) for s in listed] == [("API_TOKEN", "workspace"),
                                                          ("SHARED", "workspace")]


@pytest.mark.parametrize("name", ["1TOKEN", "_" + "a" * 64, "A" * 65, "TOKEN-1", "TÖKEN",
                                  "TOKEN%00"])
def test_a_malformed_name_is_422_and_stores_nothing(tenant, name):
    response = _put(tenant, f"/api/v1/secrets/{name}")
    assert response.status_code == 422, response.json
    assert "name" in response.json["errors"]["path"]
    assert tenant.call("GET", "/api/v1/secrets").json == []


@pytest.mark.parametrize(("body", "status"), [
    ({"value": "x" * (bot_secrets.MAX_VALUE_BYTES + 1)}, 413),
    ({"value": "é" * (bot_secrets.MAX_VALUE_BYTES // 2 + 1)}, 413),
    ({"value": ""}, 422),
    ({}, 422),
    ({"value": 42}, 422),
    ({"value": "x", "scope": "bot"}, 422),
])
def test_a_bad_value_is_refused_and_stores_nothing(tenant, body, status):
    response = tenant.call("PUT", "/api/v1/secrets/TOKEN", json=body)
    assert response.status_code == status, response.json
    assert tenant.call("GET", "/api/v1/secrets").json == []
    assert tenant.call("GET", "/api/v1/audit-logs?resource_type=secret").json["total"] == 0


def test_a_value_of_the_largest_size_is_accepted(tenant):
    assert _put(tenant, "/api/v1/secrets/BIG",
                value="x" * bot_secrets.MAX_VALUE_BYTES).status_code == 201


def test_a_scope_holds_a_bounded_number_of_secrets(tenant, monkeypatch):
    monkeypatch.setattr(bot_secrets, "MAX_PER_SCOPE", 2)
    bot = tenant.create_bot()
    for name in ("ONE", "TWO"):
        assert _put(tenant, f"/api/v1/secrets/{name}").status_code == 201
    refused = _put(tenant, "/api/v1/secrets/THREE")
    assert refused.status_code == 422 and "at most 2" in refused.json["message"]
    assert _put(tenant, "/api/v1/secrets/TWO").status_code == 200  # replacing is fine
    assert _put(tenant, f"/api/v1/bots/{bot['id']}/secrets/THREE").status_code == 201


def test_deleting_a_missing_secret_or_of_a_missing_bot_is_404(tenant):
    bot = tenant.create_bot()
    assert tenant.call("DELETE", "/api/v1/secrets/NOPE").status_code == 404
    assert tenant.call("DELETE", f"/api/v1/bots/{bot['id']}/secrets/NOPE").status_code == 404
    missing = "00000000-0000-0000-0000-000000000000"
    assert _put(tenant, f"/api/v1/bots/{missing}/secrets/NOPE").status_code == 404
    assert tenant.call("GET", f"/api/v1/bots/{missing}/secrets").status_code == 404


def test_a_bots_secrets_go_with_the_bot(tenant, superuser):
    bot = tenant.create_bot()
    _put(tenant, f"/api/v1/bots/{bot['id']}/secrets/API_TOKEN")
    assert tenant.call("DELETE", f"/api/v1/bots/{bot['id']}").status_code == 204
    left = superuser.execute("SELECT count(*) FROM bot_secrets WHERE bot_id = %s",
                             (bot["id"],)).fetchone()[0]
    assert left == 0


@pytest.mark.parametrize(("role", "workspace_read", "workspace_write", "bot_write"), [
    ("admin", 200, 201, 201),
    ("user", 200, 403, 201),
    ("viewer", 403, 403, 403),
    ("api_user", 403, 403, 403),
])
def test_roles_decide_who_reads_names_and_who_sets_values(tenant, role, workspace_read,
                                                          workspace_write, bot_write):
    bot = tenant.create_bot()
    if role == "admin":
        headers = tenant.headers
    elif role == "api_user":
        headers = {"X-API-Key": tenant.api_key("api_user")}
    else:
        headers = tenant.add_member(role)["headers"]

    def call(method, path, **kwargs):
        return tenant.client.open(path, method=method, headers=headers, **kwargs)

    assert call("GET", "/api/v1/secrets").status_code == workspace_read
    assert call("PUT", "/api/v1/secrets/TOKEN", json={"value": VALUE}).status_code == \
        workspace_write
    assert call("PUT", f"/api/v1/bots/{bot['id']}/secrets/TOKEN",
                json={"value": VALUE}).status_code == bot_write
    assert call("GET", f"/api/v1/bots/{bot['id']}/secrets").status_code == \
        (200 if bot_write == 201 else 403)
    assert call("DELETE", f"/api/v1/bots/{bot['id']}/secrets/TOKEN").status_code == \
        (204 if bot_write == 201 else 403)


def test_a_template_that_asks_for_a_secret_gets_it_under_the_name_it_accepts(tenant):
    # The webhook_relay and scheduled_cleanup templates accept lower-case secret names.
    bot = tenant.create_bot()
    assert _put(tenant, f"/api/v1/bots/{bot['id']}/secrets/webhook_key").status_code == 201
    assert _put(tenant, f"/api/v1/bots/{bot['id']}/secrets/WEBHOOK_KEY").status_code == 201
    names = [s["name"] for s in tenant.call("GET", f"/api/v1/bots/{bot['id']}/secrets").json]
    assert names == ["WEBHOOK_KEY", "webhook_key"]

"""Attacks on tenant isolation: other workspaces' ids on every endpoint, headers, keys, SQL.

The endpoint attack is parametrized over the app's URL map, so a new endpoint with a path
parameter is attacked the day it is added (and fails here until it has an attack body).
"""

from __future__ import annotations

import re
import uuid

import psycopg
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError

from codex32.db.models import TENANT_TABLES
from tests.conftest import sign_up

# A valid body per endpoint, so the request reaches the service and the lookup itself is
# what answers.
ATTACK_BODIES: dict[str, dict] = {
    "bots.update_bot": {"name": "hijacked"},
    "versions.create_version": {"code": "def main(event, context):\n    return 'pwned'\n"},
    "versions.rollback": {"version": 1},
    "members.change_role": {"role": "viewer"},
    "executions.create_execution": {"input": {"steal": True}},
    "executions.cancel_execution": {},
    "schedules.put_schedule": {"cron": "* * * * *", "timezone": "UTC", "enabled": True},
    "secrets.put_bot_secret": {"value": "pwned"},
    "builder.add_message": {"content": "hijack"},
    "builder.generate": {},
    "builder.accept": {},
    "collections.update_collection": {"name": "hijacked"},
    "collections.upload_document": {"title": "planted", "text": "planted text"},
    "collections.ask": {"question": "what are B's plans?"},
    "suggestions.ask_for_suggestions": {},
}
# API v2 calls the same services with the same bodies (tests/isolation/test_v2_isolation.py).
ATTACK_BODIES.update({f"v2_{endpoint}": body for endpoint, body in ATTACK_BODIES.items()
                      if endpoint.split(".")[0] in ("bots", "versions", "members", "executions",
                                                    "schedules")})
# Endpoints whose path parameter is not a workspace resource id.
NOT_TENANT_SCOPED = {
    "members.accept": "an invitation token is its own credential",
    "plugins.put_provider": "kind and id name installed plugins; tests/api/test_providers.py "
                            "proves one workspace's configuration never reaches another",
    "plugins.delete_provider": "as above",
    "plugins.test_provider": "as above",
    "secrets.put_secret": "the name is looked up in the caller's own workspace; "
                          "test_a_workspace_secret_name_never_reaches_another_workspace",
    "secrets.delete_secret": "as above",
    "oidc.authorize": "public sign-in: the workspace is a query argument, and "
                      "tests/oidc/test_sign_in.py proves A's provider never signs into B",
    "oidc.callback": "the state names its own workspace; an altered one finds nothing "
                     "(test_a_state_altered_to_name_another_workspace_finds_nothing)",
    "oidc.callback_form_post": "as above",
    "oidc.put_provider": "the id is looked up in the caller's own workspace; "
                         "test_workspace_as_provider_cannot_sign_into_workspace_b",
    "oidc.delete_provider": "as above",
    "docs_swagger_ui_asset": "the API docs' script and style files (codex32.api.docs)",
    "docs_redoc_asset": "as above",
}


def _rules(app):
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/") or not rule.arguments:
            continue
        if rule.endpoint in NOT_TENANT_SCOPED:
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield rule, method


@pytest.fixture()
def victim(client, database):
    """Workspace B with a bot (two versions, a schedule, a queued execution), an API key and a
    second member."""
    tenant = sign_up(client)
    bot = tenant.create_bot("crown-jewels", description="B's secret bot")
    tenant.call("POST", f"/api/v1/bots/{bot['id']}/versions",
                json={"code": "def main(event, context):\n    return 2\n"})
    key = tenant.call("POST", "/api/v1/api-keys", json={"name": "b-key", "role": "user"}).json
    member = tenant.add_member("user")
    invitation = tenant.call("POST", "/api/v1/invitations",
                             json={"email": "b-invitee@example.com", "role": "admin"}).json
    execution = tenant.call("POST", f"/api/v1/bots/{bot['id']}/executions",
                            json={"input": {"secret": "b"}}).json
    tenant.call("PUT", f"/api/v1/bots/{bot['id']}/schedule", json={"cron": "0 3 * * *"})
    for path in ("/api/v1/secrets/API_TOKEN", f"/api/v1/bots/{bot['id']}/secrets/API_TOKEN"):
        assert tenant.call("PUT", path, json={"value": "b-secret-value"}).status_code == 201
    collection = tenant.call("POST", "/api/v1/collections", json={"name": "b-docs"}).json
    document = tenant.call("POST", f"/api/v1/collections/{collection['id']}/documents",
                           json={"title": "B's plans", "text": "B's secret plans"}).json
    conversation = tenant.call("POST", "/api/v1/builder/conversations",
                               json={"message": "Check https://example.com hourly"}).json
    aliased = tenant.call("PATCH", "/api/v1/workspace", json={
        "settings": {"llm": {"aliases": {"b-private-alias": ["builtin"]}}}})
    assert aliased.status_code == 200, aliased.json
    tenant.extra.update(bot=bot, key=key, member=member, invitation=invitation,
                        execution=execution, conversation=conversation, collection=collection,
                        document=document, dsn=database.superuser_dsn)
    return tenant


def _fill(rule, victim) -> str:
    values = {"bot_id": victim.extra["bot"]["id"], "key_id": victim.extra["key"]["id"],
              "user_id": victim.extra["member"]["user_id"], "number": 1,
              "execution_id": victim.extra["execution"]["id"], "kind": "llm",
              "plugin_id": "builtin", "name": "API_TOKEN",
              "conversation_id": victim.extra["conversation"]["conversation_id"],
              "collection_id": victim.extra["collection"]["id"],
              "document_id": victim.extra["document"]["id"],
              "invitation_id": victim.extra["invitation"]["id"],
              "model": "b-private-alias"}
    missing = rule.arguments - set(values)
    assert not missing, f"teach the isolation suite about {missing} in {rule.rule}"
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", lambda m: str(values[m.group(1)]), rule.rule)


def test_every_endpoint_hides_another_workspaces_resources(app, client, victim):
    attacker = sign_up(client)
    attacked = []
    for rule, method in _rules(app):
        url = _fill(rule, victim)
        body = ATTACK_BODIES.get(rule.endpoint) if method in ("POST", "PATCH", "PUT") else None
        if method in ("POST", "PATCH", "PUT"):
            assert body is not None, f"add an attack body for {rule.endpoint}"
        response = attacker.call(method, url, json=body)
        assert response.status_code == 404, (method, url, response.status_code, response.json)
        if "error" in response.json:  # the OpenAI-compatible endpoint speaks OpenAI's shape
            assert response.json["error"]["code"] == "model_not_found", response.json
        else:
            assert response.json.get("code", response.json.get("status")) == 404  # v1 | v2
        attacked.append(f"{method} {rule.rule}")
    assert len(attacked) >= 10
    # B's data is untouched.
    bot = victim.call("GET", f"/api/v1/bots/{victim.extra['bot']['id']}").json
    assert bot["name"] == "crown-jewels" and bot["current_version"] == 2
    assert victim.client.get("/api/v1/bots",
                             headers={"X-API-Key": victim.extra["key"]["key"]}).status_code == 200
    roles = {m["user_id"]: m["role"] for m in victim.call("GET", "/api/v1/members").json}
    assert roles[victim.extra["member"]["user_id"]] == "user"
    invited = victim.call("GET", "/api/v1/invitations").json
    assert [i["id"] for i in invited] == [victim.extra["invitation"]["id"]]
    execution = victim.call("GET", f"/api/v1/executions/{victim.extra['execution']['id']}").json
    assert execution["status"] == "queued" and not execution["cancel_requested"]
    schedule = victim.call("GET", f"/api/v1/bots/{victim.extra['bot']['id']}/schedule").json
    assert schedule["cron"] == "0 3 * * *"
    documents = victim.call(
        "GET", f"/api/v1/collections/{victim.extra['collection']['id']}/documents").json
    assert [d["title"] for d in documents["items"]] == ["B's plans"]
    secrets = victim.call("GET", f"/api/v1/bots/{victim.extra['bot']['id']}/secrets").json
    assert [(s["name"], s["scope"]) for s in secrets] == [("API_TOKEN", "bot")]
    assert _secret_values(victim) == {"b-secret-value"}
    conversation = victim.call("GET", "/api/v1/builder/conversations/"
                               f"{victim.extra['conversation']['conversation_id']}").json
    assert conversation["turns"][-1]["role"] == "assistant" and conversation["step"] is None


def _secret_values(tenant) -> set[str]:
    """The plain values of a workspace's bot secrets, read as the superuser."""
    from codex32.crypto import SecretBox

    with psycopg.connect(tenant.extra["dsn"]) as conn:
        tokens = conn.execute("SELECT value FROM bot_secrets WHERE workspace_id = %s",
                              (tenant.workspace_id,)).fetchall()
    return {SecretBox(["k" * 44]).open(token)["value"] for (token,) in tokens}


def test_a_workspace_secret_name_never_reaches_another_workspace(client, victim):
    attacker = sign_up(client)
    assert attacker.call("GET", "/api/v1/secrets").json == []
    assert attacker.call("DELETE", "/api/v1/secrets/API_TOKEN").status_code == 404
    # The same name is the attacker's own new secret, not an overwrite of B's.
    made = attacker.call("PUT", "/api/v1/secrets/API_TOKEN", json={"value": "a-value"})
    assert made.status_code == 201, made.json
    assert attacker.call("DELETE", "/api/v1/secrets/API_TOKEN").status_code == 204
    assert [s["name"] for s in victim.call("GET", "/api/v1/secrets").json] == ["API_TOKEN"]
    assert _secret_values(victim) == {"b-secret-value"}


def test_another_workspaces_id_answers_like_a_missing_one(client, victim):
    attacker = sign_up(client)
    foreign = attacker.call("GET", f"/api/v1/bots/{victim.extra['bot']['id']}")
    missing = attacker.call("GET", f"/api/v1/bots/{uuid.uuid4()}")
    assert foreign.status_code == missing.status_code == 404
    assert foreign.json == missing.json


def test_lists_never_include_another_workspaces_rows(client, victim):
    attacker = sign_up(client)
    attacker.create_bot("mine")
    for path in ("/api/v1/bots", "/api/v1/audit-logs", "/api/v1/executions"):
        items = attacker.call("GET", f"{path}?page_size=100").json["items"]
        blob = repr(items)
        assert victim.extra["bot"]["id"] not in blob and "crown-jewels" not in blob, path
    assert victim.email not in repr(attacker.call("GET", "/api/v1/members").json)
    assert "b-key" not in repr(attacker.call("GET", "/api/v1/api-keys").json)
    assert attacker.call("GET", "/api/v1/bots?q=crown").json["total"] == 0
    assert victim.extra["execution"]["id"] not in repr(
        attacker.call("GET", "/api/v1/executions?page_size=100").json)


@pytest.mark.parametrize("header", ["X-Workspace", "X-Workspace-Id", "X-Tenant-Id"])
def test_a_header_naming_another_workspace_changes_nothing(client, victim, header):
    attacker = sign_up(client)
    for value in (victim.workspace_id, victim.slug):
        response = attacker.call("GET", "/api/v1/bots", headers={header: value})
        assert response.status_code == 200
        assert response.json["total"] == 0
        me = attacker.call("GET", "/api/v1/auth/me", headers={header: value}).json
        assert me["workspace"]["id"] == attacker.workspace_id


def test_api_key_of_one_workspace_sees_only_its_own(client, victim):
    attacker = sign_up(client)
    key = attacker.api_key("user")
    headers = {"X-API-Key": key, "X-Workspace": victim.workspace_id}
    assert client.get(f"/api/v1/bots/{victim.extra['bot']['id']}",
                      headers=headers).status_code == 404
    assert client.get("/api/v1/bots", headers=headers).json["total"] == 0


def test_token_with_another_workspace_claim_but_no_membership_is_401(client, victim, app):
    from flask_jwt_extended import create_access_token

    attacker = sign_up(client)
    with app.app_context():
        # Signed with the real key: as if the signing key leaked into a membership check bug.
        forged = create_access_token(identity=attacker.user_id, additional_claims={
            "ws": victim.workspace_id, "fam": uuid.uuid4().hex})
    response = client.get("/api/v1/bots", headers={"Authorization": f"Bearer {forged}"})
    assert response.status_code == 401


def test_after_a_request_the_thread_carries_no_workspace(app, client, victim):
    from codex32.db import db, tenancy

    assert victim.call("GET", "/api/v1/bots").json["total"] == 1
    assert tenancy.current_workspace() is None
    with app.app_context():
        count = db.session.execute(text("SELECT count(*) FROM bots")).scalar()
    assert count == 0


def test_pooled_connection_without_a_workspace_sees_nothing_and_writes_nothing(database,
                                                                                victim):
    engine = create_engine(database.urls.runtime)
    with engine.connect() as connection:
        for table in TENANT_TABLES:
            assert connection.execute(text(f"SELECT count(*) FROM {table}")).scalar() == 0, table
        with pytest.raises(DBAPIError, match="row-level security"):
            connection.execute(text(
                "INSERT INTO bots (workspace_id, name) VALUES (:w, 'sneaky')"),
                {"w": victim.workspace_id})
        connection.rollback()
    engine.dispose()


def test_set_config_is_transaction_local(database, victim):
    engine = create_engine(database.urls.runtime, pool_size=1, max_overflow=0)
    with engine.connect() as connection:
        connection.execute(text("SELECT set_config('app.workspace_id', :w, true)"),
                           {"w": victim.workspace_id})
        assert connection.execute(text("SELECT count(*) FROM bots")).scalar() == 1
        connection.commit()
    with engine.connect() as connection:  # the same pooled connection
        assert connection.execute(text("SELECT count(*) FROM bots")).scalar() == 0
    engine.dispose()


def test_bound_to_one_workspace_cannot_write_into_another(database, client, victim):
    attacker = sign_up(client)
    engine = create_engine(database.urls.runtime)
    with engine.connect() as connection:
        connection.execute(text("SELECT set_config('app.workspace_id', :w, true)"),
                           {"w": attacker.workspace_id})
        with pytest.raises(DBAPIError, match="row-level security"):
            connection.execute(text(
                "INSERT INTO bots (workspace_id, name) VALUES (:w, 'planted')"),
                {"w": victim.workspace_id})
        connection.rollback()
        connection.execute(text("SELECT set_config('app.workspace_id', :w, true)"),
                           {"w": attacker.workspace_id})
        updated = connection.execute(text("UPDATE bots SET name = 'renamed' WHERE id = :b"),
                                     {"b": victim.extra["bot"]["id"]}).rowcount
        assert updated == 0
        connection.rollback()
    engine.dispose()


def test_composite_foreign_key_refuses_a_reference_into_another_workspace(database, client,
                                                                          victim):
    attacker = sign_up(client)
    engine = create_engine(database.urls.runtime)
    with engine.connect() as connection:
        connection.execute(text("SELECT set_config('app.workspace_id', :w, true)"),
                           {"w": attacker.workspace_id})
        with pytest.raises(DBAPIError, match="foreign key"):
            connection.execute(text(
                "INSERT INTO bot_versions (workspace_id, bot_id, number, code) "
                "VALUES (:w, :b, 99, 'x = 1')"),
                {"w": attacker.workspace_id, "b": victim.extra["bot"]["id"]})
        connection.rollback()
    engine.dispose()


def test_security_definer_functions_are_not_callable_by_public(database, superuser):
    superuser.execute("DROP ROLE IF EXISTS codex32_probe")
    superuser.execute("CREATE ROLE codex32_probe LOGIN PASSWORD 'probe-password'")
    try:
        dsn = psycopg.conninfo.make_conninfo(database.superuser_dsn, user="codex32_probe",
                                             password="probe-password")
        with psycopg.connect(dsn) as probe, pytest.raises(psycopg.errors.InsufficientPrivilege):
            probe.execute("SELECT * FROM auth_api_key('x')")
    finally:
        superuser.execute(f"REVOKE ALL ON DATABASE {database.name} FROM codex32_probe")
        superuser.execute("DROP ROLE codex32_probe")

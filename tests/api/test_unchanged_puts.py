"""A PUT whose result equals what is stored answers it as it is and writes nothing: no audit
row, no ``updated_at``, no provider version or generation (so no rebuild of its cached
instances). A PUT that changes something writes one audit row listing only what changed;
creating with PUT is a change. Secrets are compared decrypted and never audited."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.graphql.conftest import data_of, gql

CODE = "def main(event, context):\n    return {'ok': True}\n"
SECRET = "sk-test-same-secret-0123456789"


def _audit(tenant, action: str, resource_id: str) -> list[dict[str, Any]]:
    response = tenant.call("GET", "/api/v1/audit-logs", query_string={
        "action": action, "resource_id": resource_id, "page_size": 100})
    assert response.status_code == 200, response.json
    return response.json["items"]


SCHEDULE = {"cron": "*/15 * * * *", "timezone": "Europe/Paris", "input": {"city": "Paris"}}


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_a_schedule_put_with_its_values_writes_no_audit_row_nor_updated_at(tenant, version):
    bot = tenant.create_bot("scheduled", code=CODE)
    path = f"/api/{version}/bots/{bot['id']}/schedule"
    created = tenant.call("PUT", path, json=SCHEDULE)
    assert created.status_code == 200, created.json
    assert len(_audit(tenant, "schedule.update", bot["id"])) == 1  # creating is a change
    same = tenant.call("PUT", path, json={**SCHEDULE, "enabled": True})
    assert same.status_code == 200, same.json
    assert same.json == created.json  # updated_at and next_run_at too
    assert len(_audit(tenant, "schedule.update", bot["id"])) == 1

    changed = tenant.call("PUT", path, json={**SCHEDULE, "input": {"town": "Lyon"}})
    assert changed.status_code == 200 and changed.json["updated_at"] > created.json[
        "updated_at"]
    assert changed.json["next_run_at"] == created.json["next_run_at"]
    assert _audit(tenant, "schedule.update", bot["id"])[0]["changes"] == {
        "input_keys": {"before": ["city"], "after": ["town"]}}
    tenant.call("PUT", path, json={**SCHEDULE, "input": {"town": "Lyon"}, "enabled": False})
    assert _audit(tenant, "schedule.update", bot["id"])[0]["changes"] == {
        "enabled": {"before": True, "after": False}}
    assert len(_audit(tenant, "schedule.update", bot["id"])) == 3


def test_a_schedule_put_through_graphql_with_its_values_writes_nothing(tenant, client):
    bot = tenant.create_bot("scheduled", code=CODE)
    put = ("mutation($bot: UUID!, $input: ScheduleInput!) { putSchedule(botId: $bot, "
           "input: $input) { cron updatedAt } }")
    first = data_of(gql(client, tenant.headers, put, {"bot": bot["id"], "input": SCHEDULE}))
    again = data_of(gql(client, tenant.headers, put, {"bot": bot["id"], "input": SCHEDULE}))
    assert again == first
    data_of(gql(client, tenant.headers, put, {"bot": bot["id"], "input": {
        **SCHEDULE, "cron": "0 * * * *"}}))
    assert [e["changes"] for e in _audit(tenant, "schedule.update", bot["id"])][:1] == [
        {"cron": {"before": "*/15 * * * *", "after": "0 * * * *"}}]
    assert len(_audit(tenant, "schedule.update", bot["id"])) == 2


@pytest.mark.parametrize("scope", ["workspace", "bot"])
def test_a_secret_put_with_its_value_is_not_reencrypted_nor_audited(tenant, superuser, scope):
    bot = tenant.create_bot("secretive", code=CODE)
    path = "/api/v1/secrets/TOKEN" if scope == "workspace" else (
        f"/api/v1/bots/{bot['id']}/secrets/TOKEN")
    resource = "TOKEN" if scope == "workspace" else f"{bot['id']}/TOKEN"
    created = tenant.call("PUT", path, json={"value": SECRET})
    assert created.status_code == 201, created.json
    stored = superuser.execute("SELECT value FROM bot_secrets WHERE workspace_id = %s",
                               (tenant.workspace_id,)).fetchone()[0]
    same = tenant.call("PUT", path, json={"value": SECRET})
    assert same.status_code == 200 and same.json == created.json
    assert superuser.execute("SELECT value FROM bot_secrets WHERE workspace_id = %s",
                             (tenant.workspace_id,)).fetchone()[0] == stored
    assert _audit(tenant, "secret.update", resource) == []
    changed = tenant.call("PUT", path, json={"value": SECRET + "-2"})
    assert changed.status_code == 200 and changed.json["updated_at"] > created.json[
        "updated_at"]
    [entry] = _audit(tenant, "secret.update", resource)
    assert SECRET not in json.dumps(entry) and entry["changes"]["name"] == "TOKEN"


OPENAI = {"config": {"base_url": "http://127.0.0.1:9/v1", "model": "gpt-test", "timeout": 5},
          "secrets": {"api_key": SECRET}}


def _generation(superuser, tenant) -> Any:
    return superuser.execute("SELECT generation FROM provider_configs WHERE workspace_id = %s",
                             (tenant.workspace_id,)).fetchone()[0]


def test_a_provider_put_with_its_config_and_secrets_keeps_its_version_and_generation(
        tenant, superuser):
    path = "/api/v1/providers/llm/openai"
    created = tenant.call("PUT", path, json=OPENAI)
    assert created.status_code == 200, created.json
    generation = _generation(superuser, tenant)
    for body in (OPENAI, {"config": OPENAI["config"]}, {**OPENAI, "secrets": {}}):
        same = tenant.call("PUT", path, json=body)
        assert same.status_code == 200, same.json
        assert same.json == created.json  # version 1, updated_at
    assert _generation(superuser, tenant) == generation
    assert len(_audit(tenant, "provider.update", "llm/openai")) == 1  # the creation

    renamed = tenant.call("PUT", path, json={**OPENAI, "config": {
        **OPENAI["config"], "model": "gpt-2"}})
    assert renamed.json["version"] == 2 and _generation(superuser, tenant) != generation
    assert _audit(tenant, "provider.update", "llm/openai")[0]["changes"] == {
        "config": {"before": OPENAI["config"], "after": {**OPENAI["config"], "model": "gpt-2"}},
        "version": 2}
    rekeyed = tenant.call("PUT", path, json={"config": renamed.json["config"],
                                             "secrets": {"api_key": SECRET + "-2"}})
    assert rekeyed.json["version"] == 3
    newest = _audit(tenant, "provider.update", "llm/openai")[0]
    assert newest["changes"] == {"secrets_set": "[redacted]",  # redacted by name, as before
                                 "secrets_changed": "[redacted]", "version": 3}
    assert SECRET not in json.dumps(newest)


def test_an_oidc_provider_put_with_its_values_and_secret_writes_nothing(tenant):
    path = "/api/v1/oidc-providers/corp"
    body = {"discovery_url": "https://idp.example", "client_id": "c1",
            "client_secret": SECRET}
    created = tenant.call("PUT", path, json=body)
    assert created.status_code == 201, created.json
    for given in (body, {key: value for key, value in body.items() if key != "client_secret"}):
        same = tenant.call("PUT", path, json=given)
        assert same.status_code == 200 and same.json == created.json
    assert _audit(tenant, "oidc_provider.update", "corp") == []
    changed = tenant.call("PUT", path, json={**body, "client_id": "c2"})
    assert changed.status_code == 200 and changed.json["updated_at"] > created.json[
        "updated_at"]
    assert [e["changes"] for e in _audit(tenant, "oidc_provider.update", "corp")] == [
        {"client_id": {"before": "c1", "after": "c2"}}]
    tenant.call("PUT", path, json={**body, "client_id": "c2", "client_secret": "other"})
    newest = _audit(tenant, "oidc_provider.update", "corp")[0]
    assert set(newest["changes"]) == {"client_secret_changed"}
    assert SECRET not in json.dumps(newest) and "other" not in json.dumps(newest)


def test_budgets_put_with_the_same_set_writes_no_audit_row(tenant):
    budgets = [{"scope": "workspace", "period": "day", "soft_limit_usd": "1.5",
                "hard_limit_usd": "2"},
               {"scope": "workspace", "period": "month", "hard_limit_usd": "30"}]
    first = tenant.call("PUT", "/api/v1/budgets", json={"budgets": budgets})
    assert first.status_code == 200, first.json
    assert len(_audit(tenant, "llm_budgets.replace", "budgets")) == 1
    same = tenant.call("PUT", "/api/v1/budgets", json={"budgets": [
        {**budgets[1], "hard_limit_usd": "30.00"}, budgets[0]]})
    assert same.status_code == 200 and same.json == first.json
    assert len(_audit(tenant, "llm_budgets.replace", "budgets")) == 1

    tenant.call("PUT", "/api/v1/budgets", json={"budgets": [
        {**budgets[0], "hard_limit_usd": "3"}]})
    entries = _audit(tenant, "llm_budgets.replace", "budgets")
    assert len(entries) == 2 and entries[0]["changes"] == {
        "changed": [{"scope": "workspace", "scope_id": None, "period": "day",
                     "hard_limit_usd": {"before": "2", "after": "3"}}],
        "removed": [{"scope": "workspace", "scope_id": None, "period": "month"}]}

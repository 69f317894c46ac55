"""A PATCH that changes nothing (an empty body, or the values the resource has) answers the
resource as it is and writes nothing: no audit row, no ``updated_at``, no bot version. A PATCH
that changes something writes one audit row listing only what changed. Bots, the workspace
and members, through REST v1, v2 and GraphQL (collections: tests/knowledge)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.graphql.conftest import data_of, gql

CODE = "def main(event, context):\n    return {'ok': True}\n"
NEW_CODE = CODE.replace("True", "False")


def _audit(tenant, action: str, resource_id: str) -> list[dict[str, Any]]:
    response = tenant.call("GET", "/api/v1/audit-logs", query_string={
        "action": action, "resource_id": resource_id, "page_size": 100})
    assert response.status_code == 200, response.json
    return response.json["items"]


def _bot(tenant) -> dict[str, Any]:
    return tenant.create_bot("same-bot", code=CODE, description="kept",
                             settings={"timeout_seconds": 30})


BOT_EQUAL = {"name": "same-bot", "description": "kept", "status": "draft", "code": CODE,
             "message": "a message alone is no change",
             "settings": {"timeout_seconds": 30, "memory_mb": None}}


@pytest.mark.parametrize("version", ["v1", "v2"])
@pytest.mark.parametrize("body", [{}, BOT_EQUAL], ids=["empty", "equal"])
def test_a_bot_patch_that_changes_nothing_writes_no_audit_row_and_no_version(
        tenant, version, body):
    bot = _bot(tenant)
    path = f"/api/{version}/bots/{bot['id']}"
    before = tenant.call("GET", path).json
    response = tenant.call("PATCH", path, json=body)
    assert response.status_code == 200, response.json
    assert response.json == before  # updated_at and current_version too
    assert _audit(tenant, "bot.update", bot["id"]) == []
    versions = tenant.call("GET", f"/api/v1/bots/{bot['id']}/versions").json["items"]
    assert [v["number"] for v in versions] == [1]

    changed = tenant.call("PATCH", path, json={**body, "description": "new"})
    assert changed.status_code == 200, changed.json
    assert changed.json["current_version"] == 1 and changed.json["updated_at"] > before[
        "updated_at"]
    assert [e["changes"] for e in _audit(tenant, "bot.update", bot["id"])] == [
        {"description": {"before": "kept", "after": "new"}}]
    recoded = tenant.call("PATCH", path, json={"code": NEW_CODE, "status": "draft"})
    assert recoded.json["current_version"] == 2
    newest = _audit(tenant, "bot.update", bot["id"])[0]["changes"]
    assert set(newest) == {"version", "code_sha256", "code_bytes"} and newest["version"] == 2


def test_a_bot_update_through_graphql_that_changes_nothing_writes_nothing(tenant, client):
    bot = _bot(tenant)
    update = ("mutation($id: UUID!, $input: UpdateBotInput!) { updateBot(id: $id, "
              "input: $input) { currentVersion description } }")
    for given in ({}, {key: value for key, value in BOT_EQUAL.items() if key != "settings"}):
        answer = data_of(gql(client, tenant.headers, update, {"id": bot["id"], "input": given}))
        assert answer["updateBot"] == {"currentVersion": 1, "description": "kept"}
    assert _audit(tenant, "bot.update", bot["id"]) == []
    data_of(gql(client, tenant.headers, update, {"id": bot["id"], "input": {
        "code": CODE, "status": "active"}}))
    assert [e["changes"] for e in _audit(tenant, "bot.update", bot["id"])] == [
        {"status": {"before": "draft", "after": "active"}}]


def test_a_bot_patch_with_its_code_but_without_its_other_files_is_a_new_version(
        tenant, superuser):
    """A version from a PATCH holds only its code: the same code on a bot whose current
    version has other files (from a template) is a change, as before."""
    bot = _bot(tenant)
    superuser.execute("UPDATE bot_versions SET files = '{\"util.py\": \"x = 1\"}' "
                      "WHERE bot_id = %s", (bot["id"],))
    response = tenant.call("PATCH", f"/api/v1/bots/{bot['id']}", json={"code": CODE})
    assert response.status_code == 200, response.json
    assert response.json["current_version"] == 2
    assert [e["changes"]["version"] for e in _audit(tenant, "bot.update", bot["id"])] == [2]


@pytest.mark.parametrize("body", [{}, {"name": "Same", "settings": {
    "llm_fallback": ["builtin"], "defaults": {"llm": "builtin"}}}], ids=["empty", "equal"])
def test_a_workspace_patch_that_changes_nothing_writes_no_audit_row(tenant, body):
    set_up = tenant.call("PATCH", "/api/v1/workspace", json={"name": "Same", "settings": {
        "llm_fallback": ["builtin"], "defaults": {"llm": "builtin"}}})
    assert set_up.status_code == 200, set_up.json
    rows = len(_audit(tenant, "workspace.update", tenant.workspace_id))
    response = tenant.call("PATCH", "/api/v1/workspace", json=body)
    assert response.status_code == 200, response.json
    assert response.json == set_up.json  # updated_at too
    assert len(_audit(tenant, "workspace.update", tenant.workspace_id)) == rows

    changed = tenant.call("PATCH", "/api/v1/workspace", json={**body, "name": "Other"})
    assert changed.status_code == 200, changed.json
    entries = _audit(tenant, "workspace.update", tenant.workspace_id)
    assert len(entries) == rows + 1
    assert entries[0]["changes"] == {"name": {"before": "Same", "after": "Other"}}
    tenant.call("PATCH", "/api/v1/workspace", json={"settings": {"llm_fallback": ["openai"]}})
    settings = _audit(tenant, "workspace.update", tenant.workspace_id)[0]["changes"]
    assert settings == {"settings": {
        "before": {"llm_fallback": ["builtin"], "defaults": {"llm": "builtin"}},
        "after": {"llm_fallback": ["openai"], "defaults": {"llm": "builtin"}}}}


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_a_member_given_the_role_it_has_is_not_audited_and_the_last_admin_stays(
        tenant, version):
    member = tenant.add_member("user")
    members = "/api/v1/members" if version == "v1" else "/api/v2/members"
    same = tenant.call("PATCH", f"{members}/{member['user_id']}", json={"role": "user"})
    assert same.status_code == 200, same.json
    assert same.json["role"] == "user"
    admin = tenant.call("PATCH", f"{members}/{tenant.user_id}", json={"role": "admin"})
    assert admin.status_code == 200 and admin.json["role"] == "admin"  # the only admin
    for user_id in (member["user_id"], tenant.user_id):
        assert _audit(tenant, "member.update", user_id) == []

    demoted = tenant.call("PATCH", f"{members}/{tenant.user_id}", json={"role": "user"})
    assert demoted.status_code == 409  # the last admin
    changed = tenant.call("PATCH", f"{members}/{member['user_id']}", json={"role": "viewer"})
    assert changed.status_code == 200 and changed.json["role"] == "viewer"
    assert [e["changes"] for e in _audit(tenant, "member.update", member["user_id"])] == [
        {"role": {"before": "user", "after": "viewer"}}]
    assert _audit(tenant, "member.update", tenant.user_id) == []


def test_a_member_role_change_through_graphql_to_its_role_is_not_audited(tenant, client):
    member = tenant.add_member("viewer")
    change = ("mutation($id: UUID!, $role: String!) { changeMemberRole(userId: $id, "
              "role: $role) { role } }")
    for role in ("viewer", "user"):
        answer = data_of(gql(client, tenant.headers, change,
                             {"id": member["user_id"], "role": role}))
        assert answer["changeMemberRole"] == {"role": role}
    assert [e["changes"] for e in _audit(tenant, "member.update", member["user_id"])] == [
        {"role": {"before": "viewer", "after": "user"}}]

"""Admin pages (Flask test client): budgets, providers (secrets write-only), members and
invitations, API keys (shown once), the audit log; refused to other roles, CSRF-checked,
another workspace's keys never shown."""

from __future__ import annotations

import json

import pytest

from tests.conftest import MAILBOX, sign_up
from tests.console.conftest import ConsoleClient

ADMIN_PAGES = ["/app/admin", "/app/admin/budgets", "/app/admin/providers",
               "/app/admin/members", "/app/admin/api-keys", "/app/admin/audit"]
ADMIN_POSTS = ["/app/admin/budgets", "/app/admin/providers/llm/openai",
               "/app/admin/invitations", "/app/admin/api-keys"]


@pytest.fixture()
def viewer(app, tenant) -> ConsoleClient:
    return ConsoleClient(app.test_client(), tenant.add_member("viewer")["email"], tenant.slug)


def test_an_admin_is_offered_every_admin_page(console):
    assert 'href="/app/admin"' in console.get("/app/runs").text
    for path in ADMIN_PAGES:
        assert console.get(path).status_code == 200, path


def test_a_viewer_is_not_offered_admin_and_is_refused_it(viewer, tenant):
    assert 'href="/app/admin"' not in viewer.get("/app/runs").text
    for path in ADMIN_PAGES:
        assert viewer.get(path).status_code == 403, path
    for path in ADMIN_POSTS:
        assert viewer.post(path, {"name": "k", "role": "admin"}).status_code == 403, path
    assert tenant.call("GET", "/api/v1/api-keys").json == []


def test_an_admin_mints_a_key_that_is_shown_once_and_works(console, tenant):
    minted = console.post("/app/admin/api-keys", {"name": "ci", "role": "viewer"})

    assert minted.status_code == 201
    key = minted.text.split('data-testid="minted-key"')[0].rsplit('value="', 1)[1].split('"')[0]
    assert tenant.client.get("/api/v1/bots", headers={"X-API-Key": key}).status_code == 200
    listing = console.get("/app/admin/api-keys").text
    assert "ci" in listing and key not in listing
    assert f'<td data-testid="minted-by">{tenant.email}</td>' in listing
    logged = tenant.call("GET", "/api/v1/audit-logs?action=api_key.create").json["items"]
    assert len(logged) == 1 and key not in json.dumps(logged)


def test_deleting_a_key_stops_it(console, tenant):
    key = tenant.api_key()
    key_id = tenant.call("GET", "/api/v1/api-keys").json[0]["id"]

    assert console.post(f"/app/admin/api-keys/{key_id}/delete").status_code == 303
    assert tenant.client.get("/api/v1/bots", headers={"X-API-Key": key}).status_code == 401


def test_a_bad_key_form_is_the_apis_422_and_writes_nothing(console, tenant):
    answer = console.post("/app/admin/api-keys", {"name": "x", "role": "owner"})

    assert answer.status_code == 422 and "role" in answer.text
    assert tenant.call("GET", "/api/v1/api-keys").json == []


def test_admin_forms_need_the_csrf_token(console, tenant):
    assert console.post("/app/admin/api-keys", {"name": "ci", "role": "viewer"},
                        csrf=False).status_code == 403
    assert tenant.call("GET", "/api/v1/api-keys").json == []


def test_another_workspaces_keys_are_never_shown_nor_deleted(app, tenant):
    tenant.api_key()
    theirs = tenant.call("GET", "/api/v1/api-keys").json[0]
    intruder = sign_up(app.test_client())
    other = ConsoleClient(app.test_client(), intruder.email, intruder.slug)

    assert theirs["prefix"] not in other.get("/app/admin/api-keys").text
    assert other.post(f"/app/admin/api-keys/{theirs['id']}/delete").status_code == 404
    assert len(tenant.call("GET", "/api/v1/api-keys").json) == 1


def test_budgets_are_saved_as_the_api_saves_them(console, tenant):
    answer = console.post("/app/admin/budgets", {
        "scope": ["workspace", "workspace"], "scope_id": ["", ""], "period": ["day", "month"],
        "soft_limit_usd": ["1.5", ""], "hard_limit_usd": ["2", ""]})

    assert answer.status_code == 303
    assert [(b["period"], b["soft_limit_usd"], b["hard_limit_usd"])
            for b in tenant.call("GET", "/api/v1/budgets").json] == [("day", "1.5", "2")]
    assert console.post("/app/admin/budgets", {
        "scope": "workspace", "scope_id": "", "period": "day", "soft_limit_usd": "",
        "hard_limit_usd": "lots"}).status_code == 422
    assert "1.5" in console.get("/app/admin/budgets").text


def test_provider_secrets_are_write_only(console, tenant):
    answer = console.post("/app/admin/providers/llm/openai", {
        "config": '{"base_url": "http://127.0.0.1:9/v1"}', "secret_name": "api_key",
        "secret:api_key": "sk-very-secret-value"})

    assert answer.status_code == 303
    page = console.get("/app/admin/providers").text
    assert "sk-very-secret-value" not in page and "(set; leave empty to keep)" in page
    stored = tenant.call("GET", "/api/v1/providers").json
    openai = next(p for k in stored if k["kind"] == "llm" for p in k["plugins"]
                  if p["id"] == "openai")
    assert openai["configured"]["secrets"] == {"api_key": "********"}
    assert console.post("/app/admin/providers/llm/openai", {"config": "{not json"}
                        ).status_code == 422


def test_an_admin_invites_and_changes_a_role_and_the_audit_log_shows_it(console, tenant):
    invited = console.post("/app/admin/invitations", {"email": "new@example.com",
                                                      "role": "viewer"})
    assert invited.status_code == 200 and "Invited new@example.com" in invited.text
    assert MAILBOX.token_for("new@example.com") not in invited.text
    listed = console.get("/app/admin/members").text
    assert "Open invitations" in listed and "new@example.com" in listed
    member = tenant.add_member("user")

    assert console.post(f"/app/admin/members/{member['user_id']}/role",
                        {"role": "viewer"}).status_code == 303
    roles = {m["email"]: m["role"] for m in tenant.call("GET", "/api/v1/members").json}
    assert roles[member["email"]] == "viewer"
    assert console.post(f"/app/admin/members/{tenant.user_id}/role",
                        {"role": "viewer"}).status_code == 409  # the last admin stays
    audit = console.get("/app/admin/audit?action=member.update").text
    assert "member.update" in audit and "invitation" not in audit


def test_an_admin_withdraws_an_open_invitation_from_the_members_page(console, tenant, viewer):
    tenant.call("POST", "/api/v1/invitations", json={"email": "gone@example.com",
                                                      "role": "user"})
    token = MAILBOX.token_for("gone@example.com")
    invitation_id = tenant.call("GET", "/api/v1/invitations").json[0]["id"]
    action = f"/app/admin/invitations/{invitation_id}/withdraw"
    page = console.get("/app/admin/members").text
    assert f'action="{action}"' in page and "Withdraw" in page

    assert console.post(action, csrf=False).status_code == 403  # the form's CSRF token counts
    assert viewer.post(action).status_code == 403
    assert console.post(action).status_code == 303

    assert "gone@example.com" not in console.get("/app/admin/members").text
    assert tenant.call("GET", "/api/v1/invitations").json == []
    assert tenant.client.post(f"/api/v1/invitations/{token}/accept",
                              json={"password": "a long password 42"}).status_code == 404
    assert console.post(action).status_code == 404
    assert "invitation.withdraw" in console.get("/app/admin/audit?action=invitation.withdraw"
                                                ).text


def test_another_workspaces_members_and_audit_are_out_of_reach(app, tenant):
    member = tenant.add_member("user")
    intruder = sign_up(app.test_client())
    other = ConsoleClient(app.test_client(), intruder.email, intruder.slug)

    tenant.call("POST", "/api/v1/invitations", json={"email": "only-a@example.com",
                                                      "role": "user"})
    assert member["email"] not in other.get("/app/admin/members").text
    assert "only-a@example.com" not in other.get("/app/admin/members").text
    assert other.post(f"/app/admin/members/{member['user_id']}/role",
                      {"role": "admin"}).status_code == 404
    assert other.post(f"/app/admin/members/{member['user_id']}/remove").status_code == 404
    own = ConsoleClient(app.test_client(), tenant.email, tenant.slug)
    invitation_id = tenant.call("GET", "/api/v1/invitations").json[0]["id"]
    assert other.post(f"/app/admin/invitations/{invitation_id}/withdraw").status_code == 404
    assert [i["email"] for i in tenant.call("GET", "/api/v1/invitations").json] == [
        "only-a@example.com"]
    assert own.post(f"/app/admin/invitations/{invitation_id}/withdraw").status_code == 303
    assert member["user_id"][:8] in own.get("/app/admin/audit").text
    assert member["user_id"][:8] not in other.get("/app/admin/audit").text
    roles = {m["email"]: m["role"] for m in tenant.call("GET", "/api/v1/members").json}
    assert roles[member["email"]] == "user"

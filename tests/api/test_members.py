"""Members and invitations: invite, accept (new and existing accounts), roles, last admin."""

from __future__ import annotations

import uuid

from tests.conftest import PASSWORD, sign_up


def test_invited_new_user_joins_with_a_password(tenant):
    member = tenant.add_member("viewer")
    listed = {m["email"]: m for m in tenant.call("GET", "/api/v1/members").json}
    assert listed[member["email"]]["role"] == "viewer"
    assert set(listed[member["email"]]) == {"user_id", "email", "role", "joined_at"}


def test_existing_user_accepts_with_current_password(client, tenant, other_tenant):
    invited = tenant.call("POST", "/api/v1/invitations",
                          json={"email": other_tenant.email, "role": "user"}).json
    wrong = client.post(f"/api/v1/invitations/{invited['token']}/accept",
                        json={"password": "not my password!"})
    assert wrong.status_code == 401
    accepted = client.post(f"/api/v1/invitations/{invited['token']}/accept",
                           json={"password": PASSWORD})
    assert accepted.status_code == 200
    assert accepted.json["user_id"] == other_tenant.user_id
    # One user, two workspaces: sign in to either by slug.
    for slug in (tenant.slug, other_tenant.slug):
        assert client.post("/api/v1/auth/token", json={
            "email": other_tenant.email, "password": PASSWORD, "workspace": slug}
        ).status_code == 200


def test_invitation_token_works_once(client, tenant):
    invited = tenant.call("POST", "/api/v1/invitations",
                          json={"email": f"o{uuid.uuid4().hex[:6]}@ex.com", "role": "user"}).json
    path = f"/api/v1/invitations/{invited['token']}/accept"
    assert client.post(path, json={"password": PASSWORD}).status_code == 200
    assert client.post(path, json={"password": PASSWORD}).status_code == 409


def test_unknown_or_expired_invitation(client, tenant, superuser):
    assert client.post("/api/v1/invitations/nope/accept",
                       json={"password": PASSWORD}).status_code == 404
    invited = tenant.call("POST", "/api/v1/invitations",
                          json={"email": f"e{uuid.uuid4().hex[:6]}@ex.com", "role": "user"}).json
    superuser.execute("UPDATE invitations SET expires_at = now() - interval '1 minute' "
                      "WHERE id = %s", (invited["id"],))
    assert client.post(f"/api/v1/invitations/{invited['token']}/accept",
                       json={"password": PASSWORD}).status_code == 410


def test_inviting_a_current_member_is_409(tenant):
    response = tenant.call("POST", "/api/v1/invitations",
                           json={"email": tenant.email.upper(), "role": "user"})
    assert response.status_code == 409


def test_invitation_rejects_bad_email_and_role(tenant):
    assert tenant.call("POST", "/api/v1/invitations",
                       json={"email": "not-an-email", "role": "user"}).status_code == 422
    assert tenant.call("POST", "/api/v1/invitations",
                       json={"email": "a@b.co", "role": "owner"}).status_code == 422


def test_last_admin_cannot_be_demoted_or_removed(tenant):
    path = f"/api/v1/members/{tenant.user_id}"
    assert tenant.call("PATCH", path, json={"role": "user"}).status_code == 409
    assert tenant.call("DELETE", path).status_code == 409
    second = tenant.add_member("admin")
    assert tenant.call("PATCH", path, json={"role": "user"}).status_code == 200
    last = f"/api/v1/members/{second['user_id']}"
    response = tenant.client.delete(last, headers=second["headers"])
    assert response.status_code == 409


def test_unknown_member_is_404(tenant):
    assert tenant.call("PATCH", f"/api/v1/members/{uuid.uuid4()}",
                       json={"role": "user"}).status_code == 404


def test_members_of_another_workspace_are_invisible(client, tenant):
    outsider = sign_up(client)
    emails = {m["email"] for m in tenant.call("GET", "/api/v1/members").json}
    assert outsider.email not in emails
    assert tenant.call("DELETE", f"/api/v1/members/{outsider.user_id}").status_code == 404

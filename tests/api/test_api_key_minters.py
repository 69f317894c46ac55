"""An API key answers to the member who minted it: it never acts with more than that member's
current role, and it is revoked when that member leaves the workspace."""

from __future__ import annotations

import uuid

import pytest

from tests.conftest import Tenant, sign_up


def _mint(tenant: Tenant, headers: dict[str, str], role: str) -> dict:
    response = tenant.client.post("/api/v1/api-keys", headers=headers,
                                  json={"name": f"key-{uuid.uuid4().hex[:8]}", "role": role})
    assert response.status_code == 201, response.json
    return response.json


def _as_key(key: dict) -> dict[str, str]:
    return {"X-API-Key": key["key"]}


@pytest.fixture()
def minter(tenant: Tenant) -> dict:
    """A second admin of ``tenant``, who mints keys."""
    return tenant.add_member("admin")


def test_removing_a_member_revokes_the_keys_they_minted_there_and_audits_it(tenant, minter):
    theirs = _mint(tenant, minter["headers"], "user")
    ours = _mint(tenant, tenant.headers, "user")
    assert tenant.client.get("/api/v1/bots", headers=_as_key(theirs)).status_code == 200

    assert tenant.call("DELETE", f"/api/v1/members/{minter['user_id']}").status_code == 204

    assert tenant.client.get("/api/v1/bots", headers=_as_key(theirs)).status_code == 401
    assert tenant.client.get("/api/v1/bots", headers=_as_key(ours)).status_code == 200
    assert [k["id"] for k in tenant.call("GET", "/api/v1/api-keys").json] == [ours["id"]]
    audit = tenant.call("GET", f"/api/v1/audit-logs?resource_id={theirs['id']}").json["items"]
    revoked = audit[0]
    assert revoked["action"] == "api_key.delete" and revoked["actor_id"] == tenant.user_id
    assert revoked["changes"]["reason"] == "minter_removed"
    assert revoked["changes"]["minted_by"] == minter["user_id"]
    assert revoked["changes"]["prefix"] == theirs["prefix"]
    assert theirs["key"] not in str(audit)
    removal = tenant.call("GET", f"/api/v1/audit-logs?resource_id={minter['user_id']}"
                          "&action=member.delete").json["items"]
    assert removal[0]["changes"]["keys_revoked"] == 1


def test_a_key_minted_by_a_key_answers_to_the_same_member(tenant, minter):
    parent = _mint(tenant, minter["headers"], "admin")
    child = _mint(tenant, _as_key(parent), "user")
    assert child["created_by"] == minter["user_id"]

    assert tenant.call("DELETE", f"/api/v1/members/{minter['user_id']}").status_code == 204

    assert tenant.client.get("/api/v1/bots", headers=_as_key(child)).status_code == 401


def test_a_key_never_acts_above_its_minters_current_role(tenant, minter):
    admin_key, runner_key = (_mint(tenant, minter["headers"], role)
                             for role in ("admin", "api_user"))
    path = f"/api/v1/members/{minter['user_id']}"
    assert tenant.client.post("/api/v1/bots", json={"name": "while-admin"},
                              headers=_as_key(admin_key)).status_code == 201

    assert tenant.call("PATCH", path, json={"role": "viewer"}).status_code == 200

    refused = tenant.client.post("/api/v1/bots", json={"name": "as-viewer"},
                                 headers=_as_key(admin_key))
    assert refused.status_code == 403
    assert tenant.client.get("/api/v1/api-keys", headers=_as_key(admin_key)).status_code == 403
    assert tenant.client.get("/api/v1/bots", headers=_as_key(admin_key)).status_code == 200
    me = tenant.client.get("/api/v1/auth/me", headers=_as_key(admin_key)).json
    viewer = tenant.client.get("/api/v1/auth/me", headers=minter["headers"]).json
    assert me["permissions"] == viewer["permissions"]
    assert (me["role"], me["minter_role"]) == ("admin", "viewer")
    # Neither role holds the other's permissions: the key keeps what both grant.
    runner = tenant.client.get("/api/v1/auth/me", headers=_as_key(runner_key)).json
    assert "execute_bot" not in runner["permissions"]
    assert "view_members" not in runner["permissions"]
    assert "view_bots" in runner["permissions"]

    assert tenant.call("PATCH", path, json={"role": "admin"}).status_code == 200
    assert tenant.client.get("/api/v1/api-keys", headers=_as_key(admin_key)).status_code == 200


def test_leaving_one_workspace_keeps_the_keys_minted_in_another(client, tenant, minter):
    home = sign_up(client, email=minter["email"])
    kept = _mint(home, home.headers, "user")

    assert tenant.call("DELETE", f"/api/v1/members/{minter['user_id']}").status_code == 204

    assert client.get("/api/v1/bots", headers=_as_key(kept)).status_code == 200

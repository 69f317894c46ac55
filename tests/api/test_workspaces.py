"""Sign-up and the current workspace."""

from __future__ import annotations

import uuid

from tests.conftest import PASSWORD, sign_up


def test_sign_up_returns_workspace_admin_and_tokens(client):
    tenant = sign_up(client, "Acme Corp")
    me = tenant.call("GET", "/api/v1/auth/me")
    assert me.status_code == 200
    assert me.json["role"] == "admin"
    assert me.json["workspace"]["id"] == tenant.workspace_id
    assert "manage_users" in me.json["permissions"]


def test_duplicate_slug_is_409(client, tenant):
    response = client.post("/api/v1/workspaces", json={
        "name": "Again", "slug": tenant.slug, "admin_email": f"x{uuid.uuid4().hex}@ex.com",
        "admin_password": PASSWORD})
    assert response.status_code == 409
    assert tenant.slug in response.json["message"]


def test_slug_is_derived_from_name(client):
    suffix = uuid.uuid4().hex[:6]
    response = client.post("/api/v1/workspaces", json={
        "name": f"Hello World {suffix}!", "admin_email": f"h{suffix}@example.com",
        "admin_password": PASSWORD})
    assert response.status_code == 201
    assert response.json["workspace"]["slug"] == f"hello-world-{suffix}"


def test_existing_account_creates_second_workspace_with_its_password(client, tenant):
    response = client.post("/api/v1/workspaces", json={
        "name": "Second", "slug": f"second-{uuid.uuid4().hex[:6]}",
        "admin_email": tenant.email, "admin_password": PASSWORD})
    assert response.status_code == 201
    assert response.json["user"]["id"] == tenant.user_id
    wrong = client.post("/api/v1/workspaces", json={
        "name": "Third", "admin_email": tenant.email, "admin_password": "wrong password 123"})
    assert wrong.status_code == 409


def test_weak_password_is_422_with_field_error(client):
    response = client.post("/api/v1/workspaces", json={
        "name": "Weak", "admin_email": "weak@example.com", "admin_password": "short"})
    assert response.status_code == 422
    assert "password" in response.json["errors"]["json"]


def test_password_containing_email_is_rejected(client):
    response = client.post("/api/v1/workspaces", json={
        "name": "Weak", "admin_email": "johnsmith@example.com",
        "admin_password": "johnsmith-2024!"})
    assert response.status_code == 422


def test_token_signup_mode_needs_platform_token(make_app):
    app = make_app(signup_mode="token", platform_token="platform-secret")
    client = app.test_client()
    body = {"name": "Gated", "admin_email": f"g{uuid.uuid4().hex[:6]}@example.com",
            "admin_password": PASSWORD}
    assert client.post("/api/v1/workspaces", json=body).status_code == 403
    assert client.post("/api/v1/workspaces", json=body,
                       headers={"X-Platform-Token": "wrong"}).status_code == 403
    ok = client.post("/api/v1/workspaces", json=body,
                     headers={"X-Platform-Token": "platform-secret"})
    assert ok.status_code == 201


def test_get_and_patch_workspace(tenant):
    response = tenant.call("PATCH", "/api/v1/workspace", json={
        "name": "Renamed", "settings": {"defaults": {"llm": "builtin"},
                                        "llm_fallback": ["openai", "builtin"]}})
    assert response.status_code == 200, response.json
    assert response.json["name"] == "Renamed"
    got = tenant.call("GET", "/api/v1/workspace").json
    assert got["settings"]["llm_fallback"] == ["openai", "builtin"]


def test_patch_workspace_rejects_unknown_settings(tenant):
    response = tenant.call("PATCH", "/api/v1/workspace", json={"settings": {"colour": "red"}})
    assert response.status_code == 422

"""Sign-in, refresh rotation, revocation, forged and expired tokens, API keys."""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

import jwt
import pytest

from tests.conftest import MAILBOX, PASSWORD, sign_in, sign_up, verify_email


def _login(client, email, password=PASSWORD, **extra):
    return client.post("/api/v1/auth/token", json={"email": email, "password": password,
                                                   **extra})


def test_login_issues_a_bearer_pair(client, tenant):
    response = _login(client, tenant.email)
    assert response.status_code == 200
    assert response.json["token_type"] == "bearer"
    assert response.json["expires_in"] == 15 * 60
    me = client.get("/api/v1/auth/me",
                    headers={"Authorization": f"Bearer {response.json['access_token']}"})
    assert me.json["user"]["email"] == tenant.email


def test_unknown_email_and_wrong_password_answer_the_same(client, tenant):
    unknown = _login(client, f"nobody-{uuid.uuid4().hex}@example.com")
    wrong = _login(client, tenant.email, "not the right password")
    assert unknown.status_code == wrong.status_code == 401
    assert unknown.json == wrong.json


def test_a_right_password_without_a_workspace_answers_as_a_wrong_one(client, tenant):
    """An account that belongs to no workspace (its last membership removed) signs in to
    nothing: the right password must not answer otherwise than a wrong one, or the answer
    tells whoever guesses that the guess was right."""
    member = tenant.add_member("user")
    assert tenant.call("DELETE", f"/api/v1/members/{member['user_id']}").status_code == 204
    right = _login(client, member["email"])
    wrong = _login(client, member["email"], "not the right password")
    unknown = _login(client, f"nobody-{uuid.uuid4().hex}@example.com")
    assert right.status_code == wrong.status_code == unknown.status_code == 401
    assert right.json == wrong.json == unknown.json


def test_login_picks_the_named_workspace(client, tenant):
    client.post("/api/v1/workspaces", json={
        "name": "Second", "slug": f"second-{uuid.uuid4().hex[:6]}",
        "admin_email": tenant.email, "admin_password": PASSWORD})
    second = verify_email(client, tenant.email)
    by_slug = _login(client, tenant.email, workspace=second["workspace"]["slug"]).json
    claims = jwt.decode(by_slug["access_token"], options={"verify_signature": False})
    assert claims["ws"] == second["workspace"]["id"]
    by_id = _login(client, tenant.email, workspace=tenant.workspace_id).json
    assert jwt.decode(by_id["access_token"],
                      options={"verify_signature": False})["ws"] == tenant.workspace_id


def test_login_to_a_workspace_you_do_not_belong_to_is_401(client, tenant, other_tenant):
    response = _login(client, tenant.email, workspace=other_tenant.slug)
    assert response.status_code == 401


def test_refresh_rotates_and_reuse_is_rejected(client, tenant):
    first = client.post("/api/v1/auth/refresh",
                        headers={"Authorization": f"Bearer {tenant.refresh_token}"})
    assert first.status_code == 200
    assert first.json["refresh_token"] != tenant.refresh_token
    reused = client.post("/api/v1/auth/refresh",
                         headers={"Authorization": f"Bearer {tenant.refresh_token}"})
    assert reused.status_code == 401
    # Reuse revokes the whole family: the rotated token dies too.
    rotated = client.post("/api/v1/auth/refresh",
                          headers={"Authorization": f"Bearer {first.json['refresh_token']}"})
    assert rotated.status_code == 401


def test_a_reused_refresh_token_leaves_an_audit_row_for_the_workspaces_admins(client, tenant):
    # A refresh token presented again is the sign of a stolen one: the sign-in ends, and the
    # workspace's audit log says so (it said nothing: the request failed, so it was unaudited).
    first = client.post("/api/v1/auth/refresh",
                        headers={"Authorization": f"Bearer {tenant.refresh_token}"})
    assert first.status_code == 200
    assert client.post("/api/v1/auth/refresh", headers={
        "Authorization": f"Bearer {tenant.refresh_token}"}).status_code == 401

    again = client.post("/api/v1/auth/token", json={
        "email": tenant.email, "password": PASSWORD, "workspace": tenant.slug})
    assert again.status_code == 200, again.json
    log = client.get("/api/v1/audit-logs?page_size=10", headers={
        "Authorization": f"Bearer {again.json['access_token']}"}).json["items"]
    reuse = [entry for entry in log if entry["action"] == "auth.reuse"]
    assert len(reuse) == 1, [entry["action"] for entry in log]
    assert reuse[0]["actor_id"] == tenant.user_id
    assert reuse[0]["changes"]["sign_in_ended"] is True


def _refresh_concurrently(app, token: str, count: int) -> list[int]:
    """``count`` threads, released together, each refreshing ``token`` with its own client."""
    barrier = threading.Barrier(count)
    statuses: list[int] = []

    def refresh() -> None:
        client = app.test_client()
        barrier.wait()
        statuses.append(client.post("/api/v1/auth/refresh", headers={
            "Authorization": f"Bearer {token}"}).status_code)

    threads = [threading.Thread(target=refresh) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return statuses


def test_a_refresh_token_sent_in_the_body_is_told_where_it_goes(client, tenant):
    """A new user sends {"refresh_token": ...} as most APIs take it; the bare
    "authentication required" gave no clue that it belongs in the Authorization header."""
    answer = client.post("/api/v1/auth/refresh", json={"refresh_token": tenant.refresh_token})

    assert answer.status_code == 401
    assert "Authorization: Bearer" in answer.json["message"], answer.json
    assert "X-API-Key" in client.get("/api/v1/bots").json["message"]
    # The token was not used: it still refreshes, once.
    assert client.post("/api/v1/auth/refresh", headers={
        "Authorization": f"Bearer {tenant.refresh_token}"}).status_code == 200


def test_concurrent_refreshes_of_one_token_let_exactly_one_win(app, tenant):
    statuses = _refresh_concurrently(app, tenant.refresh_token, 8)
    assert sorted(statuses) == [200] + [401] * 7


def test_a_lost_refresh_race_is_reuse_and_ends_the_sign_in(app, client, tenant):
    _refresh_concurrently(app, tenant.refresh_token, 4)
    assert client.get("/api/v1/bots", headers=tenant.headers).status_code == 401


def test_access_token_cannot_refresh_and_refresh_token_cannot_access(client, tenant):
    assert client.post("/api/v1/auth/refresh", headers=tenant.headers).status_code == 401
    response = client.get("/api/v1/bots",
                          headers={"Authorization": f"Bearer {tenant.refresh_token}"})
    assert response.status_code == 401
    assert response.json["message"]


def test_revoked_access_token_is_401_everywhere(client, tenant):
    assert client.post("/api/v1/auth/revoke", headers=tenant.headers).status_code == 204
    for path in ("/api/v1/bots", "/api/v1/auth/me", "/api/v1/workspace"):
        response = client.get(path, headers=tenant.headers)
        assert response.status_code == 401, path
        assert set(response.json) >= {"code", "status", "message"}


def test_revoking_a_refresh_token_ends_its_sign_in(client, tenant):
    assert client.post("/api/v1/auth/revoke",
                       headers={"Authorization": f"Bearer {tenant.refresh_token}"}
                       ).status_code == 204
    assert client.get("/api/v1/bots", headers=tenant.headers).status_code == 401
    assert client.post("/api/v1/auth/refresh", headers={
        "Authorization": f"Bearer {tenant.refresh_token}"}).status_code == 401


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _forgeries(token: str) -> dict[str, str]:
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    tampered = {**claims, "ws": str(uuid.uuid4())}
    return {
        "alg none": f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{payload}.",
        "bad signature": f"{header}.{payload}.{signature[:-4]}AAAA",
        "tampered claims": f"{header}.{_b64(tampered)}.{signature}",
        "other key": jwt.encode(claims, "x" * 40, algorithm="HS256"),
        "garbage": "not.a.token",
        "expired": jwt.encode({**claims, "exp": int(time.time()) - 10}, "j" * 40,
                              algorithm="HS256"),
        "hs512 with right key": jwt.encode(claims, "j" * 40, algorithm="HS512"),
    }


@pytest.mark.parametrize("kind", ["alg none", "bad signature", "tampered claims", "other key",
                                  "garbage", "expired", "hs512 with right key"])
def test_forged_tokens_are_401_json(client, tenant, kind):
    forged = _forgeries(tenant.access_token)[kind]
    response = client.get("/api/v1/bots", headers={"Authorization": f"Bearer {forged}"})
    assert response.status_code == 401
    assert response.json["code"] == 401
    assert "msg" not in response.json


@pytest.mark.parametrize("header", ["Bearer", "Bearer ", "Basic abc", "Token x", "Bearer a b",
                                    "bearer"])
def test_malformed_authorization_header_is_401(client, header):
    response = client.get("/api/v1/bots", headers={"Authorization": header})
    assert response.status_code == 401
    assert response.json["message"]


def test_missing_credentials_is_401_with_www_authenticate(client):
    response = client.get("/api/v1/bots")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_expired_access_token_is_401(make_app, client, tenant):
    app = make_app(access_token_minutes=0)
    short = app.test_client()
    token = _login(short, tenant.email).json["access_token"]
    deadline = time.monotonic() + 5
    status = 200
    while time.monotonic() < deadline and status != 401:
        status = short.get("/api/v1/bots", headers={"Authorization": f"Bearer {token}"}
                           ).status_code
    assert status == 401


def test_a_token_verified_earlier_still_expires(client, tenant, monkeypatch):
    headers = {"Authorization": f"Bearer {tenant.access_token}"}
    assert client.get("/api/v1/bots", headers=headers).status_code == 200  # verified, cached
    later = time.time() + 16 * 60
    monkeypatch.setattr("codex32.auth.tokens.time.time", lambda: later)
    response = client.get("/api/v1/bots", headers=headers)
    assert response.status_code == 401
    assert response.json["message"] == "the token has expired"


def test_a_signed_token_with_a_text_expiry_is_401(client, tenant):
    _, payload, _ = tenant.access_token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    odd = jwt.encode({**claims, "exp": str(int(time.time()) + 600)}, "j" * 40, algorithm="HS256")
    response = client.get("/api/v1/bots", headers={"Authorization": f"Bearer {odd}"})
    assert response.status_code == 401


def test_demotion_applies_to_tokens_already_issued(tenant):
    member = tenant.add_member("user")
    assert tenant.client.post("/api/v1/bots", json={"name": "before"},
                              headers=member["headers"]).status_code == 201
    tenant.call("PATCH", f"/api/v1/members/{member['user_id']}", json={"role": "viewer"})
    response = tenant.client.post("/api/v1/bots", json={"name": "after"},
                                  headers=member["headers"])
    assert response.status_code == 403


def test_removal_applies_to_tokens_already_issued(tenant):
    member = tenant.add_member("user")
    assert tenant.call("DELETE", f"/api/v1/members/{member['user_id']}").status_code == 204
    assert tenant.client.get("/api/v1/bots", headers=member["headers"]).status_code == 401
    assert tenant.client.post("/api/v1/auth/refresh", headers={
        "Authorization": f"Bearer {member['refresh_token']}"}).status_code == 401


def test_api_key_authenticates_by_bearer_and_header(tenant):
    key = tenant.api_key("viewer")
    for headers in ({"Authorization": f"Bearer {key}"}, {"X-API-Key": key}):
        response = tenant.client.get("/api/v1/auth/me", headers=headers)
        assert response.status_code == 200
        assert response.json["role"] == "viewer"
        assert response.json["workspace"]["id"] == tenant.workspace_id


def test_api_key_is_shown_once_and_stored_hashed(tenant, superuser):
    created = tenant.call("POST", "/api/v1/api-keys", json={"name": "ci", "role": "user"}).json
    listed = tenant.call("GET", "/api/v1/api-keys").json
    assert all("key" not in item for item in listed)
    assert created["key"].startswith(created["prefix"])
    stored = superuser.execute("SELECT key_hash FROM api_keys WHERE id = %s",
                               (created["id"],)).fetchone()[0]
    assert created["key"] not in stored and len(stored) == 64


def test_deleted_api_key_stops_working(tenant):
    created = tenant.call("POST", "/api/v1/api-keys", json={"name": "tmp", "role": "user"}).json
    headers = {"X-API-Key": created["key"]}
    assert tenant.client.get("/api/v1/bots", headers=headers).status_code == 200
    assert tenant.call("DELETE", f"/api/v1/api-keys/{created['id']}").status_code == 204
    assert tenant.client.get("/api/v1/bots", headers=headers).status_code == 401


def test_expired_api_key_is_401(tenant, superuser):
    created = tenant.call("POST", "/api/v1/api-keys", json={
        "name": "soon", "role": "user",
        "expires_at": (datetime.now(UTC) + timedelta(hours=1)).isoformat()}).json
    superuser.execute("UPDATE api_keys SET expires_at = now() - interval '1 second' "
                      "WHERE id = %s", (created["id"],))
    response = tenant.client.get("/api/v1/bots", headers={"X-API-Key": created["key"]})
    assert response.status_code == 401


def test_api_key_in_the_past_is_422(tenant):
    response = tenant.call("POST", "/api/v1/api-keys", json={
        "name": "old", "role": "user", "expires_at": "2001-01-01T00:00:00+00:00"})
    assert response.status_code == 422


def test_unknown_api_key_is_401(client):
    response = client.get("/api/v1/bots", headers={"X-API-Key": "c32_deadbeef_nope"})
    assert response.status_code == 401


def test_invalid_workspace_or_subject_in_signed_token_is_401(client, tenant):
    claims = jwt.decode(tenant.access_token, options={"verify_signature": False})
    for change in ({"ws": "not-a-uuid"}, {"sub": "nope"}, {"fam": ""}):
        token = jwt.encode({**claims, **change}, "j" * 40, algorithm="HS256")
        assert client.get("/api/v1/bots", headers={"Authorization": f"Bearer {token}"}
                          ).status_code == 401


# throttling: per (email, address) pair and per address, never per email alone


def _attempt(client, email: str, password: str, ip: str):
    return client.post("/api/v1/auth/token", json={"email": email, "password": password},
                       environ_base={"REMOTE_ADDR": ip})


def test_wrong_passwords_from_one_address_do_not_lock_the_owner_out(make_app):
    client = make_app(login_attempts_per_15_minutes=3).test_client()
    owner = sign_up(client)
    failures = [_attempt(client, owner.email, "wrong password 1234", "203.0.113.7")
                for _ in range(10)]
    assert [r.status_code for r in failures[:3]] == [401, 401, 401]
    assert {r.status_code for r in failures[3:]} == {429}
    assert 1 <= int(failures[-1].headers["Retry-After"]) <= 15 * 60
    assert _attempt(client, owner.email, PASSWORD, "198.51.100.9").status_code == 200


def test_one_address_guessing_many_accounts_is_throttled(make_app):
    client = make_app(login_attempts_per_15_minutes=2).test_client()
    statuses = [_attempt(client, f"guess-{n}@example.com", "wrong password 1234",
                         "203.0.113.8").status_code for n in range(21)]
    assert statuses[:20] == [401] * 20 and statuses[20] == 429


def test_a_password_less_account_answers_sign_in_with_the_same_work_as_an_unknown_email(
        client, tenant, superuser, monkeypatch):
    """An account an identity provider made has no password hash. A password sign-in for it
    must cost one Argon2 verification, as an unknown email's does; answering at once told an
    attacker, by the time alone, which addresses have such an account."""
    from argon2 import _password_hasher

    superuser.execute("UPDATE users SET password_hash = '!no-password' WHERE id = %s",
                      (tenant.user_id,))
    verifications: list[int] = []
    real = _password_hasher.verify_secret

    def counted(*args):
        verifications.append(1)
        return real(*args)

    monkeypatch.setattr(_password_hasher, "verify_secret", counted)

    unknown = _login(client, f"nobody-{uuid.uuid4().hex}@example.com", "some password 123")
    for_unknown = len(verifications)
    password_less = _login(client, tenant.email, "some password 123")

    assert unknown.status_code == password_less.status_code == 401
    assert unknown.json == password_less.json
    assert for_unknown == 1
    assert len(verifications) - for_unknown == 1


def test_a_removed_members_old_tokens_stay_dead_when_the_address_is_invited_back(tenant):
    """Removal ends a member's sign-ins (a stolen token with them). Inviting the person back
    makes a new membership; the tokens issued before the removal must not come back to life
    with it (for up to the refresh token's 30 days)."""
    member = tenant.add_member("user")
    assert tenant.call("DELETE", f"/api/v1/members/{member['user_id']}").status_code == 204
    assert tenant.call("POST", "/api/v1/invitations",
                       json={"email": member["email"], "role": "user"}).status_code == 201
    assert tenant.client.post(f"/api/v1/invitations/{MAILBOX.token_for(member['email'])}/accept",
                              json={"password": PASSWORD}).status_code == 200

    assert tenant.client.get("/api/v1/bots", headers=member["headers"]).status_code == 401
    assert tenant.client.post("/api/v1/auth/refresh", headers={
        "Authorization": f"Bearer {member['refresh_token']}"}).status_code == 401
    again = sign_in(tenant.client, member["email"], tenant.slug)  # a new sign-in works
    assert tenant.client.get("/api/v1/bots", headers={
        "Authorization": f"Bearer {again['access_token']}"}).status_code == 200

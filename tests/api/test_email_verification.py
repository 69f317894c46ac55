"""Email verification of a sign-up: single-use tokens stored hashed, resends that reveal
nothing and are throttled, audit rows, and an address that cannot be claimed by receiving
someone else's sign-up."""

from __future__ import annotations

import uuid

import pytest

from tests.conftest import MAILBOX, PASSWORD


def _pending(client, password: str = PASSWORD) -> str:
    email = f"v-{uuid.uuid4().hex[:8]}@example.com"
    response = client.post("/api/v1/workspaces", json={
        "name": f"Verify {email}", "admin_email": email, "admin_password": password})
    assert response.status_code == 202
    return email


def test_a_verification_token_works_once(client):
    email = _pending(client)
    token = MAILBOX.token_for(email)
    assert client.post("/api/v1/auth/verify", json={
        "token": token, "password": PASSWORD}).status_code == 200
    again = client.post("/api/v1/auth/verify", json={"token": token, "password": PASSWORD})
    assert again.status_code == 400
    assert again.json["message"].startswith("the verification token is invalid, used or expired")


def test_an_expired_verification_token_is_refused_and_resend_gives_a_new_one(client, superuser):
    email = _pending(client)
    old = MAILBOX.token_for(email)
    superuser.execute("UPDATE users SET verify_expires_at = now() - interval '1 second' "
                      "WHERE lower(email) = lower(%s)", (email,))
    assert client.post("/api/v1/auth/verify", json={
        "token": old, "password": PASSWORD}).status_code == 400
    resent = client.post("/api/v1/auth/verify/resend", json={"email": email})
    assert resent.status_code == 202
    new = MAILBOX.token_for(email)
    assert new != old
    assert client.post("/api/v1/auth/verify", json={
        "token": new, "password": PASSWORD}).status_code == 200


def test_the_verification_token_is_stored_hashed(client, superuser):
    email = _pending(client)
    stored = superuser.execute("SELECT verify_token_hash FROM users WHERE email = %s",
                               (email,)).fetchone()[0]
    assert MAILBOX.token_for(email) not in stored and len(stored) == 64


def test_resend_answers_the_same_for_pending_verified_and_unknown_addresses(client, tenant):
    pending = _pending(client)
    answers = [client.post("/api/v1/auth/verify/resend", json={"email": email})
               for email in (pending, tenant.email, f"no-{uuid.uuid4().hex}@example.com")]
    assert {r.status_code for r in answers} == {202}
    assert answers[0].json == answers[1].json == answers[2].json
    assert len(MAILBOX.tokens_for(pending)) == 2
    assert len(MAILBOX.tokens_for(tenant.email)) == 1  # the sign-up's only


def test_resending_is_throttled_per_address(make_app):
    client = make_app().test_client()
    email = _pending(client)
    statuses = [client.post("/api/v1/auth/verify/resend", json={"email": email}).status_code
                for _ in range(10)]
    assert statuses[:9] == [202] * 9 and statuses[9] == 429  # the sign-up's mail counted too


def test_verification_and_resend_are_audited_in_the_new_workspace(client, superuser):
    email = _pending(client)
    client.post("/api/v1/auth/verify/resend", json={"email": email})
    verified = client.post("/api/v1/auth/verify", json={
        "token": MAILBOX.token_for(email), "password": PASSWORD})
    rows = superuser.execute(
        "SELECT action, actor_id::text, ip, changes::text FROM audit_logs WHERE workspace_id = %s"
        " ORDER BY created_at", (verified.json["workspace"]["id"],)).fetchall()
    assert [row[0] for row in rows] == ["workspace.create", "account.verification_resend",
                                        "account.verify"]
    assert rows[-1][1] == verified.json["user"]["id"] and rows[-1][2] == "127.0.0.1"
    assert all(MAILBOX.token_for(email) not in row[3] for row in rows)


def test_receiving_someone_elses_sign_up_cannot_bind_their_password_to_the_address(client):
    """An attacker signs up with the victim's address and a password of their own; the victim
    receives the token, but without the attacker's password it binds nothing."""
    email = _pending(client, password="attacker password 1")
    victim = client.post("/api/v1/auth/verify", json={"token": MAILBOX.token_for(email),
                                                      "password": PASSWORD})
    assert victim.status_code == 400
    attacker = client.post("/api/v1/auth/token", json={"email": email,
                                                       "password": "attacker password 1"})
    assert attacker.status_code == 401
    # It was the password that was refused: the same token with the sign-up's own password
    # still verifies (so a verification without the password would have bound the address).
    signer = client.post("/api/v1/auth/verify", json={"token": MAILBOX.token_for(email),
                                                      "password": "attacker password 1"})
    assert signer.status_code == 200


def _pending_for(client, email: str, password: str) -> None:
    response = client.post("/api/v1/workspaces", json={
        "name": f"Verify {uuid.uuid4().hex[:6]}", "admin_email": email,
        "admin_password": password})
    assert response.status_code == 202


def test_joining_a_sign_up_to_an_existing_account_needs_that_accounts_password(client, tenant):
    _pending_for(client, tenant.email, "a second password 2")
    token = MAILBOX.token_for(tenant.email)
    refused = client.post("/api/v1/auth/verify", json={"token": token,
                                                       "password": "a second password 2"})
    assert refused.status_code == 400
    joined = client.post("/api/v1/auth/verify", json={"token": token, "password": PASSWORD})
    assert joined.status_code == 200 and joined.json["user"]["id"] == tenant.user_id


@pytest.mark.parametrize("body", [{}, {"token": ""}, {"token": 5}, {"token": "x" * 201},
                                  {"token": "abc", "more": 1}, {"token": "abc"},
                                  {"token": "abc", "password": 5}])
def test_bad_verification_input_is_422_json(client, body):
    response = client.post("/api/v1/auth/verify", json=body)
    assert response.status_code == 422
    assert response.json["errors"]


@pytest.mark.parametrize("body", [{}, {"email": "not-an-email"}, {"email": None}])
def test_bad_resend_input_is_422_json(client, body):
    response = client.post("/api/v1/auth/verify/resend", json=body)
    assert response.status_code == 422
    assert response.json["errors"]

"""Password reset: the same 202 for any address, a mailed single-use token stored hashed, the
sign-up's policy, every sign-in ended, throttled, audited, the token never logged."""

from __future__ import annotations

import logging
import uuid

import pytest

from codex32.runtime import background
from tests.conftest import MAILBOX, PASSWORD, sign_in

NEW_PASSWORD = "a brand new passphrase 7"
REQUEST, CONFIRM = "/api/v1/auth/password-reset", "/api/v1/auth/password-reset/confirm"


def _ask(client, email: str):
    """Ask for a reset of ``email``; the answer, once the work it left is done."""
    answer = client.post(REQUEST, json={"email": email})
    assert background.wait_idle(5)
    return answer


def _reset_token(client, email: str) -> str:
    before = MAILBOX.tokens_for(email)
    assert _ask(client, email).status_code == 202
    after = MAILBOX.tokens_for(email)
    assert len(after) == len(before) + 1, "no reset mail reached the address"
    return after[-1]


def _login(client, email: str, password: str):
    return client.post("/api/v1/auth/token", json={"email": email, "password": password})


def test_a_mailed_token_sets_a_new_password_once(client, tenant):
    token = _reset_token(client, tenant.email)

    done = client.post(CONFIRM, json={"token": token, "password": NEW_PASSWORD})

    assert done.status_code == 200, done.json
    assert _login(client, tenant.email, NEW_PASSWORD).status_code == 200
    assert _login(client, tenant.email, PASSWORD).status_code == 401
    again = client.post(CONFIRM, json={"token": token, "password": "yet another passphrase 8"})
    assert again.status_code == 400
    assert _login(client, tenant.email, NEW_PASSWORD).status_code == 200


def test_a_reset_ends_every_earlier_sign_in(client, tenant):
    other = sign_in(client, tenant.email)
    token = _reset_token(client, tenant.email)
    assert client.get("/api/v1/auth/me", headers=tenant.headers).status_code == 200

    assert client.post(CONFIRM, json={"token": token, "password": NEW_PASSWORD}).status_code == 200

    assert client.get("/api/v1/auth/me", headers=tenant.headers).status_code == 401
    for refresh in (tenant.refresh_token, other["refresh_token"]):
        assert client.post("/api/v1/auth/refresh", headers={
            "Authorization": f"Bearer {refresh}"}).status_code == 401
    fresh = sign_in(client, tenant.email, password=NEW_PASSWORD)
    headers = {"Authorization": f"Bearer {fresh['access_token']}"}
    assert client.get("/api/v1/auth/me", headers=headers).status_code == 200
    renewed = client.post("/api/v1/auth/refresh",
                          headers={"Authorization": f"Bearer {fresh['refresh_token']}"})
    assert renewed.status_code == 200
    assert client.get("/api/v1/auth/me", headers={
        "Authorization": f"Bearer {renewed.json['access_token']}"}).status_code == 200


def test_the_answer_is_the_same_for_an_address_without_an_account(client, tenant):
    nobody = f"nobody-{uuid.uuid4().hex[:8]}@example.com"
    known, unknown = _ask(client, tenant.email), _ask(client, nobody)
    assert known.status_code == unknown.status_code == 202
    assert known.json == unknown.json
    assert MAILBOX.tokens_for(nobody) == []


def test_the_token_is_stored_hashed_and_expires(client, tenant, superuser):
    token = _reset_token(client, tenant.email)
    stored = superuser.execute("SELECT token_hash FROM password_resets WHERE user_id = %s",
                               (tenant.user_id,)).fetchone()[0]
    assert token not in stored and len(stored) == 64
    superuser.execute("UPDATE password_resets SET expires_at = now() - interval '1 second' "
                      "WHERE user_id = %s", (tenant.user_id,))

    expired = client.post(CONFIRM, json={"token": token, "password": NEW_PASSWORD})

    assert expired.status_code == 400
    assert _login(client, tenant.email, PASSWORD).status_code == 200


def test_a_new_request_replaces_the_older_token(client, tenant):
    first = _reset_token(client, tenant.email)
    second = _reset_token(client, tenant.email)
    assert client.post(CONFIRM, json={"token": first, "password": NEW_PASSWORD}
                       ).status_code == 400
    assert client.post(CONFIRM, json={"token": second, "password": NEW_PASSWORD}
                       ).status_code == 200


def test_the_new_password_meets_the_sign_up_policy_and_a_refusal_keeps_the_token(client, tenant):
    token = _reset_token(client, tenant.email)
    weak = client.post(CONFIRM, json={"token": token, "password": "short"})
    assert weak.status_code == 422 and "password" in weak.json["errors"]["json"]
    assert client.post(CONFIRM, json={"token": token, "password": NEW_PASSWORD}
                       ).status_code == 200


@pytest.mark.parametrize("body", [{}, {"email": "not-an-email"}, {"email": "a@b.co", "x": 1}])
def test_a_bad_request_is_422_json(client, body):
    assert client.post(REQUEST, json=body).status_code == 422


@pytest.mark.parametrize("body", [{}, {"token": "t"}, {"password": NEW_PASSWORD},
                                  {"token": "", "password": NEW_PASSWORD}])
def test_a_bad_confirmation_is_422_json(client, body):
    assert client.post(CONFIRM, json=body).status_code == 422


def test_an_unknown_token_is_400(client):
    answer = client.post(CONFIRM, json={"token": "not-a-token", "password": NEW_PASSWORD})
    assert answer.status_code == 400 and answer.json["message"]


def test_an_account_without_a_password_gets_no_mail(client, tenant, superuser):
    superuser.execute("UPDATE users SET password_hash = '!no-password' WHERE id = %s",
                      (tenant.user_id,))
    before = MAILBOX.tokens_for(tenant.email)
    assert _ask(client, tenant.email).status_code == 202
    assert MAILBOX.tokens_for(tenant.email) == before


def test_requests_are_throttled_per_address_and_per_client_address(make_app):
    client = make_app(login_attempts_per_15_minutes=2).test_client()  # 20 per client address
    address = f"flood-{uuid.uuid4().hex[:8]}@example.com"
    answers = [client.post(REQUEST, json={"email": address}).status_code for _ in range(11)]
    assert answers == [202] * 10 + [429]
    others = [client.post(REQUEST, json={"email": f"o{n}-{address}"}).status_code
              for n in range(10)]
    assert others == [202] * 9 + [429]
    background.wait_idle(5)


def test_confirmations_are_throttled_per_client_address(make_app):
    client = make_app(login_attempts_per_15_minutes=1).test_client()  # 10 per client address
    answers = [client.post(CONFIRM, json={"token": f"guess-{n}", "password": NEW_PASSWORD}
                           ).status_code for n in range(11)]
    assert answers == [400] * 10 + [429]


def test_both_steps_are_audited_and_the_token_is_never_logged(client, tenant, caplog):
    with caplog.at_level(logging.DEBUG):
        token = _reset_token(client, tenant.email)
        assert client.post(CONFIRM, json={"token": token, "password": NEW_PASSWORD}
                           ).status_code == 200
    fresh = sign_in(client, tenant.email, password=NEW_PASSWORD)
    headers = {"Authorization": f"Bearer {fresh['access_token']}"}
    rows = client.get("/api/v1/audit-logs?resource_type=user", headers=headers).json["items"]
    actions = [row["action"] for row in rows]
    assert actions.index("account.password_reset") < actions.index(
        "account.password_reset_request")  # newest first
    done = rows[actions.index("account.password_reset")]
    assert done["actor_id"] == tenant.user_id and done["changes"]["sign_ins_ended"] is True
    assert token not in str(rows)
    # Only the development mail (no CODEX32_SMTP_URL) carries it; nothing else logs it.
    elsewhere = [r for r in caplog.records if r.name != "codex32.services.mail"]
    assert elsewhere and not [r for r in elsewhere if token in r.getMessage()
                              or token in str(r.__dict__)]

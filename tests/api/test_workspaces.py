"""Sign-up (pending until the address is verified) and the current workspace."""

from __future__ import annotations

import threading
import uuid

import pytest

from tests.conftest import MAILBOX, PASSWORD, sign_in, sign_up, verify_email


def _sign_up(client, email: str, password: str = PASSWORD, **fields):
    return client.post("/api/v1/workspaces", json={
        "name": fields.pop("name", "Workspace"), "admin_email": email,
        "admin_password": password, **fields})


def test_sign_up_then_verify_then_sign_in_gives_the_admin_of_the_new_workspace(client):
    tenant = sign_up(client, "Acme Corp")
    me = tenant.call("GET", "/api/v1/auth/me")
    assert me.status_code == 200
    assert me.json["role"] == "admin"
    assert me.json["workspace"]["id"] == tenant.workspace_id
    assert "manage_users" in me.json["permissions"]


def test_sign_up_answers_202_with_the_workspace_and_no_tokens(client):
    email = f"new-{uuid.uuid4().hex[:8]}@example.com"
    response = _sign_up(client, email, name="Fresh")
    assert response.status_code == 202
    assert set(response.json) == {"workspace", "email", "message"}
    assert response.json["email"] == email
    assert "/api/v1/auth/verify" in response.json["message"]


def test_duplicate_slug_is_409(client, tenant):
    response = client.post("/api/v1/workspaces", json={
        "name": "Again", "slug": tenant.slug, "admin_email": f"x{uuid.uuid4().hex}@ex.com",
        "admin_password": PASSWORD})
    assert response.status_code == 409
    assert tenant.slug in response.json["message"]


def test_a_name_whose_slug_is_taken_says_to_choose_another_name_or_a_slug(client):
    """The README's sign-up, sent twice: the second never sent a slug, so the answer must
    say where the slug came from and what to send instead, and name the field."""
    name = f"Acme {uuid.uuid4().hex[:6]}"
    assert _sign_up(client, f"a{uuid.uuid4().hex}@ex.com", name=name).status_code == 202

    response = _sign_up(client, f"b{uuid.uuid4().hex}@ex.com", name=name)

    assert response.status_code == 409
    assert "from the name" in response.json["message"], response.json
    assert list(response.json["errors"]["json"]) == ["slug"], response.json


def test_slug_is_derived_from_name(client):
    suffix = uuid.uuid4().hex[:6]
    response = client.post("/api/v1/workspaces", json={
        "name": f"Hello World {suffix}!", "admin_email": f"h{suffix}@example.com",
        "admin_password": PASSWORD})
    assert response.status_code == 202
    assert response.json["workspace"]["slug"] == f"hello-world-{suffix}"


def test_sign_up_answers_the_same_for_a_new_address_and_an_account_with_right_or_wrong_password(
        client, tenant):
    new = _sign_up(client, f"new-{uuid.uuid4().hex[:8]}@example.com", name="New")
    right = _sign_up(client, tenant.email, name="Right")
    wrong = _sign_up(client, tenant.email, "wrong password 123", name="Wrong")
    assert new.status_code == right.status_code == wrong.status_code == 202
    shapes = [{key: sorted(value) if isinstance(value, dict) else type(value)
               for key, value in response.json.items()} for response in (new, right, wrong)]
    assert shapes[0] == shapes[1] == shapes[2]
    assert right.json["message"] == wrong.json["message"] == new.json["message"]


def test_a_pending_account_cannot_sign_in_until_its_address_is_verified(client):
    email = f"pending-{uuid.uuid4().hex[:8]}@example.com"
    assert _sign_up(client, email).status_code == 202
    refused = client.post("/api/v1/auth/token", json={"email": email, "password": PASSWORD})
    unknown = client.post("/api/v1/auth/token", json={
        "email": f"nobody-{uuid.uuid4().hex}@example.com", "password": PASSWORD})
    assert refused.status_code == unknown.status_code == 401
    assert refused.json == unknown.json
    verify_email(client, email)
    assert sign_in(client, email)["access_token"]


def test_an_unverified_claim_never_blocks_the_owner_of_the_address(client):
    email = f"victim-{uuid.uuid4().hex[:8]}@example.com"
    squat = _sign_up(client, email, "attacker password 1", name="Squat")
    owner = _sign_up(client, email, name="Mine")
    assert squat.status_code == owner.status_code == 202
    # Only the owner reads the mailbox: the owner's token binds the address to the owner.
    response = client.post("/api/v1/auth/verify", json={"token": MAILBOX.token_for(email),
                                                         "password": PASSWORD})
    assert response.status_code == 200
    assert response.json["workspace"]["id"] == owner.json["workspace"]["id"]
    assert sign_in(client, email)["access_token"]
    attacker = client.post("/api/v1/auth/token", json={"email": email,
                                                       "password": "attacker password 1"})
    assert attacker.status_code == 401


def test_verifying_a_second_sign_up_adds_its_workspace_to_the_existing_account(client, tenant):
    second = _sign_up(client, tenant.email, name="Second",
                      slug=f"second-{uuid.uuid4().hex[:6]}")
    verified = verify_email(client, tenant.email)
    assert verified["user"]["id"] == tenant.user_id
    pair = sign_in(client, tenant.email, second.json["workspace"]["slug"])
    me = client.get("/api/v1/auth/me",
                    headers={"Authorization": f"Bearer {pair['access_token']}"})
    assert me.json["workspace"]["id"] == second.json["workspace"]["id"]
    assert me.json["role"] == "admin"
    # The account keeps its own password.
    assert sign_in(client, tenant.email, tenant.slug)["access_token"]


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
    assert ok.status_code == 202


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


def test_two_claims_verified_at_once_bind_the_address_to_one_account(app, client, superuser):
    email = f"twice-{uuid.uuid4().hex[:8]}@example.com"
    workspaces = [_sign_up(client, email, name=f"Claim {n} {email}").json["workspace"]["id"]
                  for n in range(2)]
    tokens = MAILBOX.tokens_for(email)
    barrier = threading.Barrier(2)
    answers: list = []

    def verify(token: str) -> None:
        own = app.test_client()
        barrier.wait()
        answers.append(own.post("/api/v1/auth/verify", json={"token": token, "password": PASSWORD}))

    threads = [threading.Thread(target=verify, args=(token,)) for token in tokens]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [answer.status_code for answer in answers] == [200, 200]
    assert answers[0].json["user"]["id"] == answers[1].json["user"]["id"]
    accounts = superuser.execute("SELECT id, email_verified_at IS NOT NULL FROM users "
                                 "WHERE lower(email) = lower(%s)", (email,)).fetchall()
    assert [(str(row[0]), row[1]) for row in accounts] == [(answers[0].json["user"]["id"], True)]
    for workspace_id in workspaces:
        assert sign_in(client, email, workspace_id)["access_token"]


def test_two_settings_updates_at_once_keep_both_changes(app, tenant, monkeypatch):
    """The second update waits for the first and merges into what it wrote; before, both
    merged into the settings they had read, and the one that wrote last dropped the other's
    change although both answered 200."""
    import tenants.workspaces as workspaces

    reached, release = threading.Event(), threading.Event()
    check = workspaces.check_workspace_choices

    def pausing(settings):  # the first update stops after reading, until released
        if "llm_fallback" in settings:
            reached.set()
            release.wait(10)
        return check(settings)

    monkeypatch.setattr(workspaces, "check_workspace_choices", pausing)
    answers: dict[str, int] = {}

    def patch(name: str, settings: dict) -> None:
        answers[name] = app.test_client().patch("/api/v1/workspace", json={
            "settings": settings}, headers=tenant.headers).status_code

    first = threading.Thread(target=patch, args=("first", {"llm_fallback": ["openai"]}))
    second = threading.Thread(target=patch, args=(
        "second", {"llm": {"cache": {"ttl_seconds": 60}}}))
    first.start()
    assert reached.wait(10)
    second.start()
    second.join(1.0)  # with the row locked it waits for the first; before, it was done
    release.set()
    first.join(10)
    second.join(10)
    assert answers == {"first": 200, "second": 200}
    settings = tenant.call("GET", "/api/v1/workspace").json["settings"]
    assert settings["llm_fallback"] == ["openai"]
    assert settings["llm"]["cache"]["ttl_seconds"] == 60


@pytest.mark.parametrize("form", [str, lambda value: uuid.UUID(value).hex])
def test_a_slug_that_reads_as_a_workspace_id_is_422(client, tenant, form):
    """Workspaces are named "by slug or id" (sign-in, switch, OIDC). A slug spelled like
    another workspace's id made that reference ambiguous: a member of both who signs in to the
    id could land in the slug's workspace (whichever membership is older), and the OIDC start
    by that slug reached the other workspace."""
    response = client.post("/api/v1/workspaces", json={
        "name": "Lookalike", "slug": form(tenant.workspace_id),
        "admin_email": f"x{uuid.uuid4().hex[:8]}@ex.com", "admin_password": PASSWORD})

    assert response.status_code == 422, response.json
    assert "slug" in response.json["errors"]["json"]


def test_a_name_that_reads_as_an_id_gets_a_slug_that_does_not(client):
    name = str(uuid.uuid4())
    response = client.post("/api/v1/workspaces", json={
        "name": name, "admin_email": f"x{uuid.uuid4().hex[:8]}@ex.com",
        "admin_password": PASSWORD})
    assert response.status_code == 202
    assert response.json["workspace"]["slug"] == f"ws-{name}"

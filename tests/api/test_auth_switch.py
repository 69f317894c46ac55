"""POST /api/v1/auth/switch: trade a sign-in for one in another of the user's workspaces."""

from __future__ import annotations

import threading

import jwt

from codex32.services import auth
from tests.conftest import MAILBOX, PASSWORD, Tenant, sign_up


def member_of_two(client) -> tuple[Tenant, Tenant]:
    """``home``'s admin, invited into ``away`` as a viewer and accepted."""
    home, away = sign_up(client), sign_up(client)
    assert away.call("POST", "/api/v1/invitations",
                     json={"email": home.email, "role": "viewer"}).status_code == 201
    assert client.post(f"/api/v1/invitations/{MAILBOX.token_for(home.email)}/accept",
                       json={"password": PASSWORD}).status_code == 200
    return home, away


def switch(client, refresh_token: str, workspace: str):
    return client.post("/api/v1/auth/switch", json={"workspace": workspace},
                       headers={"Authorization": f"Bearer {refresh_token}"})


def test_switching_issues_a_pair_in_the_other_workspace_and_revokes_the_old(client):
    home, away = member_of_two(client)

    answer = switch(client, home.refresh_token, away.slug)

    assert answer.status_code == 200, answer.json
    claims = jwt.decode(answer.json["access_token"], options={"verify_signature": False})
    assert claims["ws"] == away.workspace_id
    me = client.get("/api/v1/auth/me",
                    headers={"Authorization": f"Bearer {answer.json['access_token']}"}).json
    assert me["role"] == "viewer" and me["workspace"]["slug"] == away.slug
    # The old sign-in is over: its access and refresh tokens open nothing.
    assert client.get("/api/v1/auth/me", headers=home.headers).status_code == 401
    assert switch(client, home.refresh_token, home.slug).status_code == 401


def test_a_workspace_one_is_not_a_member_of_is_the_sign_in_401(client):
    home = sign_up(client)
    stranger = sign_up(client)

    answer = switch(client, home.refresh_token, stranger.slug)

    assert answer.status_code == 401
    assert answer.json["message"] == auth.BAD_CREDENTIALS
    assert client.get("/api/v1/auth/me", headers=home.headers).status_code == 200


def test_an_access_token_or_a_missing_workspace_is_refused(client):
    home = sign_up(client)

    assert switch(client, home.access_token, home.slug).status_code == 401
    assert client.post("/api/v1/auth/switch", json={},
                       headers={"Authorization": f"Bearer {home.refresh_token}"}
                       ).status_code == 422


def test_a_stolen_refresh_token_switched_away_is_still_caught_when_its_owner_reuses_it(client):
    """A thief switches a stolen refresh token (even to the same workspace) for a new sign-in;
    the owner's next use of the token is reuse, which must end the thief's sign-in too, as it
    does after a plain refresh."""
    home, _away = member_of_two(client)
    stolen = switch(client, home.refresh_token, home.slug)
    assert stolen.status_code == 200
    thief = {"Authorization": f"Bearer {stolen.json['access_token']}"}
    assert client.get("/api/v1/auth/me", headers=thief).status_code == 200

    owner = client.post("/api/v1/auth/refresh",
                        headers={"Authorization": f"Bearer {home.refresh_token}"})

    assert owner.status_code == 401
    assert client.get("/api/v1/auth/me", headers=thief).status_code == 401
    assert client.post("/api/v1/auth/refresh", headers={
        "Authorization": f"Bearer {stolen.json['refresh_token']}"}).status_code == 401


def test_a_used_refresh_token_presented_to_switch_is_reuse_and_ends_the_sign_in(client):
    home, away = member_of_two(client)
    rotated = client.post("/api/v1/auth/refresh",
                          headers={"Authorization": f"Bearer {home.refresh_token}"})
    assert rotated.status_code == 200

    assert switch(client, home.refresh_token, away.slug).status_code == 401

    assert client.post("/api/v1/auth/refresh", headers={
        "Authorization": f"Bearer {rotated.json['refresh_token']}"}).status_code == 401


def _switch_concurrently(app, token: str, workspace: str, count: int) -> list:
    barrier = threading.Barrier(count)
    answers: list = []

    def run() -> None:
        client = app.test_client()
        barrier.wait()
        answers.append(switch(client, token, workspace))

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


def test_concurrent_switches_of_one_token_let_exactly_one_win(app, client):
    home, away = member_of_two(client)

    answers = _switch_concurrently(app, home.refresh_token, away.slug, 4)

    assert sorted(a.status_code for a in answers) == [200, 401, 401, 401]
    # The lost races are reuse: the winner's sign-in ends with them.
    winner = next(a for a in answers if a.status_code == 200)
    assert client.get("/api/v1/auth/me", headers={
        "Authorization": f"Bearer {winner.json['access_token']}"}).status_code == 401


def test_reuse_reaches_a_sign_in_switched_many_times_since(client):
    """The lineage is followed past one statement's batch of switched families."""
    from codex32.auth.tokens import LINEAGE_BATCH

    home, away = member_of_two(client)
    current = home.refresh_token
    for n in range(LINEAGE_BATCH + 3):
        answer = switch(client, current, (away, home)[n % 2].slug)
        assert answer.status_code == 200
        current = answer.json["refresh_token"]
    latest = jwt.decode(current, options={"verify_signature": False})

    assert client.post("/api/v1/auth/refresh", headers={
        "Authorization": f"Bearer {home.refresh_token}"}).status_code == 401

    assert client.post("/api/v1/auth/refresh", headers={
        "Authorization": f"Bearer {current}"}).status_code == 401, latest["fam"]

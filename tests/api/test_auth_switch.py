"""POST /api/v1/auth/switch: trade a sign-in for one in another of the user's workspaces."""

from __future__ import annotations

import jwt

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
    assert answer.json["message"] == "invalid email or password (a new account must verify " \
                                     "its email first)"
    assert client.get("/api/v1/auth/me", headers=home.headers).status_code == 200


def test_an_access_token_or_a_missing_workspace_is_refused(client):
    home = sign_up(client)

    assert switch(client, home.access_token, home.slug).status_code == 401
    assert client.post("/api/v1/auth/switch", json={},
                       headers={"Authorization": f"Bearer {home.refresh_token}"}
                       ).status_code == 422

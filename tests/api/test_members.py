"""Members and invitations: invite (the token goes to the invited address only), accept (new
and existing accounts, answering the same), roles, last admin."""

from __future__ import annotations

import threading
import uuid

from tests.conftest import MAILBOX, PASSWORD, sign_in, sign_up, user_id_of


def _invite(tenant, email: str, role: str = "user") -> str:
    """Invite ``email``; the token, as the invited address received it."""
    invited = tenant.call("POST", "/api/v1/invitations", json={"email": email, "role": role})
    assert invited.status_code == 201, invited.json
    return MAILBOX.token_for(email)


def test_invited_new_user_joins_with_a_password(tenant):
    member = tenant.add_member("viewer")
    listed = {m["email"]: m for m in tenant.call("GET", "/api/v1/members").json}
    assert listed[member["email"]]["role"] == "viewer"
    assert set(listed[member["email"]]) == {"user_id", "email", "role", "joined_at"}


def test_the_invitation_token_reaches_the_invited_address_and_never_the_admin(tenant):
    email = f"x{uuid.uuid4().hex[:6]}@ex.com"
    invited = tenant.call("POST", "/api/v1/invitations", json={"email": email, "role": "user"})
    assert invited.status_code == 201
    assert "token" not in invited.json
    assert MAILBOX.token_for(email) not in str(invited.json)


def test_accept_answers_the_same_for_a_new_address_and_an_account_with_right_or_wrong_password(
        client, tenant, other_tenant):
    third = sign_up(client)
    new = client.post(f"/api/v1/invitations/{_invite(tenant, f'n{uuid.uuid4().hex[:6]}@ex.com')}"
                      f"/accept", json={"password": PASSWORD})
    wrong = client.post(f"/api/v1/invitations/{_invite(tenant, other_tenant.email)}/accept",
                        json={"password": "not my password!"})
    right = client.post(f"/api/v1/invitations/{_invite(tenant, third.email)}/accept",
                        json={"password": PASSWORD})
    assert new.status_code == wrong.status_code == right.status_code == 200
    assert set(new.json) == set(wrong.json) == set(right.json) == {"workspace_id", "email",
                                                                    "message"}
    assert new.json["message"] == wrong.json["message"] == right.json["message"]


def test_an_existing_account_joins_through_the_mailed_token_and_keeps_its_password(
        client, tenant, other_tenant):
    token = _invite(tenant, other_tenant.email)
    accepted = client.post(f"/api/v1/invitations/{token}/accept",
                           json={"password": "another password 99"})
    assert accepted.status_code == 200
    # One user, two workspaces: sign in to either by slug, with the account's own password.
    for slug in (tenant.slug, other_tenant.slug):
        assert sign_in(client, other_tenant.email, slug)["access_token"]
    assert client.post("/api/v1/auth/token", json={
        "email": other_tenant.email, "password": "another password 99"}).status_code == 401


def test_accepting_verifies_the_address_so_its_pending_sign_up_joins_the_account(client, tenant):
    email = f"p{uuid.uuid4().hex[:6]}@ex.com"
    pending = client.post("/api/v1/workspaces", json={
        "name": "Pending", "admin_email": email, "admin_password": "a pending password"})
    assert pending.status_code == 202
    signup_token = MAILBOX.token_for(email)
    accepted = client.post(f"/api/v1/invitations/{_invite(tenant, email)}/accept",
                           json={"password": PASSWORD})
    assert accepted.status_code == 200
    assert sign_in(client, email, tenant.slug)["access_token"]
    verified = client.post("/api/v1/auth/verify", json={
        "token": signup_token, "password": PASSWORD})
    assert verified.status_code == 200
    assert sign_in(client, email, pending.json["workspace"]["slug"])["access_token"]


def test_a_weak_password_is_422_whether_or_not_the_address_has_an_account(client, tenant,
                                                                          other_tenant):
    for email in (other_tenant.email, f"w{uuid.uuid4().hex[:6]}@ex.com"):
        response = client.post(f"/api/v1/invitations/{_invite(tenant, email)}/accept",
                               json={"password": "short"})
        assert response.status_code == 422
        assert "password" in response.json["errors"]["json"]


def test_invitation_token_works_once(client, tenant):
    token = _invite(tenant, f"o{uuid.uuid4().hex[:6]}@ex.com")
    path = f"/api/v1/invitations/{token}/accept"
    assert client.post(path, json={"password": PASSWORD}).status_code == 200
    assert client.post(path, json={"password": PASSWORD}).status_code == 409


def test_unknown_or_expired_invitation(client, tenant, superuser):
    assert client.post("/api/v1/invitations/nope/accept",
                       json={"password": PASSWORD}).status_code == 404
    email = f"e{uuid.uuid4().hex[:6]}@ex.com"
    token = _invite(tenant, email)
    superuser.execute("UPDATE invitations SET expires_at = now() - interval '1 minute' "
                      "WHERE email = %s", (email,))
    assert client.post(f"/api/v1/invitations/{token}/accept",
                       json={"password": PASSWORD}).status_code == 410


def test_the_invitation_token_is_stored_hashed(tenant, superuser):
    email = f"h{uuid.uuid4().hex[:6]}@ex.com"
    token = _invite(tenant, email)
    stored = superuser.execute("SELECT token_hash FROM invitations WHERE email = %s",
                               (email,)).fetchone()[0]
    assert token not in stored and len(stored) == 64


def test_accept_without_a_password_is_422(client, tenant):
    token = _invite(tenant, f"m{uuid.uuid4().hex[:6]}@ex.com")
    for body in ({}, {"password": 12}, {"password": PASSWORD, "extra": 1}):
        response = client.post(f"/api/v1/invitations/{token}/accept", json=body)
        assert response.status_code == 422, body
        assert response.json["errors"]


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


def test_open_invitations_are_listed_to_admins_of_their_workspace_only(client, tenant,
                                                                        other_tenant):
    waiting = f"w{uuid.uuid4().hex[:6]}@ex.com"
    joined = f"j{uuid.uuid4().hex[:6]}@ex.com"
    _invite(tenant, waiting)
    accepted = client.post(f"/api/v1/invitations/{_invite(tenant, joined)}/accept",
                           json={"password": PASSWORD})
    assert accepted.status_code == 200

    listed = tenant.call("GET", "/api/v1/invitations")
    assert listed.status_code == 200
    assert [(i["email"], i["role"], i["invited_by"]) for i in listed.json] == [
        (waiting, "user", tenant.user_id)]
    assert "token" not in listed.json[0] and "token_hash" not in listed.json[0]
    assert other_tenant.call("GET", "/api/v1/invitations").json == []
    viewer = tenant.add_member("viewer")
    assert client.get("/api/v1/invitations", headers=viewer["headers"]).status_code == 403


def _pending_id(tenant, email: str) -> str:
    """The id of the open invitation of ``email``, as the admin's list shows it."""
    listed = tenant.call("GET", "/api/v1/invitations").json
    return next(i["id"] for i in listed if i["email"] == email)


def test_a_withdrawn_invitation_cannot_be_accepted_and_is_no_longer_listed(client, tenant):
    email = f"x{uuid.uuid4().hex[:6]}@ex.com"
    token = _invite(tenant, email, role="viewer")
    invitation_id = _pending_id(tenant, email)

    withdrawn = tenant.call("DELETE", f"/api/v1/invitations/{invitation_id}")

    assert withdrawn.status_code == 204
    assert email not in [i["email"] for i in tenant.call("GET", "/api/v1/invitations").json]
    accepted = client.post(f"/api/v1/invitations/{token}/accept", json={"password": PASSWORD})
    unknown = client.post("/api/v1/invitations/no-such-token/accept",
                          json={"password": PASSWORD})
    assert accepted.status_code == unknown.status_code == 404
    assert accepted.json == unknown.json  # a withdrawn token reveals nothing more
    assert email not in [m["email"] for m in tenant.call("GET", "/api/v1/members").json]
    # Withdrawing again finds nothing: 404, not idempotent.
    again = tenant.call("DELETE", f"/api/v1/invitations/{invitation_id}")
    assert again.status_code == 404 and again.json["message"] == "invitation not found"
    rows = tenant.call("GET", "/api/v1/audit-logs?action=invitation.withdraw").json["items"]
    assert len(rows) == 1
    assert rows[0]["resource_type"] == "invitation" and rows[0]["resource_id"] == invitation_id
    assert rows[0]["changes"] == {"email": email, "role": "viewer"}
    assert rows[0]["actor_id"] == tenant.user_id
    assert token not in str(rows[0])


def test_only_admins_withdraw_invitations(client, tenant):
    email = f"r{uuid.uuid4().hex[:6]}@ex.com"
    token = _invite(tenant, email)
    path = f"/api/v1/invitations/{_pending_id(tenant, email)}"
    for headers in (tenant.add_member("viewer")["headers"],
                    tenant.add_member("user")["headers"],
                    {"X-API-Key": tenant.api_key("api_user")}):
        refused = client.delete(path, headers=headers)
        assert refused.status_code == 403, (headers, refused.json)
    assert tenant.call("GET", "/api/v1/audit-logs?action=invitation.withdraw").json[
        "items"] == []
    assert client.post(f"/api/v1/invitations/{token}/accept",
                       json={"password": PASSWORD}).status_code == 200


def test_another_workspaces_invitation_cannot_be_withdrawn(client, tenant, other_tenant):
    email = f"v{uuid.uuid4().hex[:6]}@ex.com"
    token = _invite(tenant, email)
    invitation_id = _pending_id(tenant, email)

    foreign = other_tenant.call("DELETE", f"/api/v1/invitations/{invitation_id}")
    missing = other_tenant.call("DELETE", f"/api/v1/invitations/{uuid.uuid4()}")

    assert foreign.status_code == missing.status_code == 404
    assert foreign.json == missing.json
    assert [i["id"] for i in tenant.call("GET", "/api/v1/invitations").json] == [invitation_id]
    assert other_tenant.call("GET", "/api/v1/audit-logs?action=invitation.withdraw").json[
        "items"] == []
    # The route exists and the row is there: the 404 above was the row-level answer.
    assert tenant.call("DELETE", f"/api/v1/invitations/{invitation_id}").status_code == 204
    assert client.post(f"/api/v1/invitations/{token}/accept",
                       json={"password": PASSWORD}).status_code == 404


def test_an_accepted_invitation_cannot_be_withdrawn(client, tenant, superuser):
    email = f"a{uuid.uuid4().hex[:6]}@ex.com"
    invited = tenant.call("POST", "/api/v1/invitations", json={"email": email, "role": "user"})
    assert client.post(f"/api/v1/invitations/{MAILBOX.token_for(email)}/accept",
                       json={"password": PASSWORD}).status_code == 200

    refused = tenant.call("DELETE", f"/api/v1/invitations/{invited.json['id']}")

    assert refused.status_code == 409
    assert "remove the member" in refused.json["message"]
    assert email in [m["email"] for m in tenant.call("GET", "/api/v1/members").json]
    kept = superuser.execute("SELECT accepted_at FROM invitations WHERE id = %s",
                             (invited.json["id"],)).fetchone()
    assert kept is not None and kept[0] is not None
    assert tenant.call("GET", "/api/v1/audit-logs?action=invitation.withdraw").json[
        "items"] == []


def test_an_invitation_withdrawn_while_it_is_being_accepted_is_not_accepted(
        client, tenant, superuser, monkeypatch):
    from tenants import invitations

    email = f"race{uuid.uuid4().hex[:6]}@ex.com"
    token = _invite(tenant, email)
    lock_address = invitations.accounts.lock_address

    def withdrawn_meanwhile(session, address):  # after the lookup, before the claim
        superuser.execute("DELETE FROM invitations WHERE email = %s", (email,))
        lock_address(session, address)

    monkeypatch.setattr(invitations.accounts, "lock_address", withdrawn_meanwhile)
    accepted = client.post(f"/api/v1/invitations/{token}/accept", json={"password": PASSWORD})

    assert accepted.status_code == 404, accepted.json
    assert email not in [m["email"] for m in tenant.call("GET", "/api/v1/members").json]
    assert superuser.execute("SELECT count(*) FROM users WHERE email = %s",
                             (email,)).fetchone()[0] == 0


def test_a_removed_member_cannot_rejoin_through_another_invitation_to_the_address(
        client, tenant):
    """Two invitations to one address (a resent one, or a second role); accepting one makes
    the address a member, so the other is moot and must close with it: otherwise, once the
    member is removed, the stale token brings them straight back (with its role)."""
    email = f"twice-{uuid.uuid4().hex[:6]}@ex.com"
    as_admin = _invite(tenant, email, "admin")
    as_viewer = _invite(tenant, email, "viewer")
    joined = client.post(f"/api/v1/invitations/{as_viewer}/accept", json={"password": PASSWORD})
    assert joined.status_code == 200
    open_now = tenant.call("GET", "/api/v1/invitations").json
    assert [i["email"] for i in open_now if i["email"] == email] == []
    member = sign_in(client, email, tenant.slug)
    assert tenant.call("DELETE", f"/api/v1/members/{user_id_of(member)}").status_code == 204

    rejoined = client.post(f"/api/v1/invitations/{as_admin}/accept", json={"password": PASSWORD})

    assert rejoined.status_code == 404
    assert email not in [m["email"] for m in tenant.call("GET", "/api/v1/members").json]
    accepted = tenant.call("GET", "/api/v1/audit-logs?action=invitation.accept").json["items"]
    assert len(accepted) == 1 and accepted[0]["changes"]["closed_invitations"] == 1


def test_invitation_mails_to_one_address_are_bounded(client, tenant):
    """Inviting is how a workspace makes the platform mail an address; unbounded, one admin
    could send an address hundreds of mails a minute (the per-caller rate limit). A workspace
    sends one address at most ten an hour, as sign-ups do; other addresses are unaffected."""
    email = f"bombed-{uuid.uuid4().hex[:6]}@ex.com"
    answers = [tenant.call("POST", "/api/v1/invitations", json={"email": email, "role": "viewer"})
               for _ in range(11)]

    assert [a.status_code for a in answers] == [201] * 10 + [429]
    assert int(answers[-1].headers["Retry-After"]) >= 1
    assert len(MAILBOX.tokens_for(email)) == 10
    listed = [i for i in tenant.call("GET", "/api/v1/invitations").json if i["email"] == email]
    assert len(listed) == 10
    other = f"other-{uuid.uuid4().hex[:6]}@ex.com"
    assert tenant.call("POST", "/api/v1/invitations",
                       json={"email": other, "role": "viewer"}).status_code == 201



def test_two_admins_demoting_each_other_at_once_leave_one_admin_and_a_409(app, tenant):
    """Each demotion locked its target first and the admins next: two admins demoting each
    other at once could deadlock, and one got a retryable error instead of the last-admin 409."""
    second = tenant.add_member("admin")
    headers = {tenant.user_id: tenant.headers, second["user_id"]: second["headers"]}
    for _ in range(10):
        barrier, statuses = threading.Barrier(2), []

        def demote(caller: str, target: str, barrier=barrier, statuses=statuses) -> None:
            client = app.test_client()
            barrier.wait()
            statuses.append(client.patch(f"/api/v1/members/{target}", json={"role": "user"},
                                         headers=headers[caller]).status_code)

        threads = [threading.Thread(target=demote, args=(caller, target)) for caller, target
                   in ((tenant.user_id, second["user_id"]), (second["user_id"], tenant.user_id))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        # The later one is refused: 409 (the last admin), or 403 when the earlier demotion
        # had already taken its caller's admin role as it authenticated; never a 5xx.
        assert sorted(statuses)[0] == 200 and sorted(statuses)[1] in (403, 409), statuses
        roles = {m["user_id"]: m["role"] for m in tenant.call("GET", "/api/v1/members").json}
        (admin,) = [user for user, role in roles.items() if role == "admin"]
        (demoted,) = [user for user in headers if user != admin]
        assert tenant.client.patch(f"/api/v1/members/{demoted}", json={"role": "admin"},
                                   headers=headers[admin]).status_code == 200

"""Signing in with a workspace's own OpenID provider, against a real provider on 127.0.0.1:
admission, linking by verified email only, and every way an ID token or a state can be wrong.

The app's operator allows private targets (the test settings' default), which is what lets a
workspace's discovery URL name 127.0.0.1 here; test_providers.py shows it refused otherwise.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid

import pytest
from joserfc.jwk import RSAKey

from codex32.services.oidc import discovery
from tests.conftest import MAILBOX, sign_up
from tests.oidc.conftest import (
    authorize_at_provider,
    claims_of,
    flow,
    new_sub,
    start,
)

pytestmark = pytest.mark.xdist_group("oidc")


def _add_provider(tenant, provider, provider_id="corp", client_id=None):
    response = tenant.call("PUT", f"/api/v1/oidc-providers/{provider_id}", json={
        "name": "Corp", "discovery_url": provider.base,
        "client_id": client_id or f"client-{tenant.slug}", "client_secret": "s3cret-value"})
    assert response.status_code in (200, 201), response.json
    return response.json


def _allow_domain(tenant, domain="corp.example", role="user"):
    response = tenant.call("PATCH", "/api/v1/workspace", json={
        "settings": {"oidc": {"allowed_domains": [domain], "default_role": role}}})
    assert response.status_code == 200, response.json


@pytest.fixture()
def corp(client, provider):
    """A workspace with its own provider ``corp`` that admits verified corp.example
    addresses as users."""
    tenant = sign_up(client)
    _add_provider(tenant, provider)
    _allow_domain(tenant)
    return tenant


def test_a_new_user_is_admitted_by_domain_and_gets_the_platforms_tokens(client, provider, corp):
    sub = new_sub()
    response = flow(client, provider, "corp", corp.slug, sub,
                    email=f"{sub}@corp.example", email_verified=True)
    assert response.status_code == 200, response.json
    assert response.json["token_type"] == "bearer"
    claims = claims_of(response.json)
    assert claims["ws"] == corp.workspace_id
    me = client.get("/api/v1/auth/me",
                    headers={"Authorization": f"Bearer {response.json['access_token']}"})
    assert me.status_code == 200
    assert me.json["role"] == "user" and me.json["user"]["email"] == f"{sub}@corp.example"
    # Audited like a password sign-in, in the workspace.
    logins = corp.call("GET", "/api/v1/audit-logs?action=auth.login").json["items"]
    mine = [e for e in logins if e["changes"].get("method") == "oidc"]
    assert mine and mine[0]["changes"]["admitted_by"] == "domain"
    assert mine[0]["actor_id"] == claims["sub"]
    # The same identity signs in again as the same account.
    again = flow(client, provider, "corp", corp.slug, sub,
                 email=f"{sub}@corp.example", email_verified=True)
    assert claims_of(again.json)["sub"] == claims["sub"]


def test_password_sign_in_is_audited_too(client, corp):
    logins = corp.call("GET", "/api/v1/audit-logs?action=auth.login").json["items"]
    assert any(e["changes"] == {"method": "password"} for e in logins)


def test_an_existing_verified_member_is_linked_by_verified_email(client, provider, corp):
    member = corp.add_member("viewer")
    sub = new_sub()
    response = flow(client, provider, "corp", corp.slug, sub,
                    email=member["email"], email_verified=True)
    assert response.status_code == 200, response.json
    assert claims_of(response.json)["sub"] == member["user_id"]
    me = client.get("/api/v1/auth/me",
                    headers={"Authorization": f"Bearer {response.json['access_token']}"})
    assert me.json["role"] == "viewer"


def test_an_unverified_email_is_never_linked(client, provider, corp):
    member = corp.add_member("user")
    response = flow(client, provider, "corp", corp.slug, new_sub(),
                    email=member["email"], email_verified=False)
    assert response.status_code == 403
    assert "not verified" in response.json["message"]
    # Nor admitted by its domain.
    sub = new_sub()
    response = flow(client, provider, "corp", corp.slug, sub, email=f"{sub}@corp.example")
    assert response.status_code == 403


def test_an_invitation_only_workspace_refuses_strangers_and_admits_invited(client, provider):
    tenant = sign_up(client)
    _add_provider(tenant, provider)
    sub = new_sub()
    refused = flow(client, provider, "corp", tenant.slug, sub,
                   email=f"{sub}@corp.example", email_verified=True)
    assert refused.status_code == 403 and "invitation" in refused.json["message"]
    invited = f"{new_sub()}@elsewhere.example"
    assert tenant.call("POST", "/api/v1/invitations",
                       json={"email": invited, "role": "viewer"}).status_code == 201
    MAILBOX.token_for(invited)
    admitted = flow(client, provider, "corp", tenant.slug, new_sub(),
                    email=invited, email_verified=True)
    assert admitted.status_code == 200, admitted.json
    me = client.get("/api/v1/auth/me",
                    headers={"Authorization": f"Bearer {admitted.json['access_token']}"})
    assert me.json["role"] == "viewer"


def test_a_workspace_provider_never_takes_over_an_account_outside_its_workspace(
        client, provider, corp, other_tenant):
    """The tenant's provider asserts another workspace's admin's address: a separate,
    password-less account is admitted, never the existing one."""
    refused = flow(client, provider, "corp", corp.slug, new_sub(),
                   email=other_tenant.email, email_verified=True)
    assert refused.status_code == 403  # not in the allowed domain, not invited
    _allow_domain(corp, other_tenant.email.split("@")[1])
    response = flow(client, provider, "corp", corp.slug, new_sub(),
                    email=other_tenant.email, email_verified=True)
    assert response.status_code == 200, response.json
    assert claims_of(response.json)["sub"] != other_tenant.user_id
    # The address still belongs to its owner, whose password still signs in.
    assert client.post("/api/v1/auth/token", json={
        "email": other_tenant.email, "password": "correct horse battery staple"}
    ).status_code == 200


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unsigned(header, claims):
    return f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}."


def _hmac_signed(header, claims, secret: bytes) -> str:
    """Made by hand: joserfc itself refuses a public key as an HMAC secret."""
    signing_input = _unsigned(header, claims)[:-1]
    digest = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(digest)}"


@pytest.mark.parametrize("case", ["forged", "wrong_audience", "expired", "wrong_nonce",
                                  "wrong_issuer", "future_iat", "alg_none", "hs256_public_key",
                                  "no_nonce"])
def test_a_bad_id_token_is_refused(client, provider, corp, case):
    def rewrite(claims):
        kid = provider.signing_key().kid
        if case == "alg_none":
            return _unsigned({"alg": "none", "kid": kid}, claims)
        if case == "hs256_public_key":  # the classic confusion: the public key as HMAC secret
            public = provider.signing_key().as_pem(private=False)
            return _hmac_signed({"alg": "HS256", "kid": kid}, claims, public)
        if case == "no_nonce":
            return {k: v for k, v in claims.items() if k != "nonce"}, None
        now = int(time.time())
        if case == "forged":  # the provider's key id, another key
            key = RSAKey.generate_key(2048, parameters={"kid": provider.signing_key().kid})
            return claims, key
        if case == "wrong_audience":
            return {**claims, "aud": "someone-else"}, None
        if case == "expired":
            return {**claims, "iat": now - 7200, "exp": now - 3600}, None
        if case == "wrong_nonce":
            return {**claims, "nonce": "another-sign-in"}, None
        if case == "wrong_issuer":
            return {**claims, "iss": "http://127.0.0.1:1"}, None
        return {**claims, "iat": now + 3600, "exp": now + 7200}, None

    provider.rewrite = rewrite
    sub = new_sub()
    response = flow(client, provider, "corp", corp.slug, sub,
                    email=f"{sub}@corp.example", email_verified=True)
    assert response.status_code == 401, response.json
    assert response.json["code"] == 401


def test_a_state_works_once(client, provider, corp):
    sub = new_sub()
    url = start(client, "corp", corp.slug)
    callback = authorize_at_provider(provider, url, sub, email=f"{sub}@corp.example",
                                     email_verified=True)
    assert client.get(callback).status_code == 200
    replayed = client.get(callback)
    assert replayed.status_code == 401
    assert "unknown, used or expired" in replayed.json["message"]


def test_a_state_altered_to_name_another_workspace_finds_nothing(client, provider, corp,
                                                                   other_tenant):
    sub = new_sub()
    url = start(client, "corp", corp.slug)
    callback = authorize_at_provider(provider, url, sub, email=f"{sub}@corp.example",
                                     email_verified=True)
    forged = callback.replace(f"state={corp.workspace_id}",
                              f"state={other_tenant.workspace_id}")
    assert forged != callback
    assert client.get(forged).status_code == 401


def test_a_code_injected_into_another_sign_in_fails_pkce(client, provider, corp):
    """An attacker's sign-in (its own state and verifier) fed the victim's code: the provider
    refuses the verifier, so the stolen code is useless."""
    sub = new_sub()
    victims = start(client, "corp", corp.slug)
    victim_callback = authorize_at_provider(provider, victims, sub,
                                            email=f"{sub}@corp.example", email_verified=True)
    victim_code = victim_callback.split("code=")[1].split("&")[0]
    attackers = start(client, "corp", corp.slug)
    attacker_state = attackers.split("state=")[1].split("&")[0]
    response = client.get(f"/api/v1/auth/oidc/corp/callback?code={victim_code}"
                          f"&state={attacker_state}")
    assert response.status_code == 401
    assert "refused" in response.json["message"]


def test_a_rotated_provider_key_is_fetched_again(client, provider, corp):
    sub = new_sub()
    fetched = provider.key_requests
    for _ in range(2):  # the keys are fetched once, then cached
        assert flow(client, provider, "corp", corp.slug, sub, email=f"{sub}@corp.example",
                    email_verified=True).status_code == 200
    assert provider.key_requests == fetched + 1
    before = provider.signing_key().kid
    provider.rotate_key()
    assert provider.signing_key().kid != before
    response = flow(client, provider, "corp", corp.slug, sub, email=f"{sub}@corp.example",
                    email_verified=True)
    assert response.status_code == 200, response.json
    assert provider.key_requests == fetched + 2


def test_unknown_key_ids_refetch_the_keys_at_most_every_few_seconds(client, provider, corp,
                                                                     monkeypatch):
    monkeypatch.setattr(discovery, "MIN_REFETCH_SECONDS", 10.0)
    sub = new_sub()
    assert flow(client, provider, "corp", corp.slug, sub, email=f"{sub}@corp.example",
                email_verified=True).status_code == 200
    fetched = provider.key_requests
    provider.rewrite = lambda claims: (claims, RSAKey.generate_key(
        2048, parameters={"kid": f"unknown-{uuid.uuid4().hex}"}))
    for _ in range(3):
        assert flow(client, provider, "corp", corp.slug, sub, email=f"{sub}@corp.example",
                    email_verified=True).status_code == 401
    assert provider.key_requests == fetched  # the keys were fetched under 10 s ago


def test_workspace_as_provider_cannot_sign_into_workspace_b(client, provider, corp,
                                                            other_tenant):
    _allow_domain(other_tenant)
    response = client.get(f"/api/v1/auth/oidc/corp/authorize?workspace={other_tenant.slug}")
    assert response.status_code == 404
    # B's own provider with the same issuer: A's identities mean nothing in B.
    _add_provider(other_tenant, provider, client_id=f"client-{corp.slug}")
    sub = new_sub()
    in_a = flow(client, provider, "corp", corp.slug, sub, email=f"{sub}@corp.example",
                email_verified=True)
    assert claims_of(in_a.json)["ws"] == corp.workspace_id
    members_b = {m["user_id"] for m in other_tenant.call("GET", "/api/v1/members").json}
    assert claims_of(in_a.json)["sub"] not in members_b


def test_an_authorization_response_from_another_issuer_is_refused(client, provider, corp):
    sub = new_sub()
    url = start(client, "corp", corp.slug)
    callback = authorize_at_provider(provider, url, sub, email=f"{sub}@corp.example",
                                     email_verified=True)
    before = provider.token_requests
    response = client.get(f"{callback}&iss=https://idp.attacker.example")
    assert response.status_code == 401 and "another issuer" in response.json["message"]
    assert provider.token_requests == before  # the code went nowhere


def test_a_callback_for_another_provider_is_refused(client, provider, corp):
    _add_provider(corp, provider, provider_id="corp-two")
    sub = new_sub()
    url = start(client, "corp", corp.slug)
    callback = authorize_at_provider(provider, url, sub, email=f"{sub}@corp.example",
                                     email_verified=True)
    assert client.get(callback.replace("/oidc/corp/", "/oidc/corp-two/")).status_code == 401


def test_an_unknown_workspace_or_provider_is_404(client, corp):
    assert client.get(f"/api/v1/auth/oidc/nope/authorize?workspace={corp.slug}"
                      ).status_code == 404
    assert client.get(f"/api/v1/auth/oidc/corp/authorize?workspace={uuid.uuid4()}"
                      ).status_code == 404
    assert client.get("/api/v1/auth/oidc/corp/authorize?workspace=no-such-ws"
                      ).status_code == 404


def test_a_provider_error_spends_the_state(client, provider, corp):
    url = start(client, "corp", corp.slug)
    state = url.split("state=")[1].split("&")[0]
    denied = client.get(f"/api/v1/auth/oidc/corp/callback?error=access_denied&state={state}")
    assert denied.status_code == 401
    assert client.get(f"/api/v1/auth/oidc/corp/callback?code=x&state={state}"
                      ).status_code == 401


def test_sign_in_providers_are_listed(client, corp):
    listed = client.get(f"/api/v1/auth/oidc/providers?workspace={corp.slug}")
    assert listed.status_code == 200
    assert {"id": "corp", "name": "Corp", "scope": "workspace"} in listed.json


def test_the_maintenance_sweep_deletes_expired_sign_ins_in_every_workspace(
        app, client, provider, superuser):
    """Abandoned sign-ins of workspaces where nobody signs in again are swept by the worker's
    maintenance pass; one still valid stays."""
    from codex32.execution import sweeps
    from codex32.runtime import KEY

    tenants = [sign_up(client) for _ in range(2)]
    for tenant in tenants:
        _add_provider(tenant, provider)
        start(client, "corp", tenant.slug)
        start(client, "corp", tenant.slug)
    ids = [tenant.workspace_id for tenant in tenants]
    superuser.execute("UPDATE oidc_sign_ins SET expires_at = now() - interval '1 minute' "
                      "WHERE workspace_id = ANY(%s::uuid[])", (ids,))
    start(client, "corp", tenants[0].slug)  # still valid; it also cleared its workspace's
    assert sweeps.expired_oidc_sign_ins(app.extensions[KEY].sessions) >= 2
    left = superuser.execute("SELECT workspace_id::text, expires_at > now() FROM oidc_sign_ins "
                             "WHERE workspace_id = ANY(%s::uuid[])", (ids,)).fetchall()
    assert left == [(ids[0], True)]


def test_joining_through_an_invitation_closes_the_addresss_other_invitations(client, provider):
    """As accepting by token does: the invitation an OIDC sign-in takes leaves no other open
    invitation to that address, whose token would bring the member back after a removal."""
    tenant = sign_up(client)
    _add_provider(tenant, provider)
    invited = f"{new_sub()}@elsewhere.example"
    for role in ("admin", "viewer"):
        assert tenant.call("POST", "/api/v1/invitations",
                           json={"email": invited, "role": role}).status_code == 201
    stale = MAILBOX.tokens_for(invited)[0]

    admitted = flow(client, provider, "corp", tenant.slug, new_sub(), email=invited,
                    email_verified=True)

    assert admitted.status_code == 200, admitted.json
    assert invited not in [i["email"] for i in tenant.call("GET", "/api/v1/invitations").json]
    signed_in = tenant.call("GET", "/api/v1/audit-logs?action=auth.login").json["items"][0]
    assert signed_in["changes"]["closed_invitations"] == 1
    user = claims_of(admitted.json)["sub"]
    assert tenant.call("DELETE", f"/api/v1/members/{user}").status_code == 204
    assert client.post(f"/api/v1/invitations/{stale}/accept",
                       json={"password": "a long enough password 7"}).status_code == 404


def _switch(client, refresh_token: str, workspace: str):
    return client.post("/api/v1/auth/switch", json={"workspace": workspace},
                       headers={"Authorization": f"Bearer {refresh_token}"})


def test_a_workspace_providers_sign_in_cannot_be_switched_into_the_members_other_workspaces(
        client, provider, corp, other_tenant):
    """A workspace's own provider speaks for its workspace only: its admin may sign in as a
    member there (they control it already), but that sign-in must not be traded for one in
    the member's other workspaces, which that admin has no say in."""
    token = MAILBOX.token_for  # the member accepts an invitation to corp, as anyone might
    assert corp.call("POST", "/api/v1/invitations",
                     json={"email": other_tenant.email, "role": "viewer"}).status_code == 201
    assert client.post(f"/api/v1/invitations/{token(other_tenant.email)}/accept",
                       json={"password": "irrelevant password 1"}).status_code == 200
    # corp's admin makes its provider assert the member's verified address.
    impersonated = flow(client, provider, "corp", corp.slug, new_sub(),
                        email=other_tenant.email, email_verified=True)
    assert impersonated.status_code == 200, impersonated.json
    assert claims_of(impersonated.json)["sub"] == other_tenant.user_id

    switched = _switch(client, impersonated.json["refresh_token"], other_tenant.slug)

    assert switched.status_code == 403, switched.json
    assert "this workspace only" in switched.json["message"]
    # Still so after a refresh (the pair it rotates into keeps the restriction) ...
    rotated = client.post("/api/v1/auth/refresh", headers={
        "Authorization": f"Bearer {impersonated.json['refresh_token']}"})
    assert rotated.status_code == 200
    assert _switch(client, rotated.json["refresh_token"], other_tenant.slug).status_code == 403
    # ... and the refusal spent nothing: the sign-in goes on in corp.
    assert client.get("/api/v1/auth/me", headers={
        "Authorization": f"Bearer {rotated.json['access_token']}"}).status_code == 200

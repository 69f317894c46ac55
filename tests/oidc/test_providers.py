"""Platform providers (CODEX32_OIDC_PROVIDERS) and a workspace's own: configuration, secrets
kept write-only and encrypted, linking through a platform provider, and the outbound rule for
a workspace's discovery URL (private targets only where the operator allows them)."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import pytest

from codex32.config import ConfigError, Settings
from tests.conftest import PASSWORD, sign_in, sign_up, verify_email
from tests.oidc.conftest import admitted_by_domain, claims_of, flow, new_sub, start

pytestmark = pytest.mark.xdist_group("oidc")


@pytest.fixture()
def platform_client(platform_app):
    return platform_app.test_client()


def test_the_platform_provider_links_an_existing_account_by_verified_email(
        platform_client, provider):
    tenant = sign_up(platform_client)
    response = flow(platform_client, provider, "corp-sso", tenant.slug, new_sub(),
                    email=tenant.email, email_verified=True)
    assert response.status_code == 200, response.json
    assert claims_of(response.json)["sub"] == tenant.user_id
    me = platform_client.get("/api/v1/auth/me", headers={
        "Authorization": f"Bearer {response.json['access_token']}"})
    assert me.json["role"] == "admin"


def test_the_platform_provider_never_links_an_unverified_email(platform_client, provider):
    tenant = sign_up(platform_client)
    for verified in (False, None, "yes"):
        claims = {"email": tenant.email}
        if verified is not None:
            claims["email_verified"] = verified
        response = flow(platform_client, provider, "corp-sso", tenant.slug, new_sub(),
                        **claims)
        assert response.status_code == 403, (verified, response.json)


def test_the_platform_provider_admits_a_new_verified_account_by_domain(platform_client,
                                                                       provider):
    tenant = sign_up(platform_client)
    tenant.call("PATCH", "/api/v1/workspace", json={
        "settings": {"oidc": {"allowed_domains": ["corp.example"], "default_role": "viewer"}}})
    email, role = admitted_by_domain(platform_client, provider, tenant)
    assert role == "viewer"
    # An account made by a provider has no password: password sign-in answers the usual 401.
    assert platform_client.post("/api/v1/auth/token", json={
        "email": email, "password": PASSWORD}).status_code == 401


def test_platform_providers_are_listed_without_a_workspace(platform_client):
    listed = platform_client.get("/api/v1/auth/oidc/providers")
    assert listed.status_code == 200
    assert listed.json == [{"id": "corp-sso", "name": "Corp SSO", "scope": "platform"}]


def test_a_workspace_cannot_take_a_platform_providers_id(platform_client, provider):
    tenant = sign_up(platform_client)
    response = tenant.call("PUT", "/api/v1/oidc-providers/corp-sso", json={
        "discovery_url": provider.base, "client_id": "x"})
    assert response.status_code == 409


def test_a_client_secret_is_write_only_and_encrypted(client, provider, tenant, superuser):
    secret = "very-secret-client-value"
    created = tenant.call("PUT", "/api/v1/oidc-providers/corp", json={
        "discovery_url": provider.base, "client_id": "c1", "client_secret": secret})
    assert created.status_code == 201, created.json
    assert created.json["client_secret"] == "********"
    assert created.json["discovery_url"] == (
        f"{provider.base}/.well-known/openid-configuration")
    updated = tenant.call("PUT", "/api/v1/oidc-providers/corp", json={
        "discovery_url": provider.base, "client_id": "c2"})
    assert updated.status_code == 200 and updated.json["client_secret"] == "********"
    listed = tenant.call("GET", "/api/v1/oidc-providers").json
    assert secret not in json.dumps(listed)
    stored = superuser.execute("SELECT client_secret FROM oidc_providers WHERE workspace_id = %s",
                               (tenant.workspace_id,)).fetchone()[0]
    assert stored and secret not in stored
    audit = superuser.execute("SELECT changes::text FROM audit_logs WHERE workspace_id = %s "
                              "AND resource_type = 'oidc_provider'",
                              (tenant.workspace_id,)).fetchall()
    assert len(audit) == 2 and all(secret not in row[0] for row in audit)
    # The kept secret still authenticates the client at the token endpoint.
    tenant.call("PATCH", "/api/v1/workspace", json={
        "settings": {"oidc": {"allowed_domains": ["corp.example"]}}})
    sub = new_sub()
    assert flow(client, provider, "corp", tenant.slug, sub, email=f"{sub}@corp.example",
                email_verified=True).status_code == 200
    assert tenant.call("DELETE", "/api/v1/oidc-providers/corp").status_code == 204
    assert client.get(f"/api/v1/auth/oidc/corp/authorize?workspace={tenant.slug}"
                      ).status_code == 404


def test_bad_provider_input_is_422(tenant):
    for body in ({"discovery_url": "ftp://idp.example", "client_id": "x"},
                 {"discovery_url": "https://user:pw@idp.example", "client_id": "x"},
                 {"discovery_url": "https://idp.example"},
                 {"discovery_url": "https://idp.example", "client_id": "x", "scopes": ["admin"]}):
        assert tenant.call("PUT", "/api/v1/oidc-providers/corp", json=body
                           ).status_code == 422, body
    assert tenant.call("PUT", "/api/v1/oidc-providers/Not_An_Id", json={
        "discovery_url": "https://idp.example", "client_id": "x"}).status_code == 422


def test_a_private_discovery_url_is_refused_unless_the_operator_allows_it(make_app, provider):
    strict = make_app(allow_private_urls=False).test_client()
    tenant = sign_up(strict)
    port = provider.base.rsplit(":", 1)[1]
    for url in (provider.base, f"https://127.0.0.1:{port}/", f"https://[::1]:{port}/",
                "https://169.254.169.254/", "https://10.0.0.5/"):
        response = tenant.call("PUT", "/api/v1/oidc-providers/corp", json={
            "discovery_url": url, "client_id": "x"})
        assert response.status_code == 422, (url, response.json)
    # A name passes the save, but resolves to loopback when the sign-in connects: refused.
    saved = tenant.call("PUT", "/api/v1/oidc-providers/corp", json={
        "discovery_url": f"https://localhost:{port}/", "client_id": "x"})
    assert saved.status_code == 201, saved.json
    response = strict.get(f"/api/v1/auth/oidc/corp/authorize?workspace={tenant.slug}")
    assert response.status_code == 502
    assert "private network targets are not allowed" in response.json["message"]


def test_an_unreachable_provider_is_502(client, tenant):
    tenant.call("PUT", "/api/v1/oidc-providers/gone", json={
        "discovery_url": "http://127.0.0.1:9/", "client_id": "x"})
    response = client.get(f"/api/v1/auth/oidc/gone/authorize?workspace={tenant.slug}")
    assert response.status_code == 502 and response.json["code"] == 502


def test_the_authorization_request_carries_state_nonce_and_s256_pkce(client, provider, tenant):
    tenant.call("PUT", "/api/v1/oidc-providers/corp", json={
        "discovery_url": provider.base, "client_id": "c1"})
    url = start(client, "corp", tenant.slug)
    query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    assert query["response_type"] == "code" and query["client_id"] == "c1"
    assert query["code_challenge_method"] == "S256" and len(query["code_challenge"]) == 43
    assert query["state"].startswith(f"{tenant.workspace_id}.") and len(query["nonce"]) >= 32
    assert "code_verifier" not in query
    assert query["redirect_uri"].endswith("/api/v1/auth/oidc/corp/callback")


def test_oidc_providers_setting_is_parsed_and_checked(tmp_path):
    value = json.dumps([{"id": "google", "name": "Google",
                         "discovery_url": "https://accounts.google.com",
                         "client_id": "abc", "client_secret": "shh"}])
    settings = Settings.from_env({"CODEX32_ENV": "test", "CODEX32_OIDC_PROVIDERS": value,
                                  "CODEX32_DATA_DIR": str(tmp_path)})
    (google,) = settings.oidc_providers
    assert google.client_secret == "shh" and "shh" not in repr(settings)
    for bad in ("{", "{}", '[{"id": "Bad Id", "discovery_url": "https://x", "client_id": "c"}]',
                '[{"id": "a", "discovery_url": "ftp://x", "client_id": "c"}]',
                '[{"id": "a", "discovery_url": "https://x"}]',
                '[{"id": "a", "discovery_url": "https://x", "client_id": "c", "extra": 1}]'):
        with pytest.raises(ConfigError):
            Settings.from_env({"CODEX32_ENV": "test", "CODEX32_OIDC_PROVIDERS": bad,
                               "CODEX32_DATA_DIR": str(tmp_path)})
    # In production the callback address must not come from the request's Host header.
    production = Settings(env="production", oidc_providers=(google,))
    with pytest.raises(ConfigError, match="CODEX32_PUBLIC_URL"):
        production.validate()


def test_a_pending_sign_up_stays_verifiable_after_a_provider_sign_in_claims_its_address(
        platform_client, provider):
    """A password sign-up, not yet verified; then the same person signs in elsewhere through a
    platform provider that vouches for the address (a password-less account now holds it).
    The mailed token and the sign-up's password still verify the sign-up: its workspace joins
    that account, which can then sign in with the password too."""
    admitting = sign_up(platform_client)
    admitting.call("PATCH", "/api/v1/workspace", json={
        "settings": {"oidc": {"allowed_domains": ["corp.example"], "default_role": "user"}}})
    email = f"{new_sub()}@corp.example"
    pending = platform_client.post("/api/v1/workspaces", json={
        "name": f"Pending {new_sub()}", "admin_email": email, "admin_password": PASSWORD})
    assert pending.status_code == 202, pending.json
    signed_in = flow(platform_client, provider, "corp-sso", admitting.slug, new_sub(),
                     email=email, email_verified=True)
    assert signed_in.status_code == 200, signed_in.json
    verified = verify_email(platform_client, email)
    holder = claims_of(signed_in.json)["sub"]
    assert verified["user"]["id"] == holder
    for workspace in (verified["workspace"]["slug"], admitting.slug):
        pair = sign_in(platform_client, email, workspace)
        assert claims_of(pair)["sub"] == holder

"""A real OpenID provider on 127.0.0.1 (oidc-provider-mock, authlib's authorization server, in
a thread) and the browser's part of the authorization code flow.

The mock does not enforce PKCE, so a small WSGI layer in front of it does what RFC 7636 asks
of a provider: it remembers each code's S256 challenge and refuses a token request whose
verifier does not match (``invalid_grant``). The same layer can rewrite the ID token in the
token endpoint's answer (re-signed with the provider's key, or another), which is how the
tests make a provider answer an expired, misaddressed, forged or replayed token.
"""

from __future__ import annotations

import io
import json
import threading
import uuid
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import flask
import httpx2
import jwt as pyjwt
import pytest
import werkzeug.serving
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.jwk import RSAKey

from codex32.services.oidc import discovery
from tests.conftest import make_settings

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import oidc_provider_mock
    from authlib import jose as authlib_jose

# Claims in, (claims, signing key or None for the provider's) or a whole token out.
Rewrite = Callable[[dict[str, Any]], "tuple[dict[str, Any], RSAKey | None] | str"]


@dataclass
class MockProvider:
    """The running provider, its storage (users, signing key) and the test's hooks."""

    base: str
    storage: Any
    challenges: dict[str, str] = field(default_factory=dict)
    rewrite: Rewrite | None = None
    token_requests: int = 0
    key_requests: int = 0

    def signing_key(self) -> RSAKey:
        return RSAKey.import_key(self.storage.jwk.as_dict(is_private=True))

    def rotate_key(self) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.storage.jwk = authlib_jose.RSAKey.generate_key(is_private=True)

    def set_user(self, sub: str, **claims: Any) -> None:
        response = httpx2.put(f"{self.base}/users/{sub}", json=claims)
        assert response.status_code == 204, response.text


def _pkce_and_rewrites(app: flask.Flask, state: MockProvider):
    """WSGI middleware: S256 PKCE enforcement and ID-token rewriting (see the module)."""

    def middleware(environ, start_response):
        path = environ.get("PATH_INFO", "")
        if path == "/jwks":
            state.key_requests += 1
        if path == "/oauth2/authorize" and environ["REQUEST_METHOD"] == "POST":
            query = parse_qs(environ.get("QUERY_STRING", ""))
            challenge = (query.get("code_challenge") or [""])[0]
            captured: dict[str, Any] = {}

            def remember(status, headers, exc_info=None):
                captured["headers"] = headers
                return start_response(status, headers, exc_info)

            body = list(app(environ, remember))
            location = dict(captured.get("headers") or []).get("Location", "")
            code = (parse_qs(urlsplit(location).query).get("code") or [""])[0]
            if code:
                state.challenges[code] = challenge
            return body
        if path == "/oauth2/token":
            state.token_requests += 1
            length = int(environ.get("CONTENT_LENGTH") or 0)
            raw = environ["wsgi.input"].read(length)
            form = parse_qs(raw.decode())
            code = (form.get("code") or [""])[0]
            verifier = (form.get("code_verifier") or [""])[0]
            expected = state.challenges.pop(code, None)
            if not expected or not verifier or create_s256_code_challenge(verifier) != expected:
                start_response("400 Bad Request", [("Content-Type", "application/json")])
                return [b'{"error": "invalid_grant"}']
            environ["wsgi.input"] = io.BytesIO(raw)
            captured = {}

            def keep(status, headers, exc_info=None):
                captured["status"], captured["headers"] = status, headers
                return lambda data: None

            body = b"".join(app(environ, keep))
            if state.rewrite is not None and captured["status"].startswith("200"):
                answer = json.loads(body)
                claims = jwt.decode(answer["id_token"], state.signing_key()).claims
                rewritten = state.rewrite(claims)
                if isinstance(rewritten, str):
                    answer["id_token"] = rewritten
                else:
                    claims, key = rewritten
                    key = key or state.signing_key()
                    answer["id_token"] = jwt.encode({"alg": "RS256", "kid": key.kid}, claims,
                                                    key)
                body = json.dumps(answer).encode()
            headers = [(k, v) for k, v in captured["headers"] if k.lower() != "content-length"]
            start_response(captured["status"], [*headers, ("Content-Length", str(len(body)))])
            return [body]
        return app(environ, start_response)

    return middleware


@pytest.fixture(scope="module")
def provider() -> Iterator[MockProvider]:
    """The provider, listening on 127.0.0.1 only, for the module's tests."""
    app = oidc_provider_mock.app(require_nonce=True)
    with app.test_request_context():
        app.preprocess_request()
        storage = flask.g.oidc_provider_mock_storage
    server = werkzeug.serving.make_server("127.0.0.1", 0, app, threaded=True)
    state = MockProvider(base=f"http://127.0.0.1:{server.server_port}", storage=storage)
    server.app = _pkce_and_rewrites(app, state)  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                              daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        thread.join(5)
        server.server_close()


@pytest.fixture(autouse=True)
def _fresh_provider_state(provider, monkeypatch):
    """Each test starts with no rewrite and empty discovery/key caches."""
    provider.rewrite = None
    discovery.CACHE.clear()
    monkeypatch.setattr(discovery, "MIN_REFETCH_SECONDS", 0.0)


@pytest.fixture(scope="module")
def platform_app(database, tmp_path_factory, provider):
    """An app whose operator configured the mock as the platform provider ``corp-sso``."""
    from codex32.app import create_app
    from codex32.config_values import OIDCProviderSetting

    setting = OIDCProviderSetting(id="corp-sso", name="Corp SSO",
                                  discovery_url=provider.base, client_id="platform-client",
                                  client_secret="platform-secret")
    return create_app(make_settings(tmp_path_factory.mktemp("oidc"),
                                    oidc_providers=(setting,)), database.urls)


def flow(client, provider: MockProvider, provider_id: str, workspace: str, sub: str,
         **claims: Any):
    """The browser's part: start at ``authorize``, sign in at the provider as ``sub`` (with
    ``claims``), follow the redirect back to the callback; the callback's answer."""
    started = start(client, provider_id, workspace)
    return client.get(authorize_at_provider(provider, started, sub, **claims))


def start(client, provider_id: str, workspace: str) -> str:
    """The provider's authorization URL that ``authorize`` redirects to."""
    response = client.get(f"/api/v1/auth/oidc/{provider_id}/authorize?workspace={workspace}")
    assert response.status_code == 302, response.json
    return response.headers["Location"]


# Each sign-in posts with a fresh client (no cookies or connections carried over) but this
# one TLS context: a client of its own would load the CA bundle each time (tens of
# milliseconds of CPU) for a provider that is plain HTTP on localhost anyway.
TLS = httpx2.create_ssl_context()


def authorize_at_provider(provider: MockProvider, authorization_url: str, sub: str,
                          **claims: Any) -> str:
    """Sign in at the provider; the callback URL (path and query) it sends the browser to."""
    provider.set_user(sub, **claims)
    answer = httpx2.post(authorization_url, data={"sub": sub}, follow_redirects=False,
                         verify=TLS)
    assert answer.status_code == 302, answer.text[:300]
    back = urlsplit(answer.headers["Location"])
    return f"{back.path}?{back.query}"


def new_sub() -> str:
    return f"user-{uuid.uuid4().hex[:10]}"


def claims_of(pair: dict[str, Any]) -> dict[str, Any]:
    """The claims of a token pair's access token (unverified: the test reads its own)."""
    return pyjwt.decode(pair["access_token"], options={"verify_signature": False})


def admitted_by_domain(client, provider: MockProvider, tenant) -> tuple[str, str]:
    """Sign a new verified corp.example account in to ``tenant`` through the platform's
    provider ``corp-sso``: its address, and the role it was admitted as."""
    sub = new_sub()
    response = flow(client, provider, "corp-sso", tenant.slug, sub,
                    email=f"{sub}@corp.example", email_verified=True)
    assert response.status_code == 200, response.json
    roles = {m["user_id"]: m["role"] for m in tenant.call("GET", "/api/v1/members").json}
    return f"{sub}@corp.example", roles[claims_of(response.json)["sub"]]

"""What an OpenID provider publishes: its discovery document and its signing keys (JWKS).

Every request goes through the pinned outbound client (``codex32.outbound_http``): the host
is resolved, checked and connected to at once, so a workspace's provider URL (attacker-chosen)
never reaches a private, loopback or link-local address unless the operator allows private
targets; no redirects, no proxy from the environment, a timeout, and a cap on the size of every
answer. Documents and keys are cached per owner (the platform, or one workspace) and URL with a
TTL; an ID token signed with a key id the cache does not hold refetches the keys (at most once
per :data:`MIN_REFETCH_SECONDS`), which is how a provider's key rotation is followed. No Flask,
no database here.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx2
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from codex32.outbound import UnsafeURL, check_url
from codex32.outbound_http import pinned_client

WELL_KNOWN = "/.well-known/openid-configuration"
HTTP_TIMEOUT_SECONDS = 10.0
MAX_DOCUMENT_BYTES = 64 * 1024
MIN_REFETCH_SECONDS = 10.0  # an unknown key id refetches the JWKS at most this often
# Signature algorithms an ID token may use: asymmetric only. "none" and the HMAC family
# (whose "key" would be the provider's public key) are never accepted.
ASYMMETRIC_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256",
                         "ES384", "ES512", "EdDSA")

T = TypeVar("T")


class ProviderUnavailable(Exception):
    """The provider could not be reached, refused, or answered something unusable.

    The message names the step and the reason, never a response body or a secret;
    ``status`` is the provider's HTTP status when it answered one.
    """

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Metadata:
    """The parts of a discovery document the authorization code flow needs."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    algorithms: tuple[str, ...]


def discovery_url(url: str) -> str:
    """The discovery document's URL for an issuer URL or a discovery URL."""
    url = url.strip()
    return url if url.endswith(WELL_KNOWN) else url.rstrip("/") + WELL_KNOWN


def schemes(allow_private: bool) -> tuple[str, ...]:
    """Plain http only where private targets are allowed (a development provider)."""
    return ("https", "http") if allow_private else ("https",)


def fetch_json(url: str, *, allow_private: bool, form: dict[str, str] | None = None,
               auth: tuple[str, str] | None = None) -> dict[str, Any]:
    """GET ``url`` (or POST ``form`` to it) through the pinned client; the JSON object it
    answers. Anything else (an unsafe URL, a timeout, a status other than 200, a body over
    :data:`MAX_DOCUMENT_BYTES`, not a JSON object) is :class:`ProviderUnavailable`."""
    try:
        check_url(url, allow_private=allow_private, schemes=schemes(allow_private),
                  resolve=False)
    except UnsafeURL as exc:
        raise ProviderUnavailable(f"unsafe provider URL: {exc}") from None
    body = bytearray()
    try:
        with pinned_client(allow_private=allow_private, timeout=HTTP_TIMEOUT_SECONDS) as client:
            request = client.build_request(
                "POST" if form is not None else "GET", url, data=form,
                headers={"Accept": "application/json"})
            response = client.send(request, stream=True, auth=auth)
            try:
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > MAX_DOCUMENT_BYTES:
                        raise ProviderUnavailable("the provider's answer is too large")
            finally:
                response.close()
    except httpx2.HTTPError as exc:
        raise ProviderUnavailable(f"cannot reach the provider ({type(exc).__name__}: "
                                  f"{str(exc)[:200]})") from None
    try:
        document = json.loads(bytes(body))
    except ValueError:
        document = None
    if response.status_code != 200:
        error = document.get("error") if isinstance(document, dict) else None
        detail = f" ({str(error)[:100]})" if isinstance(error, str) else ""
        raise ProviderUnavailable(f"the provider answered {response.status_code}{detail}",
                                  status=response.status_code)
    if not isinstance(document, dict):
        raise ProviderUnavailable("the provider's answer is not a JSON object")
    return document


def parse_metadata(document: dict[str, Any], expected_issuer: str,
                   allow_private: bool) -> Metadata:
    """Check a discovery document: its ``issuer`` is the one the URL promised (OpenID Connect
    Discovery 1.0, section 4.3) and its endpoints are safe URLs."""
    issuer = document.get("issuer")
    if issuer != expected_issuer:
        raise ProviderUnavailable("the discovery document names another issuer")
    endpoints = {}
    for name in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
        value = document.get(name)
        if not isinstance(value, str):
            raise ProviderUnavailable(f"the discovery document has no {name}")
        try:
            endpoints[name] = check_url(value, allow_private=allow_private,
                                        schemes=schemes(allow_private), resolve=False)
        except UnsafeURL as exc:
            raise ProviderUnavailable(f"unsafe {name}: {exc}") from None
    offered = document.get("id_token_signing_alg_values_supported") or ["RS256"]
    algorithms = tuple(alg for alg in offered if alg in ASYMMETRIC_ALGORITHMS)
    if not algorithms:
        raise ProviderUnavailable("the provider signs ID tokens with no accepted algorithm")
    return Metadata(issuer, endpoints["authorization_endpoint"], endpoints["token_endpoint"],
                    endpoints["jwks_uri"], algorithms)


class ProviderCache:
    """Discovery documents and key sets per (owner, URL), each kept for a TTL."""

    def __init__(self) -> None:
        self._entries: dict[tuple[str, str], tuple[float, Any]] = {}
        self._guard = threading.Lock()

    def get(self, key: tuple[str, str], ttl: float, load: Callable[[], T], *,
            refresh: bool = False) -> T:
        """The cached value, loaded when missing or older than ``ttl``; ``refresh`` loads
        anew unless the value is younger than :data:`MIN_REFETCH_SECONDS`."""
        now = time.monotonic()
        with self._guard:
            found = self._entries.get(key)
        if found is not None:
            loaded_at, value = found
            age = now - loaded_at
            if age < (min(ttl, MIN_REFETCH_SECONDS) if refresh else ttl):
                return value
        value = load()
        with self._guard:
            self._entries[key] = (time.monotonic(), value)
        return value

    def clear(self) -> None:
        with self._guard:
            self._entries.clear()


CACHE = ProviderCache()


def metadata(owner: str, url: str, *, allow_private: bool, ttl: float) -> Metadata:
    """The provider's checked discovery document (cached per owner and URL)."""
    document_url = discovery_url(url)
    expected = document_url[:-len(WELL_KNOWN)]
    return CACHE.get(("metadata", f"{owner} {document_url}"), ttl, lambda: parse_metadata(
        fetch_json(document_url, allow_private=allow_private), expected, allow_private))


def key_set(owner: str, jwks_uri: str, *, allow_private: bool, ttl: float,
            refresh: bool = False) -> KeySet:
    """The provider's public signing keys (cached; ``refresh`` after an unknown key id)."""

    def load() -> KeySet:
        document = fetch_json(jwks_uri, allow_private=allow_private)
        try:
            keys = KeySet.import_key_set(document)  # type: ignore[arg-type]
        except (JoseError, KeyError, TypeError, ValueError) as exc:
            raise ProviderUnavailable(f"the provider's key set is unusable "
                                      f"({type(exc).__name__})") from None
        public = [key for key in keys if not key.is_private]
        if len(public) != len(keys.keys):
            raise ProviderUnavailable("the provider's key set holds private keys")
        return keys

    return CACHE.get(("jwks", f"{owner} {jwks_uri}"), ttl, load, refresh=refresh)

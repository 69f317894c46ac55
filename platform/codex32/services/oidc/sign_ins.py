"""The authorization code flow with PKCE: begin a sign-in, consume its state, redeem the code.

``begin`` stores, per sign-in, the SHA-256 of a random ``state``, a nonce and a PKCE (S256)
verifier, and returns the provider's authorization URL. The state reads
``<workspace id>.<random>``: the callback binds that workspace and deletes the row in one
statement, so a state works once, within :data:`LIFETIME`, for the workspace and provider it
was issued for, and a state altered to name another workspace finds nothing. ``redeem`` sends
the code with the verifier to the token endpoint and verifies the ID token it gets back. The
caller ends the transaction before each network step (no connection waits on a provider).
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from authlib.common.urls import add_params_to_uri
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from sqlalchemy import delete, text
from sqlalchemy.orm import Session

from codex32 import runtime
from codex32.crypto import secret_digest
from codex32.db import tenancy
from codex32.db.oidc_models import OIDCSignIn
from codex32.errors import DomainError, Unauthorized
from codex32.services.oidc import discovery, id_tokens
from codex32.services.oidc.providers import Provider, find

LIFETIME = timedelta(minutes=10)
SWEEP_BATCH = 200  # workspaces swept per maintenance pass
BAD_STATE = "the sign-in is unknown, used or expired; start again"


class ProviderFailed(DomainError):
    """The identity provider is unreachable or answered something unusable: 502."""

    status = 502


@dataclass(frozen=True)
class Pending:
    """A consumed sign-in: what the callback needs to redeem its code."""

    workspace_id: uuid.UUID
    provider: Provider
    nonce: str
    code_verifier: str
    redirect_uri: str


def metadata(provider: Provider) -> discovery.Metadata:
    """The provider's discovery document (network; cached)."""
    settings = runtime.current().settings
    try:
        return discovery.metadata(provider.cache_owner, provider.discovery_url,
                                  allow_private=provider.allow_private,
                                  ttl=settings.oidc_jwks_ttl_seconds)
    except discovery.ProviderUnavailable as exc:
        raise ProviderFailed(f"the identity provider is unavailable: {exc}") from None


def begin(session: Session, provider: Provider, found: discovery.Metadata,
          redirect_uri: str) -> str:
    """Remember a new sign-in and return the provider's authorization URL for it."""
    assert provider.workspace_id is None or provider.workspace_id == _bound()
    workspace_id = _bound()
    state = f"{workspace_id}.{secrets.token_urlsafe(32)}"
    nonce = secrets.token_urlsafe(32)
    verifier = secrets.token_urlsafe(64)  # 86 characters of RFC 7636's alphabet
    delete_expired(session)
    session.add(OIDCSignIn(workspace_id=workspace_id, state_hash=secret_digest(state),
                           provider=provider.id, nonce=nonce, code_verifier=verifier,
                           redirect_uri=redirect_uri,
                           expires_at=datetime.now(UTC) + LIFETIME))
    session.flush()
    return add_params_to_uri(found.authorization_endpoint, [
        ("response_type", "code"), ("client_id", provider.client_id),
        ("redirect_uri", redirect_uri), ("scope", " ".join(provider.scopes)),
        ("state", state), ("nonce", nonce),
        ("code_challenge", create_s256_code_challenge(verifier)),
        ("code_challenge_method", "S256")])


def consume(session: Session, provider_id: str, state: str) -> Pending:
    """Take the sign-in ``state`` names (once), binding its workspace; 401 for an unknown,
    used, expired or altered state, or one issued for another provider."""
    workspace_part, _, _ = state.partition(".")
    try:
        workspace_id = uuid.UUID(workspace_part)
    except ValueError:
        raise Unauthorized(BAD_STATE) from None
    tenancy.bind(session, workspace_id)
    row = session.execute(
        delete(OIDCSignIn).where(OIDCSignIn.state_hash == secret_digest(state))
        .returning(OIDCSignIn.provider, OIDCSignIn.nonce, OIDCSignIn.code_verifier,
                   OIDCSignIn.redirect_uri, OIDCSignIn.expires_at)).first()
    if row is None or row.expires_at <= datetime.now(UTC) or row.provider != provider_id:
        # The row (if any) stays deleted: a state is spent by its first use.
        raise Unauthorized(BAD_STATE, keep_writes=True)
    provider = find(session, workspace_id, provider_id)
    return Pending(workspace_id, provider, row.nonce, row.code_verifier, row.redirect_uri)


def redeem(pending: Pending, code: str, issuer: str | None = None) -> dict[str, Any]:
    """Exchange the code (with the PKCE verifier) for tokens and return the verified ID
    token's claims (network). A refusal or a bad ID token is 401; an unreachable provider
    502. ``issuer``, the callback's ``iss`` when the provider sends one (RFC 9207), must be
    the provider's, before the code goes anywhere."""
    provider = pending.provider
    found = metadata(provider)
    if issuer is not None and issuer != found.issuer:
        raise Unauthorized("the authorization response names another issuer")
    form = {"grant_type": "authorization_code", "code": code,
            "redirect_uri": pending.redirect_uri, "code_verifier": pending.code_verifier,
            "client_id": provider.client_id}
    auth = (provider.client_id, provider.client_secret) if provider.client_secret else None
    try:
        answer = discovery.fetch_json(found.token_endpoint, allow_private=provider.allow_private,
                                      form=form, auth=auth)
    except discovery.ProviderUnavailable as exc:
        if exc.status is not None and 400 <= exc.status < 500:
            raise Unauthorized(f"the identity provider refused the sign-in: {exc}") from None
        raise ProviderFailed(f"the identity provider is unavailable: {exc}") from None
    settings = runtime.current().settings

    def keys(refresh: bool) -> Any:
        try:
            return discovery.key_set(provider.cache_owner, found.jwks_uri,
                                     allow_private=provider.allow_private,
                                     ttl=settings.oidc_jwks_ttl_seconds, refresh=refresh)
        except discovery.ProviderUnavailable as exc:
            raise ProviderFailed(f"the identity provider is unavailable: {exc}") from None

    try:
        return id_tokens.verify(answer.get("id_token"), keys=keys, algorithms=found.algorithms,
                                issuer=found.issuer, client_id=provider.client_id,
                                nonce=pending.nonce)
    except id_tokens.InvalidIDToken as exc:
        raise Unauthorized(str(exc)) from None


def _bound() -> uuid.UUID:
    bound = tenancy.current_workspace()
    assert bound is not None, "bind the workspace first (providers.workspace_id_of)"
    return uuid.UUID(bound)



def workspaces_with_expired(session: Session, limit: int = SWEEP_BATCH) -> list[uuid.UUID]:
    """Workspaces holding expired sign-ins, any workspace (a SECURITY DEFINER function that
    reads only the workspace and expiry columns)."""
    return list(session.execute(text("SELECT workspace_id FROM expired_oidc_sign_ins(:n)"),
                                {"n": limit}).scalars())


def delete_expired(session: Session) -> int:
    """Delete the bound workspace's expired sign-ins; how many went."""
    result = session.execute(delete(OIDCSignIn).where(OIDCSignIn.expires_at < datetime.now(UTC)))
    return int(result.rowcount)  # type: ignore[attr-defined]

"""OpenID providers: the platform's (``CODEX32_OIDC_PROVIDERS``) and a workspace's own.

A workspace admin adds a provider by discovery URL and client credentials; the client secret
is encrypted like every other workspace secret and never shown again (write-only). The URL is
checked at save for its shape and IP literals, and again at every connection by the pinned
client. A platform provider's id cannot be taken by a workspace (the platform's wins when
both exist, so a workspace cannot shadow it). No request handling here.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, select, text
from sqlalchemy.orm import Session

from codex32 import runtime
from codex32.auth.principal import Principal
from codex32.config_values import OIDCProviderSetting
from codex32.crypto import SecretsUndecryptable
from codex32.db import tenancy
from codex32.db.oidc_models import OIDCProvider
from codex32.errors import Conflict, Invalid, NotFound
from codex32.outbound import UnsafeURL, check_url
from codex32.services import audit
from codex32.services.oidc import discovery

MASK = "********"
NO_SUCH_PROVIDER = "no such sign-in provider for this workspace"


@dataclass(frozen=True)
class Provider:
    """One provider as a sign-in uses it; ``workspace_id`` is None for a platform provider."""

    id: str
    name: str
    discovery_url: str
    client_id: str
    client_secret: str | None = field(repr=False)
    scopes: tuple[str, ...]
    workspace_id: uuid.UUID | None

    @property
    def cache_owner(self) -> str:
        """Whose cache entries this provider's documents and keys are."""
        return f"workspace:{self.workspace_id}" if self.workspace_id else "platform"

    @property
    def allow_private(self) -> bool:
        """A platform provider is the operator's own choice; a workspace's follows the
        operator's rule for tenant URLs (``CODEX32_ALLOW_PRIVATE_URLS``)."""
        if self.workspace_id is None:
            return True
        return runtime.current().settings.allow_private_urls


def _platform() -> dict[str, OIDCProviderSetting]:
    return {p.id: p for p in runtime.current().settings.oidc_providers}


def workspace_id_of(session: Session, reference: str) -> uuid.UUID:
    """The id of the workspace named by slug or id, bound for the rest of the request; 404
    for an unknown one."""
    try:
        workspace_id: uuid.UUID | None = uuid.UUID(reference)
    except ValueError:
        workspace_id = session.execute(text("SELECT auth_workspace_id(:s)"),
                                       {"s": reference[:63]}).scalar()
    if workspace_id is None:
        raise NotFound("no such workspace")
    tenancy.bind(session, workspace_id)
    if session.execute(text("SELECT 1 FROM workspaces WHERE id = :w"),
                       {"w": workspace_id}).first() is None:
        tenancy.unbind()
        raise NotFound("no such workspace")
    return workspace_id


def find(session: Session, workspace_id: uuid.UUID, provider_id: str) -> Provider:
    """A provider the bound workspace may sign in with: the platform's, else its own; 404."""
    setting = _platform().get(provider_id)
    if setting is not None:
        return Provider(setting.id, setting.name, setting.discovery_url, setting.client_id,
                        setting.client_secret, setting.scopes, None)
    row = session.get(OIDCProvider, (workspace_id, provider_id))
    if row is None:
        raise NotFound(NO_SUCH_PROVIDER)
    secrets = runtime.current().box.open(row.client_secret)
    return Provider(row.id, row.name, row.discovery_url, row.client_id,
                    secrets.get("client_secret"), tuple(row.scopes), workspace_id)


def listing(session: Session, workspace_id: uuid.UUID | None) -> list[dict[str, Any]]:
    """The providers offered for signing in (to the bound workspace, when given)."""
    found = [{"id": p.id, "name": p.name, "scope": "platform"}
             for p in runtime.current().settings.oidc_providers]
    if workspace_id is not None:
        platform = {entry["id"] for entry in found}
        rows = session.execute(select(OIDCProvider.id, OIDCProvider.name)
                               .order_by(OIDCProvider.id)).all()
        found += [{"id": row.id, "name": row.name, "scope": "workspace"}
                  for row in rows if row.id not in platform]
    return found


# -- a workspace's own providers (admins) ---------------------------------------------------


def shown(row: OIDCProvider) -> dict[str, Any]:
    """How the API shows a workspace provider: the secret only as set or not."""
    return {"id": row.id, "name": row.name, "discovery_url": row.discovery_url,
            "client_id": row.client_id, "client_secret": MASK if row.client_secret else None,
            "scopes": row.scopes, "created_at": row.created_at, "updated_at": row.updated_at}


def list_own(session: Session) -> list[dict[str, Any]]:
    """The bound workspace's own providers."""
    rows = session.execute(select(OIDCProvider).order_by(OIDCProvider.id)).scalars().all()
    return [shown(row) for row in rows]


def put(session: Session, principal: Principal, provider_id: str,
        data: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """Create or replace a workspace provider; a ``client_secret`` left out keeps the stored
    one, ``null`` removes it. Returns what the API shows and whether it was created.

    The provider as it is (the secret compared decrypted) is no mutation: nothing written,
    not audited; a change's audit row lists only the changed fields."""
    if provider_id in _platform():
        raise Conflict("a platform provider has this id; choose another")
    url = discovery.discovery_url(data["discovery_url"])
    settings = runtime.current().settings
    try:
        url = check_url(url, allow_private=settings.allow_private_urls,
                        schemes=discovery.schemes(settings.allow_private_urls), resolve=False)
    except UnsafeURL as exc:
        raise Invalid("the discovery URL is not allowed",
                      errors={"json": {"discovery_url": [str(exc)]}}) from None
    row = session.get(OIDCProvider, (principal.workspace_id, provider_id), with_for_update=True)
    created = row is None
    if row is None:
        row = OIDCProvider(workspace_id=principal.workspace_id, id=provider_id)
        session.add(row)
    recorded = audit.apply_changes(row, {
        "name": data.get("name") or provider_id, "discovery_url": url,
        "client_id": data["client_id"],
        "scopes": list(data.get("scopes") or ["openid", "email", "profile"])})
    secret_changed = ("client_secret" in data
                      and _secret_of(row) != (data["client_secret"] or None))
    if not created and not recorded and not secret_changed:
        return shown(row), False  # the provider it is: no mutation, nothing written
    if secret_changed:
        secret = data["client_secret"]
        row.client_secret = runtime.current().box.seal({"client_secret": secret}
                                                       ) if secret else None
    row.updated_by = principal.user_id
    row.updated_at = datetime.now(UTC)
    if created:  # recorded whole
        recorded = {"name": row.name, "discovery_url": url, "client_id": row.client_id,
                    "scopes": row.scopes}
    audit.record(session, principal, "oidc_provider.create" if created else
                 "oidc_provider.update", "oidc_provider", provider_id,
                 {**recorded, "client_secret_changed": secret_changed} if secret_changed
                 or created else recorded)
    session.flush()
    session.refresh(row)
    return shown(row), created


def _secret_of(row: OIDCProvider) -> object:
    """The client secret ``row`` holds, None for none; one no configured key opens equals no
    value given (so it is replaced, or removed by ``null``)."""
    try:
        return runtime.current().box.open(row.client_secret).get("client_secret") or None
    except SecretsUndecryptable:
        return object()


def remove(session: Session, principal: Principal, provider_id: str) -> None:
    """Delete a workspace provider; the identities linked through it stay (and sign in again
    if the provider is added back with the same issuer)."""
    deleted = session.execute(delete(OIDCProvider).where(OIDCProvider.id == provider_id))
    if not deleted.rowcount:  # type: ignore[attr-defined]
        raise NotFound("oidc provider not found")
    audit.record(session, principal, "oidc_provider.delete", "oidc_provider", provider_id)


def rotate_secrets(session: Session) -> tuple[int, list[str]]:
    """Re-encrypt every workspace provider's client secret under the newest key."""
    rows = session.execute(select(OIDCProvider).where(OIDCProvider.client_secret.is_not(None))
                           ).scalars().all()
    return len(rows), runtime.current().box.rotate_each(
        rows, "client_secret", lambda row: f"{row.workspace_id}/oidc/{row.id}")

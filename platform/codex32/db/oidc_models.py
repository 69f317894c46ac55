"""OpenID Connect sign-in tables: a workspace's own providers, the identities that sign in
through them, and the sign-ins under way. All three are tenant-owned, with row-level security
(migration 0013); columns and keys only.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, ForeignKeyConstraint, Index, String, Text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from codex32.db import Model
from codex32.db.models import TenantOwned, _created, _workspace_pk


class OIDCProvider(Model):
    """A workspace's own identity provider; its client secret is stored encrypted."""

    __tablename__ = "oidc_providers"

    workspace_id: Mapped[uuid.UUID] = _workspace_pk()
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    discovery_url: Mapped[str] = mapped_column(String(2000), nullable=False)
    client_id: Mapped[str] = mapped_column(String(255), nullable=False)
    client_secret: Mapped[str | None] = mapped_column(Text)
    scopes: Mapped[list[str]] = mapped_column(JSONB, nullable=False)
    updated_by: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _created()


class OIDCIdentity(TenantOwned, Model):
    """A provider's subject (``iss``, ``sub``) linked to an account, within one workspace."""

    __tablename__ = "oidc_identities"
    __table_args__ = (
        Index("uq_oidc_identities_subject", "workspace_id", "issuer", "subject", unique=True),
        Index("ix_oidc_identities_user", "workspace_id", "user_id"),
    )

    provider: Mapped[str] = mapped_column(String(40), nullable=False)
    issuer: Mapped[str] = mapped_column(String(2000), nullable=False)
    subject: Mapped[str] = mapped_column(String(255), nullable=False)
    user_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    email: Mapped[str | None] = mapped_column(String(320))
    created_at: Mapped[datetime] = _created()
    last_sign_in_at: Mapped[datetime] = _created()


class OIDCSignIn(Model):
    """A sign-in under way: the hashed ``state``, the nonce and the PKCE verifier, kept here
    (never in the browser) until the callback consumes the row or it expires."""

    __tablename__ = "oidc_sign_ins"
    __table_args__ = (
        ForeignKeyConstraint(["workspace_id"], ["workspaces.id"], ondelete="CASCADE"),
        Index("ix_oidc_sign_ins_expires", "expires_at"),
    )

    workspace_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    state_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    provider: Mapped[str] = mapped_column(String(40), nullable=False)
    nonce: Mapped[str] = mapped_column(String(128), nullable=False)
    code_verifier: Mapped[str] = mapped_column(Text, nullable=False)
    redirect_uri: Mapped[str] = mapped_column(String(2000), nullable=False)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    created_at: Mapped[datetime] = _created()

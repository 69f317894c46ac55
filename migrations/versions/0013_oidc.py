"""OpenID Connect sign-in: a workspace's own providers, linked identities, sign-ins under way.

``oidc_providers`` hold the identity providers a workspace adds itself (the client secret
encrypted under ``CODEX32_SECRETS_KEYS``; the platform's own providers live in configuration);
``oidc_identities`` link a provider's subject (``iss``, ``sub``) to an account within one
workspace; ``oidc_sign_ins`` keep, per sign-in under way, the SHA-256 of its ``state``, its
nonce and its PKCE verifier until the callback consumes the row (or it expires). All three are
tenant-owned, with row-level security; the callback learns the workspace from the ``state``
itself and consumes the row under that binding, so no SECURITY DEFINER function is needed.

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from codex32.db import rls

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

TABLES = ("oidc_providers", "oidc_identities", "oidc_sign_ins")


def _workspace() -> sa.Column:
    return sa.Column("workspace_id", sa.UUID(), nullable=False)


def _now(name: str) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), server_default=sa.text("now()"),
                     nullable=False)


def _owned_by_workspace() -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"], ondelete="CASCADE")


def upgrade():
    op.create_table(
        "oidc_providers",
        _workspace(),
        sa.Column("id", sa.String(40), nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("discovery_url", sa.String(2000), nullable=False),
        sa.Column("client_id", sa.String(255), nullable=False),
        sa.Column("client_secret", sa.Text()),
        sa.Column("scopes", JSONB(), nullable=False),
        sa.Column("updated_by", sa.UUID()),
        _now("created_at"),
        _now("updated_at"),
        _owned_by_workspace(),
        sa.ForeignKeyConstraint(["updated_by"], ["users.id"], ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("workspace_id", "id"),
    )
    op.create_table(
        "oidc_identities",
        _workspace(),
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("provider", sa.String(40), nullable=False),
        sa.Column("issuer", sa.String(2000), nullable=False),
        sa.Column("subject", sa.String(255), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("email", sa.String(320)),
        _now("created_at"),
        _now("last_sign_in_at"),
        _owned_by_workspace(),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("workspace_id", "id"),
    )
    op.create_index("uq_oidc_identities_subject", "oidc_identities",
                    ["workspace_id", "issuer", "subject"], unique=True)
    op.create_index("ix_oidc_identities_user", "oidc_identities", ["workspace_id", "user_id"])
    op.create_table(
        "oidc_sign_ins",
        _workspace(),
        sa.Column("state_hash", sa.String(64), nullable=False),
        sa.Column("provider", sa.String(40), nullable=False),
        sa.Column("nonce", sa.String(128), nullable=False),
        sa.Column("code_verifier", sa.Text(), nullable=False),
        sa.Column("redirect_uri", sa.String(2000), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        _now("created_at"),
        _owned_by_workspace(),
        sa.PrimaryKeyConstraint("workspace_id", "state_hash"),
    )
    op.create_index("ix_oidc_sign_ins_expires", "oidc_sign_ins", ["expires_at"])
    for statement in [s for table in TABLES for s in rls.tenant_table(table)]:
        op.execute(statement)


def downgrade():
    for table in reversed(TABLES):
        op.drop_table(table)

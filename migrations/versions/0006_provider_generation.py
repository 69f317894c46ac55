"""A provider configuration's generation: an identity that never repeats.

``version`` restarts at 1 when a configuration is deleted and saved again, so it cannot key the
per-process instance cache: a process would serve the deleted configuration and its secrets.
``generation`` is a fresh UUID on every save (the application sets it; the default fills the
rows that exist). The table's RLS policy and grants are unchanged.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("provider_configs", sa.Column(
        "generation", sa.UUID(), nullable=False, server_default=sa.text("gen_random_uuid()")))


def downgrade():
    op.drop_column("provider_configs", "generation")

"""The subprocess executor's interpreter, identities and isolation become platform settings.

Stored configurations of the ``subprocess`` executor may hold ``python``, ``run_as_uid``,
``run_as_gid`` and ``minimum_isolation``, which a workspace may no longer set (the schema now
refuses them): they are removed from every workspace's row, whose version moves on and which
gets a new generation, so no process keeps an instance built from the old one. Row-level
security is forced on this table for its owner too, so it is lifted for this one statement,
inside the migration's transaction.

Revision ID: 0008
Revises: 0007
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

REMOVED = ("python", "run_as_uid", "run_as_gid", "minimum_isolation")
STRIP = (
    "UPDATE provider_configs SET config = config - ARRAY[{keys}]::text[], version = version + 1, "
    "generation = gen_random_uuid() "
    "WHERE kind = 'executor' AND plugin_id = 'subprocess' AND config ?| ARRAY[{keys}]::text[]"
).format(keys=", ".join(f"'{key}'" for key in REMOVED))


def upgrade():
    op.execute("ALTER TABLE provider_configs NO FORCE ROW LEVEL SECURITY")
    op.execute(STRIP)
    op.execute("ALTER TABLE provider_configs FORCE ROW LEVEL SECURITY")


def downgrade():
    pass  # the removed keys were the platform's to decide; nothing to put back

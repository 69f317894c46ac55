"""Durable execution: procrastinate's queue schema, bot schedules, execution bookkeeping.

The queue lives in the same database: procrastinate's tables, types and functions come from
the schema file of the installed procrastinate package (3.x). They are platform tables, not
tenant tables: a job carries only its workspace id and a row id, and the worker opens a
tenant-bound transaction for that workspace before it reads anything else. Upgrading
procrastinate later means a new migration that applies its ``sql/migrations`` files newer
than the version installed here (docs/operations.md).

Revision ID: 0003
Revises: 0002
"""

from importlib.resources import files

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from codex32.db import rls

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

PROCRASTINATE_TABLES = ("procrastinate_jobs", "procrastinate_events",
                        "procrastinate_periodic_defers", "procrastinate_workers")
FUNCTIONS = ("due_schedules(integer)", "count_active_bots()")


def upgrade():
    _procrastinate()
    _execution_columns()
    _schedules()
    for statement in _security():
        op.execute(statement)


def _procrastinate() -> None:
    _raw(files("procrastinate.sql").joinpath("schema.sql").read_text())
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {', '.join(PROCRASTINATE_TABLES)} "
               "TO codex32_app")
    # Sequences and functions by catalog lookup, so none of the file's objects is missed.
    _raw("""
        DO $$
        DECLARE item record;
        BEGIN
            FOR item IN SELECT c.oid::regclass AS name FROM pg_class c
                        WHERE c.relkind = 'S' AND c.relname LIKE 'procrastinate%'
                          AND c.relnamespace = current_schema()::regnamespace LOOP
                EXECUTE format('GRANT USAGE, SELECT ON SEQUENCE %s TO codex32_app', item.name);
            END LOOP;
            FOR item IN SELECT p.oid::regprocedure AS name FROM pg_proc p
                        WHERE p.proname LIKE 'procrastinate%'
                          AND p.pronamespace = current_schema()::regnamespace LOOP
                EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', item.name);
                EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO codex32_app', item.name);
            END LOOP;
        END
        $$
    """)


def _raw(sql: str) -> None:
    """Run ``sql`` as the driver gets it: several statements, '%' and ':' taken literally."""
    op.get_bind().exec_driver_sql(sql, execution_options={"no_parameters": True})


def _execution_columns() -> None:
    op.add_column("bot_executions", sa.Column("duration_seconds", sa.Float(), nullable=True))
    op.add_column("bot_executions", sa.Column("job_id", sa.BigInteger(), nullable=True))
    op.add_column("bot_executions", sa.Column("cancel_requested", sa.Boolean(),
                                              server_default=sa.text("false"), nullable=False))
    op.add_column("bot_executions", sa.Column("retry_of", sa.UUID(), nullable=True))
    op.add_column("bot_executions", sa.Column("scheduled_for", sa.DateTime(timezone=True),
                                              nullable=True))
    op.create_foreign_key(
        "bot_executions_retry_of_fkey", "bot_executions", "bot_executions",
        ["workspace_id", "retry_of"], ["workspace_id", "id"], ondelete="SET NULL (retry_of)")
    op.create_index("ix_bot_executions_status", "bot_executions",
                    ["workspace_id", "status", sa.literal_column("queued_at DESC")])
    op.create_index("ix_bot_executions_active", "bot_executions", ["workspace_id", "bot_id"],
                    postgresql_where=sa.text("status IN ('queued', 'running')"))
    op.create_index("ix_bot_executions_retry_of", "bot_executions",
                    ["workspace_id", "retry_of"],
                    postgresql_where=sa.text("retry_of IS NOT NULL"))
    op.create_index("uq_bot_executions_tick", "bot_executions",
                    ["workspace_id", "bot_id", "scheduled_for"], unique=True,
                    postgresql_where=sa.text("trigger = 'schedule'"))


def _schedules() -> None:
    op.create_table(
        "bot_schedules",
        sa.Column("workspace_id", sa.UUID(), nullable=False),
        sa.Column("bot_id", sa.UUID(), nullable=False),
        sa.Column("cron", sa.String(length=255), nullable=False),
        sa.Column("timezone", sa.String(length=64), server_default="UTC", nullable=False),
        sa.Column("enabled", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("input", postgresql.JSONB(astext_type=sa.Text()),
                  server_default=sa.text("'{}'::jsonb"), nullable=False),
        sa.Column("next_run_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_run_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_execution_id", sa.UUID(), nullable=True),
        sa.Column("skipped_runs", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_skipped_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.UUID(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"),
                  nullable=False),
        sa.ForeignKeyConstraint(["created_by"], ["users.id"], ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["workspace_id", "bot_id"], ["bots.workspace_id", "bots.id"],
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["workspace_id", "last_execution_id"],
                                ["bot_executions.workspace_id", "bot_executions.id"],
                                ondelete="SET NULL (last_execution_id)"),
        sa.PrimaryKeyConstraint("workspace_id", "bot_id"),
    )
    op.create_index("ix_bot_schedules_due", "bot_schedules", ["next_run_at"],
                    postgresql_where=sa.text("enabled"))


def _security() -> list[str]:
    statements = rls.tenant_table("bot_schedules")
    # The scheduler and the metrics need two answers across workspaces before any workspace
    # is bound: which schedules are due, and how many bots are active. Each is a SECURITY
    # DEFINER function owned by the auth role (like the sign-in lookups of 0001), returning
    # ids and a count, never tenant content.
    statements += rls.auth_lookup("bot_schedules")
    statements += rls.auth_lookup("bots")
    statements.append("GRANT CREATE ON SCHEMA public TO codex32_auth")
    statements += rls.definer_function(
        "due_schedules(p_limit integer)",
        "TABLE(workspace_id uuid, bot_id uuid, next_run_at timestamptz)",
        "SELECT workspace_id, bot_id, next_run_at FROM bot_schedules "
        "WHERE enabled AND next_run_at <= now() ORDER BY next_run_at LIMIT p_limit",
    )
    statements += rls.definer_function(
        "count_active_bots()", "bigint", "SELECT count(*) FROM bots WHERE status = 'active'"
    )
    statements.append("REVOKE CREATE ON SCHEMA public FROM codex32_auth")
    return statements


def downgrade():
    for function in FUNCTIONS:
        op.execute(f"DROP FUNCTION IF EXISTS {function}")
    op.execute("DROP POLICY IF EXISTS auth_lookup ON bots")
    op.execute("REVOKE SELECT ON bots FROM codex32_auth")
    op.drop_index("ix_bot_schedules_due", table_name="bot_schedules")
    op.drop_table("bot_schedules")
    op.drop_index("uq_bot_executions_tick", table_name="bot_executions")
    op.drop_index("ix_bot_executions_retry_of", table_name="bot_executions")
    op.drop_index("ix_bot_executions_active", table_name="bot_executions")
    op.drop_index("ix_bot_executions_status", table_name="bot_executions")
    op.drop_constraint("bot_executions_retry_of_fkey", "bot_executions", type_="foreignkey")
    for column in ("scheduled_for", "retry_of", "cancel_requested", "job_id",
                   "duration_seconds"):
        op.drop_column("bot_executions", column)
    _raw("""
        DO $$
        DECLARE item record;
        BEGIN
            FOR item IN SELECT p.oid::regprocedure AS name FROM pg_proc p
                        WHERE p.proname LIKE 'procrastinate%'
                          AND p.pronamespace = current_schema()::regnamespace LOOP
                EXECUTE format('DROP FUNCTION %s CASCADE', item.name);
            END LOOP;
        END
        $$
    """)
    op.execute(f"DROP TABLE IF EXISTS {', '.join(PROCRASTINATE_TABLES)} CASCADE")
    op.execute("DROP TYPE IF EXISTS procrastinate_job_to_defer_v1, procrastinate_job_status, "
               "procrastinate_job_event_type")

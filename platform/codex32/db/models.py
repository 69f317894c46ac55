"""Tables. Models describe columns and keys only; queries live where they are used.

Tenant tables carry ``workspace_id`` first in their primary key, and reference each other with
composite foreign keys ``(workspace_id, id)``, so a row can never point into another workspace.
Row-level security policies live in the migrations, beside the tables they protect.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from codex32.db import Model

TENANT_TABLES = (
    "workspaces", "memberships", "invitations", "api_keys", "bots", "bot_versions",
    "bot_executions", "audit_logs", "provider_configs", "bot_schedules", "bot_secrets",
    "notification_deliveries", "llm_usage", "llm_budgets", "llm_cooldowns", "llm_cache",
    "builder_conversations", "builder_turns",
    "knowledge_indexes", "knowledge_collections", "knowledge_documents", "knowledge_chunks",
)


def _uuid_pk() -> Mapped[uuid.UUID]:
    return mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4,
                         server_default=text("gen_random_uuid()"))


def _created() -> Mapped[datetime]:
    return mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())


def _workspace_pk() -> Mapped[uuid.UUID]:
    return mapped_column(UUID(as_uuid=True), ForeignKey("workspaces.id", ondelete="CASCADE"),
                         primary_key=True)


class TenantOwned:
    """The key every tenant-owned row with an id of its own starts with: ``(workspace_id,
    id)``, the workspace first (row-level security filters on it, and every index leads with
    it). Mixed into a model's bases before ``Model``."""

    workspace_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True,
        sort_order=-2)
    id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), primary_key=True, default=uuid.uuid4,
        server_default=text("gen_random_uuid()"), sort_order=-1)


class User(Model):
    """A global identity: one person, who may be a member of several workspaces."""

    __tablename__ = "users"
    __table_args__ = (
        # Only a verified address is bound to one account; pending claims may coexist.
        Index("uq_users_email", func.lower(text("email")), unique=True,
              postgresql_where=text("email_verified_at IS NOT NULL")),
        Index("ix_users_email_pending", func.lower(text("email")),
              postgresql_where=text("email_verified_at IS NULL")),
    )

    id: Mapped[uuid.UUID] = _uuid_pk()
    email: Mapped[str] = mapped_column(String(320), nullable=False)
    password_hash: Mapped[str] = mapped_column(String(255), nullable=False)
    email_verified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    verify_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    verify_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    session_generation: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _created()


class Workspace(Model):
    """A tenant. Its row is visible only while it is the bound workspace."""

    __tablename__ = "workspaces"

    id: Mapped[uuid.UUID] = _uuid_pk()
    name: Mapped[str] = mapped_column(String(255), nullable=False)
    slug: Mapped[str] = mapped_column(String(63), nullable=False, unique=True)
    settings: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False,
                                                     server_default=text("'{}'::jsonb"))
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _created()


class Membership(Model):
    """A user's role in one workspace."""

    __tablename__ = "memberships"

    workspace_id: Mapped[uuid.UUID] = _workspace_pk()
    user_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    role: Mapped[str] = mapped_column(String(32), nullable=False)
    created_at: Mapped[datetime] = _created()


class Invitation(TenantOwned, Model):
    """An offer to join a workspace with a role; the token is stored hashed."""

    __tablename__ = "invitations"
    __table_args__ = (
        ForeignKeyConstraint(["workspace_id", "invited_by"],
                             ["memberships.workspace_id", "memberships.user_id"],
                             ondelete="SET NULL (invited_by)"),
    )

    email: Mapped[str] = mapped_column(String(320), nullable=False)
    role: Mapped[str] = mapped_column(String(32), nullable=False)
    token_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    invited_by: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    accepted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = _created()


class ApiKey(TenantOwned, Model):
    """A workspace credential with a role; only its SHA-256 and a visible prefix are kept."""

    __tablename__ = "api_keys"
    __table_args__ = (UniqueConstraint("workspace_id", "name", name="uq_api_keys_name"),)

    name: Mapped[str] = mapped_column(String(255), nullable=False)
    prefix: Mapped[str] = mapped_column(String(16), nullable=False)
    key_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    role: Mapped[str] = mapped_column(String(32), nullable=False)
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="SET NULL"))
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = _created()


class TokenBlocklist(Model):
    """Revoked token ids (``jti``) and token families; not tenant data."""

    __tablename__ = "token_blocklist"

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False,
                                                 index=True)
    created_at: Mapped[datetime] = _created()


class Bot(TenantOwned, Model):
    """A bot: a named program in a workspace whose code lives in its versions."""

    __tablename__ = "bots"
    __table_args__ = (
        UniqueConstraint("workspace_id", "name", name="uq_bots_name"),
        Index("ix_bots_workspace_created", "workspace_id", text("created_at DESC"), "id"),
        Index("ix_bots_workspace_status", "workspace_id", "status"),
    )

    name: Mapped[str] = mapped_column(String(255), nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False, server_default="")
    status: Mapped[str] = mapped_column(String(32), nullable=False, server_default="draft")
    owner_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="SET NULL"))
    current_version: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    settings: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False,
                                                     server_default=text("'{}'::jsonb"))
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _created()


class BotVersion(TenantOwned, Model):
    """One immutable revision of a bot's code, numbered from 1 within the bot."""

    __tablename__ = "bot_versions"
    __table_args__ = (
        ForeignKeyConstraint(["workspace_id", "bot_id"], ["bots.workspace_id", "bots.id"],
                             ondelete="CASCADE"),
        UniqueConstraint("workspace_id", "bot_id", "number", name="uq_bot_versions_number"),
    )

    bot_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    number: Mapped[int] = mapped_column(Integer, nullable=False)
    code: Mapped[str] = mapped_column(Text, nullable=False)
    files: Mapped[dict[str, str]] = mapped_column(JSONB, nullable=False,
                                                  server_default=text("'{}'::jsonb"))
    message: Mapped[str] = mapped_column(Text, nullable=False, server_default="")
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = _created()


class BotExecution(TenantOwned, Model):
    """One run of a bot version: queued, running, then a final status with its result."""

    __tablename__ = "bot_executions"
    __table_args__ = (
        ForeignKeyConstraint(["workspace_id", "bot_id"], ["bots.workspace_id", "bots.id"],
                             ondelete="CASCADE"),
        Index("ix_bot_executions_bot", "workspace_id", "bot_id", text("queued_at DESC")),
        Index("ix_bot_executions_recent", "workspace_id", text("queued_at DESC")),
        Index("uq_bot_executions_idempotency", "workspace_id", "idempotency_key", unique=True,
              postgresql_where=text("idempotency_key IS NOT NULL")),
        ForeignKeyConstraint(["workspace_id", "retry_of"],
                             ["bot_executions.workspace_id", "bot_executions.id"],
                             ondelete="SET NULL (retry_of)"),
        Index("ix_bot_executions_status", "workspace_id", "status", text("queued_at DESC")),
        Index("ix_bot_executions_active", "workspace_id", "bot_id",
              postgresql_where=text("status IN ('queued', 'running')")),
        Index("ix_bot_executions_retry_of", "workspace_id", "retry_of",
              postgresql_where=text("retry_of IS NOT NULL")),
        # One execution per schedule tick, whatever the number of workers.
        Index("uq_bot_executions_tick", "workspace_id", "bot_id", "scheduled_for", unique=True,
              postgresql_where=text("trigger = 'schedule'")),
    )

    bot_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    status: Mapped[str] = mapped_column(String(32), nullable=False, server_default="queued")
    trigger: Mapped[str] = mapped_column(String(32), nullable=False, server_default="api")
    input: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False,
                                                  server_default=text("'{}'::jsonb"))
    result: Mapped[Any | None] = mapped_column(JSONB)
    error: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    logs: Mapped[str] = mapped_column(Text, nullable=False, server_default="")
    logs_truncated: Mapped[bool] = mapped_column(Boolean, nullable=False,
                                                 server_default=text("false"))
    attempt: Mapped[int] = mapped_column(Integer, nullable=False, server_default="1")
    idempotency_key: Mapped[str | None] = mapped_column(String(255))
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="SET NULL"))
    queued_at: Mapped[datetime] = _created()
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    cpu_seconds: Mapped[float | None] = mapped_column(Float)
    peak_memory_bytes: Mapped[int | None] = mapped_column(BigInteger)
    duration_seconds: Mapped[float | None] = mapped_column(Float)
    # The queue job that runs this execution (procrastinate_jobs.id), set at enqueue.
    job_id: Mapped[int | None] = mapped_column(BigInteger)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, nullable=False,
                                                   server_default=text("false"))
    # The attempt this one retries (trigger ``retry``), and the tick of a scheduled run.
    retry_of: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    scheduled_for: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class AuditLog(TenantOwned, Model):
    """An append-only record of one mutation: who, what, which resource, what changed."""

    __tablename__ = "audit_logs"
    __table_args__ = (
        Index("ix_audit_logs_recent", "workspace_id", text("created_at DESC")),
        Index("ix_audit_logs_resource", "workspace_id", "resource_type", "resource_id"),
    )

    actor_type: Mapped[str] = mapped_column(String(16), nullable=False)
    actor_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    action: Mapped[str] = mapped_column(String(100), nullable=False)
    resource_type: Mapped[str] = mapped_column(String(50), nullable=False)
    resource_id: Mapped[str | None] = mapped_column(String(100))
    changes: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False,
                                                    server_default=text("'{}'::jsonb"))
    request_id: Mapped[str | None] = mapped_column(String(64))
    ip: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = _created()


class ProviderConfig(Model):
    """A workspace's configuration of one plugin: validated config, encrypted secrets.

    ``version`` grows on every change (and restarts after a delete); ``generation`` is new on
    every save and never repeats, so every process rebuilds its cached instance on the next
    request after a change.
    """

    __tablename__ = "provider_configs"

    workspace_id: Mapped[uuid.UUID] = _workspace_pk()
    kind: Mapped[str] = mapped_column(String(32), primary_key=True)
    plugin_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    config: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False,
                                                   server_default=text("'{}'::jsonb"))
    secrets: Mapped[str | None] = mapped_column(Text)
    secret_names: Mapped[list[str]] = mapped_column(JSONB, nullable=False,
                                                    server_default=text("'[]'::jsonb"))
    version: Mapped[int] = mapped_column(Integer, nullable=False, server_default="1")
    # New on every save and never reused (version restarts after a delete): the cache key.
    generation: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False,
                                                  default=uuid.uuid4,
                                                  server_default=text("gen_random_uuid()"))
    updated_by: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="SET NULL"))
    updated_at: Mapped[datetime] = _created()
    # The entry point that provided the plugin when this was saved: names the broken plugin
    # when the configuration's plugin no longer loads.
    plugin: Mapped[str | None] = mapped_column(String(255))



class BotSchedule(Model):
    """A bot's cron schedule: when it is due next, in its own time zone, with what input.

    At most one per bot. ``next_run_at`` (UTC) is NULL while the schedule is disabled; a
    worker claims a due tick by moving it forward in the same transaction that creates the
    tick's execution.
    """

    __tablename__ = "bot_schedules"
    __table_args__ = (
        ForeignKeyConstraint(["workspace_id", "bot_id"], ["bots.workspace_id", "bots.id"],
                             ondelete="CASCADE"),
        ForeignKeyConstraint(["workspace_id", "last_execution_id"],
                             ["bot_executions.workspace_id", "bot_executions.id"],
                             ondelete="SET NULL (last_execution_id)"),
        Index("ix_bot_schedules_due", "next_run_at", postgresql_where=text("enabled")),
    )

    workspace_id: Mapped[uuid.UUID] = _workspace_pk()
    bot_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    cron: Mapped[str] = mapped_column(String(255), nullable=False)
    timezone: Mapped[str] = mapped_column(String(64), nullable=False, server_default="UTC")
    enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=text("true"))
    input: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False,
                                                  server_default=text("'{}'::jsonb"))
    next_run_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_run_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_execution_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    skipped_runs: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    last_skipped_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _created()


class BotSecret(TenantOwned, Model):
    """A secret a bot reads as ``context.secrets[name]``: workspace-wide (no ``bot_id``) or one
    bot's own, which wins over a workspace secret of the same name. Only the encrypted value is
    stored."""

    __tablename__ = "bot_secrets"
    __table_args__ = (
        ForeignKeyConstraint(["workspace_id", "bot_id"], ["bots.workspace_id", "bots.id"],
                             ondelete="CASCADE"),
        Index("uq_bot_secrets_workspace_name", "workspace_id", "name", unique=True,
              postgresql_where=text("bot_id IS NULL")),
        Index("uq_bot_secrets_bot_name", "workspace_id", "bot_id", "name", unique=True,
              postgresql_where=text("bot_id IS NOT NULL")),
    )

    bot_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    name: Mapped[str] = mapped_column(String(64), nullable=False)
    value: Mapped[str] = mapped_column(Text, nullable=False)
    updated_by: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _created()


class NotificationDelivery(TenantOwned, Model):
    """One notifier's delivery of one execution's event: pending until delivered or given up,
    with the attempts made and the last (sanitized) error."""

    __tablename__ = "notification_deliveries"
    __table_args__ = (
        ForeignKeyConstraint(["workspace_id", "execution_id"],
                             ["bot_executions.workspace_id", "bot_executions.id"],
                             ondelete="CASCADE"),
        UniqueConstraint("workspace_id", "execution_id", "notifier", "event",
                         name="uq_notification_deliveries_target"),
    )

    execution_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    notifier: Mapped[str] = mapped_column(String(100), nullable=False)
    event: Mapped[str] = mapped_column(String(64), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, server_default="pending")
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _created()
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

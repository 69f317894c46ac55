"""Tables of the LLM gateway: the usage ledger, budgets, cooldowns and the response cache.

All four are tenant-owned (``workspace_id`` first in the key, row-level security in
migration 0009). The ledger keeps no foreign key to bots, executions or API keys: a row must
outlive what it names, since it is where the money went.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from codex32.db import Model
from codex32.db.models import TenantOwned, _created, _workspace_pk

GATEWAY_TABLES = ("llm_usage", "llm_budgets", "llm_cooldowns", "llm_cache")

MONEY = Numeric(20, 10)  # USD, exact: never a float
MONEY_MAX = Decimal("9999999999.9999999999")  # the largest amount MONEY holds

class LLMUsage(TenantOwned, Model):
    """One request through the gateway: who asked, who answered, the tokens and the cost.

    ``attempts`` lists the failed attempts before the answer (provider, model, kind, status).
    ``cost_usd`` is NULL when the model's price is unknown (never a guessed zero).
    """

    __tablename__ = "llm_usage"
    __table_args__ = (Index("ix_llm_usage_workspace_created", "workspace_id", "created_at"),
                      Index("ix_llm_usage_pending", "created_at",
                            postgresql_where=text("status = 'pending'")),
                      Index("ix_llm_usage_settle_due", "created_at",
                            postgresql_where=text("settle_due")))

    created_at: Mapped[datetime] = _created()
    kind: Mapped[str] = mapped_column(String(16), nullable=False, server_default="chat")
    provider: Mapped[str | None] = mapped_column(String(100))
    model: Mapped[str | None] = mapped_column(String(200))
    requested_model: Mapped[str | None] = mapped_column(String(200))
    purpose: Mapped[str] = mapped_column(String(32), nullable=False)
    user_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    api_key_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    bot_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    execution_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    conversation_id: Mapped[str | None] = mapped_column(String(100))
    input_tokens: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    cached_input_tokens: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    output_tokens: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    reasoning_tokens: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    latency_ms: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    error: Mapped[str | None] = mapped_column(Text)
    cache_hit: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default="false")
    cost_usd: Mapped[Decimal | None] = mapped_column(MONEY)
    attempts: Mapped[list[Any]] = mapped_column(JSONB, nullable=False,
                                                server_default=text("'[]'::jsonb"))
    # What the request reserved before its provider call, written with its ``pending`` row:
    # the maximum cost (NULL: a price is unknown) and the budgets, ``[[id, period start]]``.
    reserved_usd: Mapped[Decimal | None] = mapped_column(MONEY)
    reserved_budgets: Mapped[list[Any] | None] = mapped_column(JSONB)
    # The row replaced its pending one, and its budget settlement (a transaction of its own)
    # has not cleared this yet: the maintenance loop settles it if it never does.
    settle_due: Mapped[bool] = mapped_column(Boolean, nullable=False,
                                             server_default=text("false"))

class LLMBudget(TenantOwned, Model):
    """A spending limit over a period (``day`` or ``month``, UTC) for the workspace, one API
    key or one bot. ``spent`` belongs to the period starting ``period_start`` (the first use
    in a new period starts it again at zero); ``reserved`` is what the calls in flight
    reserved, each charged to the period current when it is settled
    (codex32.services.gateway.periods)."""

    __tablename__ = "llm_budgets"
    __table_args__ = (UniqueConstraint("workspace_id", "scope", "scope_id", "period",
                                       name="uq_llm_budgets_scope",
                                       postgresql_nulls_not_distinct=True),)

    scope: Mapped[str] = mapped_column(String(16), nullable=False)
    scope_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    period: Mapped[str] = mapped_column(String(8), nullable=False)
    soft_limit_usd: Mapped[Decimal | None] = mapped_column(MONEY)
    hard_limit_usd: Mapped[Decimal | None] = mapped_column(MONEY)
    period_start: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    spent_usd: Mapped[Decimal] = mapped_column(MONEY, nullable=False, server_default="0")
    reserved_usd: Mapped[Decimal] = mapped_column(MONEY, nullable=False, server_default="0")
    notified: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default="false")
    updated_at: Mapped[datetime] = _created()

class LLMCooldown(Model):
    """Recent failures of one (provider, model) for the workspace, and until when it is
    skipped."""

    __tablename__ = "llm_cooldowns"

    workspace_id: Mapped[uuid.UUID] = _workspace_pk()
    provider: Mapped[str] = mapped_column(String(100), primary_key=True)
    model: Mapped[str] = mapped_column(String(200), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    window_start: Mapped[datetime] = _created()
    cooldown_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(String(32))

class LLMCacheEntry(Model):
    """A cached answer, keyed by the SHA-256 of the workspace and the normalized request."""

    __tablename__ = "llm_cache"
    __table_args__ = (Index("ix_llm_cache_workspace_expires", "workspace_id", "expires_at"),)

    workspace_id: Mapped[uuid.UUID] = _workspace_pk()
    key: Mapped[bytes] = mapped_column(LargeBinary, primary_key=True)
    response: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    size: Mapped[int] = mapped_column(BigInteger, nullable=False)
    created_at: Mapped[datetime] = _created()
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    hits: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")


"""Tables of the AI bot builder: conversations and their turns (migration 0010).

Both are tenant-owned (``workspace_id`` first in the key, row-level security). A conversation
is the builder's whole state: a restart or a closed browser loses nothing, since the running
job writes its step, progress and report here as it goes.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKeyConstraint,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from codex32.db import Model
from codex32.db.models import TenantOwned, _created

BUILDER_TABLES = ("builder_conversations", "builder_turns")
# gathering: questions open; ready: nothing to ask, generation may start (while it runs, ``step``
# names the running step); generated: the last build passed validation, its report is there;
# failed: the last build did not pass (or could not run), ``error`` says why, and a message or
# another generation goes on from it; accepted: the bot (or its new version) exists.
STATES = ("gathering", "ready", "generated", "failed", "accepted")


class BuilderConversation(TenantOwned, Model):
    """One conversation: its creator, the bot it refines, the specification and its state."""

    __tablename__ = "builder_conversations"
    __table_args__ = (
        ForeignKeyConstraint(["workspace_id", "bot_id"], ["bots.workspace_id", "bots.id"],
                             ondelete="SET NULL (bot_id)"),
        Index("ix_builder_conversations_recent", "workspace_id", text("created_at DESC"), "id"),
        CheckConstraint("state IN ('gathering', 'ready', 'generated', 'failed', "
                        "'accepted')", name="ck_builder_conversations_state"),  # 0021
    )

    creator_type: Mapped[str] = mapped_column(String(16), nullable=False)  # user, api_key
    created_by: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    bot_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    title: Mapped[str] = mapped_column(String(255), nullable=False, server_default="")
    specification: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False,
                                                          server_default=text("'{}'::jsonb"))
    # Spec fields the user settled (answers, accepted defaults): kept over every later update.
    settled: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False,
                                                    server_default=text("'{}'::jsonb"))
    source: Mapped[str] = mapped_column(String(16), nullable=False, server_default="heuristics")
    state: Mapped[str] = mapped_column(String(16), nullable=False, server_default="gathering")
    turns: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    job_id: Mapped[int | None] = mapped_column(BigInteger)
    step: Mapped[str | None] = mapped_column(String(64))
    progress: Mapped[list[Any]] = mapped_column(JSONB, nullable=False,
                                                server_default=text("'[]'::jsonb"))
    report: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    error: Mapped[str | None] = mapped_column(Text)
    accepted_version: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _created()


class BuilderTurn(TenantOwned, Model):
    """One turn: the user's message and answers, or the assistant's questions, suggestions
    and the specification as it stood after it."""

    __tablename__ = "builder_turns"
    __table_args__ = (
        ForeignKeyConstraint(["workspace_id", "conversation_id"],
                             ["builder_conversations.workspace_id", "builder_conversations.id"],
                             ondelete="CASCADE"),
        UniqueConstraint("workspace_id", "conversation_id", "number",
                         name="uq_builder_turns_number"),
    )

    conversation_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), nullable=False)
    number: Mapped[int] = mapped_column(Integer, nullable=False)
    role: Mapped[str] = mapped_column(String(16), nullable=False)
    content: Mapped[str] = mapped_column(Text, nullable=False, server_default="")
    answers: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False,
                                                    server_default=text("'{}'::jsonb"))
    questions: Mapped[list[Any]] = mapped_column(JSONB, nullable=False,
                                                 server_default=text("'[]'::jsonb"))
    suggestions: Mapped[list[Any]] = mapped_column(JSONB, nullable=False,
                                                   server_default=text("'[]'::jsonb"))
    specification: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    source: Mapped[str | None] = mapped_column(String(16))
    state: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime] = _created()

"""GraphQL object types of the AI core: LLM usage and budgets, builder conversations, search
results. Each is built from its service's answer as REST shows it."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import strawberry
from strawberry.scalars import JSON

from codex32.api.graphql import pagination
from codex32.api.graphql.pagination import Connection
from codex32.api.graphql.types import node_of
from codex32.services.pages import Slice


@strawberry.type
class Budget:
    id: uuid.UUID
    scope: str
    scope_id: uuid.UUID | None
    period: str
    soft_limit_usd: str | None
    hard_limit_usd: str | None
    spent_usd: str
    reserved_usd: str
    period_start: datetime | None
    resets_at: datetime | None


@strawberry.type
class UsageGroup:
    """Totals of one group (the grouping keys asked for are set, the others null)."""

    day: str | None
    model: str | None
    provider: str | None
    purpose: str | None
    user: str | None
    bot: str | None
    api_key: str | None
    requests: int
    input_tokens: int
    cached_input_tokens: int
    output_tokens: int
    reasoning_tokens: int
    cost_usd: str
    unpriced_requests: int = strawberry.field(description=(
        "cost unknown (no price for the model), pending ones excepted; costUsd leaves them "
        "out"))
    cache_hits: int
    failed_requests: int = strawberry.field(description=(
        "status error, timeout or cancelled (not pending, not unsettled)"))
    pending_requests: int = strawberry.field(description=(
        "still being answered or recorded (their cost is not known yet)"))
    unsettled_requests: int = strawberry.field(description=(
        "answer never recorded (its process ended first; the provider most likely answered):"
        " charged at the reserved maximum, not failed"))


@strawberry.type
class Usage:
    start: datetime | None = strawberry.field(name="from")
    end: datetime | None = strawberry.field(name="to")
    group_by: list[str]
    groups: list[UsageGroup]

    @classmethod
    def of(cls, report: dict[str, Any]) -> Usage:
        groups = [node_of(UsageGroup, {key: (str(value) if key in ("day", "model", "provider",
                                                                 "purpose", "user", "bot",
                                                                 "api_key") and value is not None
                                           else value)
                                     for key, value in group.items()})
                  for group in report["groups"]]
        return cls(start=report["from"], end=report["to"], group_by=report["group_by"],
                   groups=groups)


@strawberry.type
class Conversation:
    """A builder conversation (summary); ``detail`` has its turns, specification and state."""

    id: uuid.UUID
    title: str
    state: str
    source: str
    bot_id: uuid.UUID | None
    creator_type: str
    created_by: uuid.UUID | None
    turns: int
    step: str | None
    created_at: datetime
    updated_at: datetime


@strawberry.type
class ConversationDetail(Conversation):
    specification: JSON
    questions: JSON
    running: bool
    progress: JSON
    report: JSON | None
    error: str | None
    accepted_version: int | None
    turn_list: JSON = strawberry.field(description="every turn, oldest first")


def conversation_detail(row: dict[str, Any]) -> ConversationDetail:
    return node_of(ConversationDetail, {**row, "turns": len(row["turns"])},
                 turn_list=row["turns"])


def conversations_page(found: Slice) -> Connection[Conversation]:
    return pagination.connection(found, lambda row: node_of(Conversation, row),
                                 lambda row: pagination.position_cursor(row, "created_at"))


@strawberry.type
class SearchScores:
    fts: float | None
    vector: float | None
    fused: float


@strawberry.type
class SearchHit:
    chunk_id: uuid.UUID
    kind: str
    scores: SearchScores
    passage: str
    heading: str
    location: JSON
    ordinal: int
    document: JSON | None
    bot: JSON | None


@strawberry.type
class SearchResult:
    query: str
    kind: str | None
    collection_id: uuid.UUID | None
    generation: int | None
    vector_search: bool
    note: str | None
    items: list[SearchHit]

    @classmethod
    def of(cls, found: dict[str, Any]) -> SearchResult:
        items = [node_of(SearchHit, {**hit, "document": _plain(hit.get("document")),
                                   "bot": _plain(hit.get("bot"))},
                       scores=SearchScores(**hit["scores"])) for hit in found["items"]]
        return node_of(cls, found, items=items)


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return str(value) if isinstance(value, uuid.UUID) else value

"""The Query root: each field checks the permission of its REST twin and reads through the
same services (or their cursor-paged twins in :mod:`codex32.services.connections`)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

import strawberry
from strawberry.types import Info

from codex32.api import transaction
from codex32.api.graphql import ai_types, pagination, types
from codex32.api.graphql.context import context_of
from codex32.api.graphql.pagination import Connection
from codex32.auth.rbac import Permission
from codex32.db.builder_models import STATES
from codex32.errors import Invalid
from codex32.services import bots, executions
from codex32.services.builder import conversations
from codex32.services.gateway import budgets, ledger
from codex32.services.knowledge import search as knowledge_search
from codex32.services.pages import KeysetRequest
from tenants import members, workspaces

MAX_SEARCH_LIMIT = 50


def _keyset(ctx, first: int | None, after: str | None) -> KeysetRequest:
    """The keyset request of a (created or queued time, id) list's ``first`` and ``after``."""
    return KeysetRequest(after=pagination.position(after),
                         size=pagination.size(first, ctx.settings.max_page_size))


def _one_of(name: str, value: str | None, allowed: tuple[str, ...]) -> None:
    if value is not None and value not in allowed:
        raise Invalid(f"{name} must be one of: {', '.join(allowed)}",
                      errors={"arguments": {name: [f"one of: {', '.join(allowed)}"]}})


@strawberry.type
class Query:
    @strawberry.field(description="the caller's workspace")
    def workspace(self, info: Info) -> types.Workspace:
        ctx = context_of(info)
        principal = ctx.require(Permission.VIEW_WORKSPACE)
        return types.node_of(types.Workspace, workspaces.get(ctx.session, principal))

    @strawberry.field(description="members of the workspace, oldest first")
    def members(self, info: Info) -> list[types.Member]:
        ctx = context_of(info)
        ctx.require(Permission.VIEW_MEMBERS)
        return [types.node_of(types.Member, member.__dict__)
                for member in members.list_members(ctx.session)]

    @strawberry.field(description="bots of the workspace, newest first")
    def bots(self, info: Info, first: int | None = None, after: str | None = None,
             status: str | None = None, q: str | None = None) -> Connection[types.Bot]:
        ctx = context_of(info)
        ctx.require(Permission.VIEW_BOTS)
        _one_of("status", status, bots.STATUSES)
        found = bots.list_bots(ctx.session, _keyset(ctx, first, after), status=status,
                               q=q or None, with_settings=True)
        return types.bots_page(info, found)

    @strawberry.field(description="one bot; null (with a NOT_FOUND error) when it is not in "
                                  "the workspace")
    def bot(self, info: Info, id: uuid.UUID) -> types.Bot | None:
        ctx = context_of(info)
        ctx.require(Permission.VIEW_BOTS)
        return types.bot_node(info, bots.get(ctx.session, id))

    @strawberry.field(description="executions of every bot in the workspace, newest first")
    def executions(self, info: Info, first: int | None = None, after: str | None = None,
                   status: str | None = None, trigger: str | None = None,
                   bot_id: uuid.UUID | None = None) -> Connection[types.Execution]:
        ctx = context_of(info)
        ctx.require(Permission.VIEW_BOTS)
        _one_of("status", status, executions.STATUSES)
        _one_of("trigger", trigger, executions.TRIGGERS)
        found = executions.list_executions(ctx.session, _keyset(ctx, first, after),
                                           bot_id=bot_id, status=status, trigger=trigger)
        return types.executions_page(info, found)

    @strawberry.field(description="one execution")
    def execution(self, info: Info, id: uuid.UUID) -> types.Execution | None:
        ctx = context_of(info)
        ctx.require(Permission.VIEW_BOTS)
        return types.execution_node(info, executions.get(ctx.session, id).column_values())

    @strawberry.field(description="the workspace's LLM usage and cost, grouped by any of day, "
                                  "model, provider, purpose, user, bot, api_key")
    def usage(self, info: Info,
              start: Annotated[datetime | None, strawberry.argument(name="from")] = None,
              end: Annotated[datetime | None, strawberry.argument(name="to")] = None,
              group_by: list[str] | None = None) -> ai_types.Usage:
        ctx = context_of(info)
        ctx.require(Permission.VIEW_ANALYTICS)
        return ai_types.Usage.of(ledger.report(ctx.session, start, end, list(group_by or [])))

    @strawberry.field(description="the workspace's LLM budgets with the current period's spend")
    def budgets(self, info: Info) -> list[ai_types.Budget]:
        ctx = context_of(info)
        ctx.require(Permission.MANAGE_WORKSPACE)
        return [types.node_of(ai_types.Budget, budget)
                for budget in budgets.list_budgets(ctx.session)]

    @strawberry.field(description="the builder's conversations, newest first")
    def builder_conversations(self, info: Info, first: int | None = None,
                              after: str | None = None, state: str | None = None,
                              mine: bool = False) -> Connection[ai_types.Conversation]:
        ctx = context_of(info)
        principal = ctx.require(Permission.VIEW_BOTS)
        _one_of("state", state, STATES)
        found = conversations.list_conversations(ctx.session, _keyset(ctx, first, after),
                                                 state=state,
                                                 mine_of=principal if mine else None)
        return ai_types.conversations_page(found)

    @strawberry.field(description="one builder conversation with its turns and state")
    def builder_conversation(self, info: Info,
                             id: uuid.UUID) -> ai_types.ConversationDetail | None:
        ctx = context_of(info)
        ctx.require(Permission.VIEW_BOTS)
        return ai_types.conversation_detail(conversations.detail(ctx.session, id))

    @strawberry.field(description="hybrid (full-text and vector) search over documents and "
                                  "bots")
    def search(self, info: Info, q: str, kind: str | None = None,
               collection: uuid.UUID | None = None,
               limit: int = 10) -> ai_types.SearchResult | None:
        ctx = context_of(info)
        ctx.count()
        principal = ctx.require(Permission.VIEW_KNOWLEDGE)
        if not 1 <= len(q) <= knowledge_search.MAX_QUERY_CHARS:
            raise Invalid(f"q must be 1 to {knowledge_search.MAX_QUERY_CHARS} characters")
        _one_of("kind", kind, knowledge_search.KINDS)
        if not 1 <= limit <= MAX_SEARCH_LIMIT:
            raise Invalid(f"limit must be between 1 and {MAX_SEARCH_LIMIT}")
        prepared = knowledge_search.prepare(
            ctx.session, principal.workspace_id, q,
            caller=knowledge_search.caller_of(principal), kind=kind, collection_id=collection,
            limit=limit)
        transaction.end()  # the query is embedded next: hold no connection meanwhile
        found = knowledge_search.finish(ctx.session, prepared.nearest())
        return ai_types.SearchResult.of(found)




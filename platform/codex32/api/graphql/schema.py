"""The GraphQL schema and its limits, from the settings: depth, tokens, aliases and cost are
checked before an operation runs; introspection is off unless the settings allow it (by
default: everywhere but production), and with it off, errors suggest no names."""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import partial
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions import (
    AddValidationRules,
    DisableIntrospection,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    QueryDepthLimiter,
    SchemaExtension,
)
from strawberry.types import ExecutionContext

from codex32.api.graphql.errors import log_unexpected
from codex32.api.graphql.executor import Executor
from codex32.api.graphql.limits import CostLimiter, NoNulStrings, OperationChoice
from codex32.api.graphql.mutations import Mutation
from codex32.api.graphql.queries import Query
from codex32.config import Settings

MAX_ALIASES = 30
SUGGESTION = re.compile(r" ?Did you mean [^?]*\?")  # GraphQL names hold no "?"


class Schema(strawberry.Schema):
    """strawberry's schema, logging only unexpected errors (a 404 is an answer, not a fault)."""

    def process_errors(self, errors: list[GraphQLError],
                       execution_context: ExecutionContext | None = None) -> None:
        log_unexpected(errors)


class HideSuggestions(SchemaExtension):
    """With introspection off, an error names nothing the caller did not write: graphql-core's
    "Did you mean 'bots'?" would give the schema away one guess at a time."""

    def on_operation(self) -> Iterator[None]:
        yield
        context = self.execution_context
        result_errors = context.result.errors if context.result is not None else None
        for error in [*(context.pre_execution_errors or ()), *(result_errors or ())]:
            error.message = SUGGESTION.sub("", error.message)


def build(settings: Settings) -> Schema:
    """The schema with the limits of ``settings``."""
    # Factories, not instances: an extension holds its request's execution context, so each
    # request (threads serve several at once) gets its own.
    extensions: list[Any] = [
        partial(MaxTokensLimiter, max_token_count=settings.graphql_max_tokens),
        partial(QueryDepthLimiter, max_depth=settings.graphql_max_depth),
        partial(MaxAliasesLimiter, max_alias_count=MAX_ALIASES),
        partial(CostLimiter, settings.graphql_max_cost, settings.max_page_size),
        partial(AddValidationRules, [NoNulStrings]),
        OperationChoice,
    ]
    if not settings.graphql_introspection:
        extensions += [DisableIntrospection, HideSuggestions]
    return Schema(query=Query, mutation=Mutation, extensions=extensions,
                  execution_context_class=Executor)

"""The public plugin API: everything a plugin imports from Codex-32, in one module.

A plugin, first-party or third-party, imports from here and nowhere else in ``codex32``: the
modules behind these names may move, these names stay. It holds

- the hook marker, ``hookimpl``, the base class a plugin subclasses per kind, and
  ``Register``, the type of a registry hook's ``register`` callback;
- the values that cross the boundary (``ChatRequest`` in, ``ChatResult`` out, ...);
- the errors a plugin raises (``ConfigInvalid``, ``ProviderError`` and its kinds) and
  ``redacted`` to keep secrets out of their messages;
- the outbound kit: a tenant-supplied URL is checked (``check_url``, ``resolve_url``) and
  connected to pinned to the address that was checked (``pinned_client`` for httpx,
  ``pinned_connection``/``create_connection`` for ``http.client``/``smtplib``), and
  ``delivery`` POSTs to such a URL with retries and backoff;
- ``database_connection``, for a plugin that keeps its data in the platform's PostgreSQL (the
  pgvector store): the runtime role's connection in a transaction bound to a workspace, so
  row-level security applies to all it runs (:mod:`codex32.plugins.database`).

The package is typed (``py.typed``); ``make test`` type-checks this module. The test kits
(conformance suites, scripted servers) are :mod:`codex32.testing`. Nothing here imports Flask
or the database.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING

from codex32 import delivery
from codex32.delivery import retry_after_seconds
from codex32.outbound import (
    CheckedURL,
    UnsafeURL,
    check_url,
    create_connection,
    pinned_connection,
    private_urls_allowed,
    resolve_url,
)
from codex32.outbound_http import RefusedConnection, pinned_client
from codex32.plugins.errors import (
    AUTH,
    CONNECTION,
    CONTENT_POLICY,
    CONTEXT_LENGTH,
    INVALID_REQUEST,
    OVERLOADED,
    RATE_LIMITED,
    SERVER,
    TIMEOUT,
    UNKNOWN,
    ConfigInvalid,
    PluginError,
    ProviderAuthError,
    ProviderError,
    ProviderRateLimited,
    ProviderTimeout,
    redacted,
)
from codex32.plugins.hookspecs import hookimpl
from codex32.plugins.interfaces import (
    EMPTY_SCHEMA,
    ISOLATION_LEVELS,
    BotServices,
    ChatChunk,
    ChatRequest,
    ChatResult,
    CodeGenerator,
    Embedder,
    EmbeddingResult,
    ExecutionLimits,
    ExecutionOutcome,
    ExecutionRequest,
    Executor,
    GeneratedBot,
    GenerationRequest,
    HealthResult,
    LLMProvider,
    Message,
    Notification,
    Notifier,
    Plugin,
    ServiceError,
    Template,
    Tool,
    ToolCall,
    ToolCallDelta,
    Usage,
    VectorItem,
    VectorMatch,
    VectorStore,
    assembled,
    deltas_of,
    with_defaults,
)
from codex32.plugins.vector_checks import (
    checked_collection,
    checked_item_id,
    checked_vector,
    checked_workspace,
)

if TYPE_CHECKING:
    import uuid

    from sqlalchemy.engine import Connection


def database_connection(workspace_id: str | uuid.UUID | None
                        ) -> AbstractContextManager[Connection]:
    """A connection to the platform's database in a transaction bound to ``workspace_id``
    (None: no workspace, no tenant row visible), committed when the block ends; see
    :func:`codex32.plugins.database.database_connection`. Imported on first use, so this module
    still loads neither Flask nor the database."""
    from codex32.plugins import database

    return database.database_connection(workspace_id)


# What a registry hook gets: ``register(cls)`` once per class the plugin provides.
Register = Callable[[type[Plugin]], None]

__all__ = [
    "AUTH",
    "CONNECTION",
    "CONTENT_POLICY",
    "CONTEXT_LENGTH",
    "EMPTY_SCHEMA",
    "INVALID_REQUEST",
    "ISOLATION_LEVELS",
    "OVERLOADED",
    "RATE_LIMITED",
    "SERVER",
    "TIMEOUT",
    "UNKNOWN",
    "BotServices",
    "ChatChunk",
    "ChatRequest",
    "ChatResult",
    "CheckedURL",
    "CodeGenerator",
    "ConfigInvalid",
    "Embedder",
    "EmbeddingResult",
    "ExecutionLimits",
    "ExecutionOutcome",
    "ExecutionRequest",
    "Executor",
    "GeneratedBot",
    "GenerationRequest",
    "HealthResult",
    "LLMProvider",
    "Message",
    "Notification",
    "Notifier",
    "Plugin",
    "PluginError",
    "ProviderAuthError",
    "ProviderError",
    "ProviderRateLimited",
    "ProviderTimeout",
    "RefusedConnection",
    "Register",
    "ServiceError",
    "Template",
    "Tool",
    "ToolCall",
    "ToolCallDelta",
    "UnsafeURL",
    "Usage",
    "VectorItem",
    "VectorMatch",
    "VectorStore",
    "assembled",
    "check_url",
    "checked_collection",
    "checked_item_id",
    "checked_vector",
    "checked_workspace",
    "create_connection",
    "database_connection",
    "delivery",
    "deltas_of",
    "hookimpl",
    "pinned_client",
    "pinned_connection",
    "private_urls_allowed",
    "redacted",
    "resolve_url",
    "retry_after_seconds",
    "with_defaults",
]

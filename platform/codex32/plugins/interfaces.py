"""The classes a plugin subclasses, one per kind, and the values that cross the boundary.

A plugin class declares what it is as class attributes (``id``, ``config_schema``, ``secrets``,
``capabilities``); an instance is built by the core for one workspace from that workspace's
validated configuration and decrypted secrets. Each base class declares its kind in its class
statement (``class Notifier(Plugin, kind="notifier", default="log")``), the one place a kind is
declared (:mod:`codex32.plugins.kinds`). The values its methods take and return live in
:mod:`codex32.plugins.values` (an executor run's in :mod:`codex32.plugins.runs`) and are
re-exported here. Plugins import these from :mod:`codex32.plugins.api`.
Nothing global, no Flask, no database here.
"""

from __future__ import annotations

import copy
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

from codex32.plugins.kinds import Kind, declare
from codex32.plugins.runs import (  # noqa: F401  (re-exported: plugins import them from here)
    ISOLATION_LEVELS,
    BotServices,
    ExecutionLimits,
    ExecutionOutcome,
    ExecutionRequest,
    ServiceError,
)
from codex32.plugins.values import (  # noqa: F401  (re-exported: plugins import them from here)
    EMPTY_SCHEMA,
    TOOL_CHOICES,
    ChatChunk,
    ChatRequest,
    ChatResult,
    EmbeddingResult,
    GeneratedBot,
    GenerationRequest,
    HealthResult,
    Message,
    Notification,
    Template,
    Tool,
    ToolCall,
    ToolCallDelta,
    Usage,
    VectorItem,
    VectorMatch,
    assembled,
    deltas_of,
)


def with_defaults(schema: dict[str, Any], config: dict[str, Any]) -> dict[str, Any]:
    """A deep copy of ``config`` with the schema's top-level defaults filled in: what the core
    passes to a plugin's constructor."""
    filled = copy.deepcopy(config)
    for name, prop in (schema.get("properties") or {}).items():
        if name not in filled and isinstance(prop, dict) and "default" in prop:
            filled[name] = copy.deepcopy(prop["default"])
    return filled


class Plugin:
    """Base of every plugin class.

    Subclasses set the class attributes; ``__init__`` receives the workspace's configuration
    (already validated against ``config_schema``, defaults applied) and its secrets (a dict of
    the names in ``secrets`` to their plain values). Keep secrets out of ``repr``, logs and
    exception messages.
    """

    kind: ClassVar[str] = ""
    id: ClassVar[str] = ""
    title: ClassVar[str] = ""
    description: ClassVar[str] = ""
    config_schema: ClassVar[dict[str, Any]] = EMPTY_SCHEMA
    secrets: ClassVar[tuple[str, ...]] = ()
    capabilities: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, config: dict[str, Any] | None = None,
                 secrets: dict[str, str] | None = None) -> None:
        self.config: dict[str, Any] = dict(config or {})
        self._secrets: dict[str, str] = dict(secrets or {})

    def __init_subclass__(cls, *, kind: str | None = None, hook: str | None = None,
                          default: str | None = None, **kwargs: Any) -> None:
        """``kind=`` declares a new kind with this class as its base: its registry hook is
        ``hook`` (``register_<kind>s`` when not given), its platform default ``default``."""
        super().__init_subclass__(**kwargs)
        if kind is not None:
            cls.kind = kind
            declare(Kind(kind, cls, hook or f"register_{kind}s", default))

    def secret(self, name: str) -> str | None:
        """The plain value of one declared secret, or None when it is not set."""
        return self._secrets.get(name)

    def health_check(self) -> HealthResult:
        """Check that the plugin works with this configuration. Default: nothing to check."""
        return HealthResult(ok=True, detail="no check needed")

    def probe(self, workspace_id: str) -> HealthResult:
        """What a workspace's ``/test`` of this plugin runs. Default: the health check."""
        return self.health_check()

    def close(self) -> None:
        """Release clients and connections. Called when the instance is evicted."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} id={self.id!r} kind={self.kind!r}>"


# --- LLM providers -----------------------------------------------------------------------


class LLMProvider(Plugin, kind="llm", hook="register_llm_providers", default="builtin"):
    """Turns chat messages into text. Capabilities: ``chat``, ``json``, ``stream``, ``schema``
    (structured output: :attr:`ChatRequest.response_schema`), ``tools`` (function calling:
    :attr:`ChatRequest.tools`, tool calls and results in the messages, ``ChatResult.tool_calls``
    and ``ChatChunk.tool_calls``; the gateway refuses a request using tools on a route holding
    a provider without it).

    The core retries and falls back itself: a provider makes one attempt per call (its SDK's
    own retries off) and raises :class:`codex32.plugins.errors.ProviderError` with the
    ``kind`` of failure, so the core knows whether to retry, fall back or stop.
    """

    is_language_model: ClassVar[bool] = True

    def complete(self, request: ChatRequest) -> ChatResult:
        """Answer the chat. Raise :mod:`codex32.plugins.errors` types on failure."""
        raise NotImplementedError

    def stream(self, request: ChatRequest) -> Iterator[ChatChunk]:
        """Answer the chat piece by piece; the last chunk carries the usage.

        Default, for providers without streaming: one chunk holding :meth:`complete`'s whole
        answer. Closing the iterator early must stop the upstream call.
        """
        result = self.complete(request)
        yield ChatChunk(text=result.text, model=result.model, usage=result.usage,
                        finish_reason=result.finish_reason,
                        tool_calls=deltas_of(result.tool_calls))

    def stream_complete(self, request: ChatRequest,
                        on_text: Callable[[str], None] | None = None) -> ChatResult:
        """Answer the chat through :meth:`stream`, calling ``on_text`` per piece; returns the
        whole result, priced by :meth:`price`."""
        requested = request.model or str(self.config.get("model") or "")
        pieces: list[str] = []
        last = ChatChunk()
        calls: list[ChatChunk] = []
        for chunk in self.stream(request):
            if chunk.tool_calls:
                calls.append(chunk)
            if chunk.text:
                pieces.append(chunk.text)
                if on_text is not None:
                    on_text(chunk.text)
            last = chunk
        usage, answered_by = last.usage or Usage(), last.model or requested
        return ChatResult(text="".join(pieces), model=answered_by, usage=usage,
                          cost_usd=self.price(usage, requested, answered_by),
                          finish_reason=last.finish_reason, tool_calls=assembled(calls))

    def price(self, usage: Usage, requested: str, answered_by: str) -> float:
        """USD for ``usage`` from the plugin's own price table; 0.0 without one (the gateway
        prices every call itself)."""
        return 0.0


# --- Embedders -----------------------------------------------------------------------------


class Embedder(Plugin, kind="embedder", default="hashing"):
    """Turns texts into fixed-dimension vectors."""

    # True for an embedder that runs locally at no cost (the gateway prices it at zero).
    costs_nothing: ClassVar[bool] = False

    @property
    def dimension(self) -> int:
        """The length of every vector this instance returns."""
        raise NotImplementedError

    def embed(self, texts: list[str]) -> EmbeddingResult:
        """Embed the texts. An empty list returns no vectors."""
        raise NotImplementedError


# --- Vector stores -------------------------------------------------------------------------


class VectorStore(Plugin, kind="vector_store", default="pgvector"):
    """Stores and searches vectors. Every call names its workspace; the core supplies it.

    A store must never return, overwrite or delete another workspace's vectors: ``workspace_id``
    is part of every key and every filter.

    ``placement`` names the configuration settings that decide where vectors are kept (a
    server, a database, a collection prefix, a metric the collections are built with): when
    a workspace changes one, or chooses another store, the core re-indexes its knowledge into
    the new place. ``None`` (the default) counts every setting; settings that only tune
    searches (candidates, timeouts) are better left out, so changing them rebuilds nothing.
    Where the operator's environment decides part of the place (a server used when the
    configuration names none), :meth:`operator_placement` says so.
    """

    placement: ClassVar[frozenset[str] | None] = None

    @classmethod
    def operator_placement(cls, config: dict[str, Any]) -> dict[str, Any]:
        """What the operator (the process's environment, not the workspace) decides of where
        the vectors of a store configured with ``config`` (defaults applied) are kept, say
        ``{"operator_uri": ...}`` when the configuration names no server. The core records it
        with each index generation, re-indexes when it changes, and builds the store of a
        generation kept where the operator placed it earlier with it in its configuration:
        the store then uses it instead of the environment's. Its names must not be settings
        of ``config_schema`` (a workspace can never set them). Default: ``{}``, nothing."""
        return {}

    def upsert(self, workspace_id: str, collection: str, items: list[VectorItem]) -> None:
        """Insert or replace items by id within the workspace's collection."""
        raise NotImplementedError

    def search(self, workspace_id: str, collection: str, vector: list[float], top_k: int = 10,
               filters: dict[str, Any] | None = None) -> list[VectorMatch]:
        """Nearest items in the workspace's collection, best first; ``filters`` match metadata."""
        raise NotImplementedError

    def delete(self, workspace_id: str, collection: str, ids: list[str]) -> None:
        """Delete items by id within the workspace's collection; unknown ids are ignored."""
        raise NotImplementedError

    def delete_collection(self, workspace_id: str, collection: str) -> bool:
        """Delete every item of the workspace's collection, in every dimension. Returns False
        when the store cannot (the default, for stores written before this method): the caller
        then deletes by id."""
        return False

    def delete_workspace(self, workspace_id: str) -> bool:
        """Delete every item of the workspace, in every collection and dimension (its data is
        being erased). Returns False when the store cannot (the default), so the caller can
        record that vectors were left behind."""
        return False


# --- Code generators -----------------------------------------------------------------------


class CodeGenerator(Plugin, kind="code_generator", default="template"):
    """Produces bot code from a template or a specification."""

    def templates(self) -> list[Template]:
        """The templates this generator offers (may be empty)."""
        return []

    def generate(self, request: GenerationRequest) -> GeneratedBot:
        """Generate the bot's files. Raise ``ConfigInvalid`` for bad parameters."""
        raise NotImplementedError


# --- Notifiers -----------------------------------------------------------------------------


class Notifier(Plugin, kind="notifier", default="log"):
    """Delivers notifications (webhook, e-mail, chat). Raise ``ProviderError`` to be retried."""

    def notify(self, notification: Notification) -> None:
        """Deliver one notification or raise."""
        raise NotImplementedError

    def probe(self, workspace_id: str) -> HealthResult:
        """Send a real test notification to the workspace's receiver."""
        started = time.perf_counter()
        self.notify(Notification(
            event="notifier.test", workspace_id=workspace_id, id=f"test-{uuid.uuid4().hex}",
            payload={"message": "A test notification from Codex-32: this notifier works."}))
        return HealthResult(ok=True, detail="test notification delivered",
                            latency_ms=round((time.perf_counter() - started) * 1000, 2))


# --- Executors (the values of a run are in codex32.plugins.runs) ------------------------------


class Executor(Plugin, kind="executor", default="subprocess"):
    """Runs bot code in isolation. ``isolation_level`` names what it enforces."""

    def isolation_level(self) -> str:
        """``none``, ``process``, ``user`` or ``namespace`` (ordered weakest to strongest)."""
        return "none"

    def run(self, request: ExecutionRequest, cancel: threading.Event) -> ExecutionOutcome:
        """Run to completion, or stop the whole run within 2 s once ``cancel`` is set."""
        raise NotImplementedError

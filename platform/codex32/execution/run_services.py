"""What a running bot may ask of the platform (``context.llm``), answered by its worker.

The worker builds one :class:`RunServices` per run, bound to the run's workspace, bot and
execution; the sandbox's channel (:mod:`codex32.execution.sandbox.channel`) calls it with the
method and parameters the bot sent. The bot chooses only those: parameters are checked
against what each method takes, so a bot cannot name a workspace, a provider or a key.
Methods are registered in :data:`METHODS` (``llm.chat``, ``llm.embed``, ``search.query``).
Every call opens its own tenant-bound session; none is held across a model call.
"""

from __future__ import annotations

import json
import math
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from codex32.config import Settings
from codex32.db import tenancy
from codex32.errors import DomainError, RateLimited, from_plugin_error
from codex32.observability import tracing
from codex32.observability.logging import log_context
from codex32.plugins.errors import PluginError
from codex32.plugins.interfaces import (
    BotServices,
    ChatRequest,
    Message,
    ServiceError,
)
from codex32.services import gateway
from codex32.services.gateway.budgets import BudgetExceeded
from codex32.services.knowledge import search as knowledge_search

PURPOSE = "bot"  # what the platform's LLM service meters these calls as
ROLES = ("system", "user", "assistant")
MAX_MESSAGES = 200
MAX_OUTPUT_TOKENS = 32_768
MAX_MODEL_CHARS = 200
MAX_EMBED_TEXTS = 64
# The most bytes one value of a vector takes in a reply's JSON ("-1.2345678901234567e-05, ")
VALUE_BYTES = 25
REPLY_OVERHEAD = 1024  # the reply's other fields (model, dimension, id) and framing
CHAT_PARAMS = ("messages", "model", "temperature", "max_tokens", "json_mode")
EMBED_PARAMS = ("texts",)
SEARCH_PARAMS = ("q", "kind", "collection", "limit")
MAX_SEARCH_LIMIT = 50


@dataclass(frozen=True)
class RunServices:
    """The services of one run: every call is made for this workspace, bot and execution."""

    sessions: Callable[[], Session]
    workspace_id: str
    bot_id: str
    execution_id: str
    max_reply_bytes: int = 1 << 20  # the channel's cap of a reply (embed checks its size)

    def __call__(self, method: str, params: dict[str, Any], timeout: float) -> Any:
        """Answer one call from the bot (the channel's handler)."""
        serve = METHODS.get(method)
        if serve is None:
            raise ServiceError(f"the platform offers no {method[:64]!r}; it offers "
                               f"{', '.join(sorted(METHODS))}", "UnknownMethod")
        try:
            with log_context(workspace_id=self.workspace_id, bot_id=self.bot_id,
                             execution_id=self.execution_id, purpose=PURPOSE), \
                    tracing.span(f"bot call {method}", attributes={"codex32.method": method}):
                return serve(self, params, timeout)
        except DomainError as exc:
            raise ServiceError(exc.message, _kind(exc)) from None
        except PluginError as exc:
            mapped = from_plugin_error(exc, "the embedder")
            raise ServiceError(mapped.message, type(mapped).__name__) from None


def _kind(exc: DomainError) -> str:
    """The ``exc.type`` a bot sees (docs/bots.md): a spent budget is ``BudgetExceeded``, any
    other limit (the gateway's rate limits, the platform's) ``RateLimited``, never the name
    of a class inside the platform."""
    if isinstance(exc, BudgetExceeded):
        return "BudgetExceeded"
    if isinstance(exc, RateLimited):
        return "RateLimited"
    return type(exc).__name__


def for_run(settings: Settings, sessions: Callable[[], Session], workspace_id: str,
            bot_id: uuid.UUID | str, execution_id: uuid.UUID | str) -> BotServices:
    """The services a run gets, within the platform's bounds per run."""
    return BotServices(
        call=RunServices(sessions, str(workspace_id), str(bot_id), str(execution_id),
                         settings.bot_call_max_bytes),
        max_calls=settings.bot_calls_per_run, max_concurrent=settings.bot_concurrent_calls,
        call_timeout_seconds=settings.bot_call_timeout_seconds,
        max_message_bytes=settings.bot_call_max_bytes)


# --- llm.chat and llm.embed ------------------------------------------------------------------


def chat(run: RunServices, params: dict[str, Any], timeout: float) -> dict[str, Any]:
    """``context.llm.chat``: the workspace's language model answers the messages."""
    _only(params, CHAT_PARAMS, "llm.chat")
    request = ChatRequest(messages=_messages(params.get("messages")),
                          model=_model(params.get("model")),
                          temperature=_number(params, "temperature", 0.2, 0.0, 2.0),
                          max_tokens=int(_number(params, "max_tokens", 1024, 1,
                                                 MAX_OUTPUT_TOKENS, integer=True)),
                          json_mode=_flag(params, "json_mode"), timeout=timeout)
    result = complete_chat(run, request)
    return {"text": result.text, "model": result.model, "finish_reason": result.finish_reason,
            "usage": {"input_tokens": result.usage.input_tokens,
                      "output_tokens": result.usage.output_tokens}}


def embed(run: RunServices, params: dict[str, Any], timeout: float) -> dict[str, Any]:
    """``context.llm.embed``: one vector per text from the workspace's embedder."""
    _only(params, EMBED_PARAMS, "llm.embed")
    texts = params.get("texts")
    if (not isinstance(texts, list) or not 1 <= len(texts) <= MAX_EMBED_TEXTS
            or not all(isinstance(text, str) for text in texts)):
        raise ServiceError(f"texts must be a list of 1 to {MAX_EMBED_TEXTS} strings",
                           "InvalidRequest")
    for index, text in enumerate(texts):
        _unicode(text, f"texts[{index}]")
    result = embed_texts(run, texts, timeout)
    return {"vectors": result.vectors, "model": result.model,
            "dimension": len(result.vectors[0]) if result.vectors else 0}


def search(run: RunServices, params: dict[str, Any], timeout: float) -> dict[str, Any]:
    """``context.search``: hybrid search over the run's own workspace's documents and bots
    (a collection of another workspace is not found), metered to the bot."""
    started = time.monotonic()
    _only(params, SEARCH_PARAMS, "search.query")
    query, kind, collection = params.get("q"), params.get("kind"), params.get("collection")
    if not isinstance(query, str) or not 0 < len(query.strip()) <= \
            knowledge_search.MAX_QUERY_CHARS:
        raise ServiceError(f"q must be a string of 1 to {knowledge_search.MAX_QUERY_CHARS} "
                           "characters", "InvalidRequest")
    _unicode(query, "q")
    if kind is not None and kind not in knowledge_search.KINDS:
        raise ServiceError(f"kind must be one of {', '.join(knowledge_search.KINDS)} or None",
                           "InvalidRequest")
    try:
        collection_id = None if collection is None else uuid.UUID(str(collection))
    except ValueError:
        raise ServiceError("collection must be a collection id", "InvalidRequest") from None
    limit = int(_number(params, "limit", 10, 1, MAX_SEARCH_LIMIT, integer=True))
    # Read-only: each session's transaction ends when it closes.
    with run.sessions() as session, tenancy.bound(session, run.workspace_id):
        prepared = knowledge_search.prepare(session, run.workspace_id, query,
                                            caller=_caller(run), kind=kind,
                                            collection_id=collection_id, limit=limit)
    # Within the call's time: the query's embedding does not outlive the run's deadline.
    prepared.nearest(deadline_seconds=max(0.0, timeout - (time.monotonic() - started)))
    with run.sessions() as session, tenancy.bound(session, run.workspace_id):
        found = knowledge_search.finish(session, prepared)
    return json.loads(json.dumps(found, default=str))


METHODS: dict[str, Callable[[RunServices, dict[str, Any], float], Any]] = {
    "llm.chat": chat, "llm.embed": embed, "search.query": search}


# --- the one place a bot's call reaches the platform's model services: the LLM gateway -------
# (purpose ``bot``, the run's bot and execution as caller: the ledger records the call and the
# bot's budget bounds it).


def _caller(run: RunServices) -> gateway.Caller:
    return gateway.Caller(bot_id=uuid.UUID(str(run.bot_id)),
                          execution_id=uuid.UUID(str(run.execution_id)))


def complete_chat(run: RunServices, request: ChatRequest) -> gateway.GatewayResult:
    """The workspace's models answer ``request`` for this run, through the gateway."""
    return gateway.chat(run.workspace_id, request, purpose=PURPOSE, caller=_caller(run),
                        deadline_seconds=request.timeout)


def embed_texts(run: RunServices, texts: list[str], timeout: float) -> gateway.GatewayEmbedding:
    """The workspace's embedder embeds ``texts`` for this run, through the gateway."""
    # Vectors the channel could not deliver are refused before they are paid for.
    most = max(0, run.max_reply_bytes - REPLY_OVERHEAD) // VALUE_BYTES
    return gateway.embed(run.workspace_id, texts, purpose=PURPOSE, caller=_caller(run),
                         deadline_seconds=timeout, max_values=most)


# --- checking what the bot sent --------------------------------------------------------------


def _only(params: dict[str, Any], allowed: tuple[str, ...], method: str) -> None:
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise ServiceError(
            f"{method} does not take {', '.join(repr(name[:64]) for name in unknown[:5])} "
            f"(it takes {', '.join(allowed)}): a bot's calls always use its own workspace "
            "and the providers it configured", "InvalidRequest")


def _messages(value: Any) -> tuple[Message, ...]:
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_MESSAGES:
        raise ServiceError(f"messages must be a string or a list of 1 to {MAX_MESSAGES} "
                           "messages", "InvalidRequest")
    messages = []
    for index, item in enumerate(value):
        if (not isinstance(item, dict) or set(item) != {"role", "content"}
                or item["role"] not in ROLES or not isinstance(item["content"], str)):
            raise ServiceError(f"messages[{index}] must be {{\"role\": one of "
                               f"{', '.join(ROLES)}, \"content\": a string}}", "InvalidRequest")
        _unicode(item["content"], f"messages[{index}].content")
        messages.append(Message(item["role"], item["content"]))
    return tuple(messages)


def _unicode(value: str, name: str) -> None:
    """Refuse a string no encoder takes (a lone surrogate: JSON's ``\\ud800`` decodes to
    one), which would fail deep in the gateway as the platform's error."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ServiceError(f"{name} is not valid Unicode: it holds a lone surrogate at "
                           f"position {exc.start}", "InvalidRequest") from None


def _model(value: Any) -> str | None:
    if value is None:
        return None
    if (not isinstance(value, str) or not 0 < len(value) <= MAX_MODEL_CHARS
            or not value.isprintable()):
        raise ServiceError(f"model must be a model name of at most {MAX_MODEL_CHARS} "
                           "printable characters, or None for the workspace's default",
                           "InvalidRequest")
    return value


def _number(params: dict[str, Any], name: str, default: float, low: float, high: float,
            integer: bool = False) -> float:
    value = params.get(name)
    if value is None:
        return default
    kinds = (int,) if integer else (int, float)
    if (isinstance(value, bool) or not isinstance(value, kinds) or not math.isfinite(value)
            or not low <= value <= high):
        kind = "an integer" if integer else "a number"
        raise ServiceError(f"{name} must be {kind} from {low:g} to {high:g}", "InvalidRequest")
    return value


def _flag(params: dict[str, Any], name: str) -> bool:
    value = params.get(name, False)
    if not isinstance(value, bool):
        raise ServiceError(f"{name} must be true or false", "InvalidRequest")
    return value

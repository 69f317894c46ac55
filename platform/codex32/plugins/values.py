"""The values that cross the plugin boundary, kind by kind: what the core passes a plugin's
methods and what they return (``ChatRequest`` in, ``ChatResult`` out, ...).

The base classes that take and return them are in :mod:`codex32.plugins.interfaces`, which
re-exports every name here (an executor run's values are :mod:`codex32.plugins.runs`): plugins
import them from :mod:`codex32.plugins.api`, the core from ``interfaces``. Plain frozen data;
nothing global, no Flask, no database here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

# The schema of an object with no properties: a plugin without settings, a template without
# parameters.
EMPTY_SCHEMA: dict[str, Any] = {"type": "object", "properties": {}, "additionalProperties": False}


# --- Every plugin --------------------------------------------------------------------------


@dataclass(frozen=True)
class HealthResult:
    """What a health check found: ``ok`` and a short human detail (never a secret)."""

    ok: bool
    detail: str = ""
    latency_ms: float | None = None


# --- LLM providers -------------------------------------------------------------------------


@dataclass(frozen=True)
class ToolCall:
    """A function call the model asked for: ``arguments`` is the JSON text of an object, as
    the model wrote it (the caller parses and checks it)."""

    id: str
    name: str
    arguments: str = "{}"


@dataclass(frozen=True)
class ToolCallDelta:
    """A piece of a streamed tool call (OpenAI's chunk shape): the first piece of call
    ``index`` carries its ``id`` and ``name``, the next ones fragments of its ``arguments``."""

    index: int
    id: str | None = None
    name: str | None = None
    arguments: str = ""


@dataclass(frozen=True)
class Tool:
    """A function the model may call: ``parameters`` is the JSON Schema of its arguments."""

    name: str
    description: str = ""
    parameters: dict[str, Any] = field(default_factory=lambda: dict(EMPTY_SCHEMA), hash=False)
    strict: bool = False


# ChatRequest.tool_choice's modes; any other value names the one tool the model must call.
TOOL_CHOICES = ("auto", "none", "required")


@dataclass(frozen=True)
class Message:
    """One chat message: role is ``system``, ``user``, ``assistant`` or ``tool``.

    An assistant message may hold the ``tool_calls`` the model made (its ``content`` then
    often empty); a ``tool`` message answers one of them: ``tool_call_id`` names it and
    ``content`` is the result's text.
    """

    role: str
    content: str
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None


@dataclass(frozen=True)
class Usage:
    """Token counts as the provider reported them (not estimated from words).

    ``input_tokens`` counts every prompt token, the ``cached_input_tokens`` read from the
    provider's prompt cache included; ``output_tokens`` counts every generated token, the
    ``reasoning_tokens`` of a reasoning model included. Providers whose API does not report a
    count leave it at 0.
    """

    input_tokens: int = 0
    output_tokens: int = 0
    cached_input_tokens: int = 0
    reasoning_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


@dataclass(frozen=True)
class ChatRequest:
    """A chat completion request. ``model`` None means the provider's configured default.

    ``response_schema`` asks for structured output: ``{"name": ..., "schema": {JSON Schema of
    an object}, "description"?: ...}``. A provider that supports it (capability ``schema``)
    answers with the JSON text of one object meant to match the schema (OpenAI's
    ``json_schema`` response format, Anthropic's forced tool); the caller still validates it.
    A provider without the capability ignores it: callers set ``json_mode`` as well.

    ``stop`` holds stop sequences: the answer ends before the first one it would contain
    (OpenAI's ``stop``, Anthropic's ``stop_sequences``). A provider may ignore those it cannot
    send (Anthropic takes none made of whitespace only); the caller that asked for them cuts
    the answer itself as well (the OpenAI-compatible endpoint does).

    ``tools`` are the functions the model may call; ``tool_choice`` is ``auto`` (None: the
    same), ``none``, ``required`` or the name of the one tool to call; ``parallel_tool_calls``
    False asks for at most one call (None: the provider's default). Only a provider with the
    capability ``tools`` gets a request that uses tools (:attr:`uses_tools`): the gateway
    refuses one whose route holds another, so a provider without it never sees them.
    """

    messages: tuple[Message, ...]
    model: str | None = None
    temperature: float = 0.2
    max_tokens: int = 1024
    json_mode: bool = False
    timeout: float = 60.0
    response_schema: dict[str, Any] | None = field(default=None, hash=False)
    stop: tuple[str, ...] = ()
    tools: tuple[Tool, ...] = ()
    tool_choice: str | None = None
    parallel_tool_calls: bool | None = None

    @property
    def uses_tools(self) -> bool:
        """Whether the request offers tools or its conversation holds tool calls."""
        return bool(self.tools) or any(m.tool_calls or m.role == "tool"
                                       for m in self.messages)


@dataclass(frozen=True)
class ChatResult:
    """A completed chat: the text, the model that answered, real usage and its cost in USD.
    ``tool_calls`` holds the calls the model made (its ``finish_reason`` then
    ``tool_calls``)."""

    text: str
    model: str
    usage: Usage = field(default_factory=Usage)
    cost_usd: float = 0.0
    finish_reason: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()


@dataclass(frozen=True)
class ChatChunk:
    """A piece of a streamed answer. The last chunk of a stream carries ``usage`` (and the
    ``finish_reason``); ``model`` names the model that answered when the provider said so;
    ``tool_calls`` carries pieces of the calls the model makes (:func:`assembled`)."""

    text: str = ""
    model: str | None = None
    usage: Usage | None = None
    finish_reason: str | None = None
    tool_calls: tuple[ToolCallDelta, ...] = ()


def deltas_of(calls: tuple[ToolCall, ...]) -> tuple[ToolCallDelta, ...]:
    """Whole tool calls as stream pieces, one each."""
    return tuple(ToolCallDelta(index=i, id=call.id, name=call.name, arguments=call.arguments)
                 for i, call in enumerate(calls))


def assembled(chunks: Iterable[ChatChunk]) -> tuple[ToolCall, ...]:
    """The tool calls a stream's pieces add up to, by index (arguments concatenated; a call
    whose arguments never came has ``{}``)."""
    found: dict[int, dict[str, str]] = {}
    for chunk in chunks:
        for delta in chunk.tool_calls:
            call = found.setdefault(delta.index, {"id": "", "name": "", "arguments": ""})
            call["id"] = delta.id or call["id"]
            call["name"] = delta.name or call["name"]
            call["arguments"] += delta.arguments
    return tuple(ToolCall(id=c["id"], name=c["name"], arguments=c["arguments"] or "{}")
                 for _, c in sorted(found.items()))


# --- Embedders -----------------------------------------------------------------------------


@dataclass(frozen=True)
class EmbeddingResult:
    """One vector per input text, in order, each of ``dimension`` floats."""

    vectors: list[list[float]]
    model: str
    usage: Usage = field(default_factory=Usage)


# --- Vector stores -------------------------------------------------------------------------


@dataclass(frozen=True)
class VectorItem:
    """A vector to store: ``id`` unique per workspace and collection; metadata is flat JSON."""

    id: str
    vector: list[float]
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class VectorMatch:
    """A search hit: higher ``score`` is more similar."""

    id: str
    score: float
    metadata: dict[str, Any] = field(default_factory=dict)


# --- Code generators -----------------------------------------------------------------------


@dataclass(frozen=True)
class Template:
    """A ready-made bot a generator offers; ``parameters`` is a JSON Schema object.

    ``requires`` says what its bots may need from the platform: ``{"network": True}`` for a
    template whose bots reach other hosts (the generated bot's own ``requires`` says whether
    this one does).
    """

    id: str
    title: str
    description: str
    parameters: dict[str, Any] = field(default_factory=lambda: dict(EMPTY_SCHEMA))
    requires: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class GenerationRequest:
    """What to generate: a template and its parameters, or a free-form specification."""

    name: str
    description: str = ""
    template: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    specification: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class GeneratedBot:
    """The generated files by path; ``bot.py`` holds the code that follows the bot contract.

    ``requires`` says what this bot needs to run, e.g. ``{"network": True}``: a bot created
    from it gets that setting by default.
    """

    files: dict[str, str]
    entrypoint: str = "bot.py"
    requires: dict[str, Any] = field(default_factory=dict)

    @property
    def code(self) -> str:
        return self.files[self.entrypoint]


# --- Notifiers -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Notification:
    """An event to deliver, e.g. ``execution.succeeded``; ``payload`` is JSON-serializable."""

    event: str
    workspace_id: str
    payload: dict[str, Any]
    id: str = ""

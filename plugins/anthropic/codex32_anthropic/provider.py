"""AnthropicProvider: chat through Anthropic's Messages API with the official ``anthropic`` SDK.

Splits system prompts out of the messages (the API takes them apart), assembles the text from
content blocks, reports the usage the API counted and its cost from the configured price table,
and translates the SDK's exceptions into :mod:`codex32.plugins.errors`. It never reads the
process environment: every value comes from the workspace's configuration and secret.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, ClassVar

from codex32.plugins.api import (
    CONNECTION,
    ChatChunk,
    ChatRequest,
    ChatResult,
    ConfigInvalid,
    HealthResult,
    LLMProvider,
    ProviderError,
    ProviderTimeout,
    RefusedConnection,
    ToolCall,
    ToolCallDelta,
    Usage,
    pinned_client,
    with_defaults,
)
from codex32_anthropic.errors import sdk, translate
from codex32_anthropic.tools import joined_turns, piece_of, tool_choice, turn_of

try:  # anthropic 2.x streams over httpx2, earlier releases over httpx
    import httpx2 as _http
except ImportError:  # pragma: no cover - depends on the installed SDK
    import httpx as _http  # type: ignore[no-redef]

if TYPE_CHECKING:
    import anthropic

DEFAULT_BASE_URL = "https://api.anthropic.com"

# Sent when a self-hosted gateway needs no key: passing None would make the SDK fall back to
# ANTHROPIC_API_KEY or a profile on disk, i.e. the operator's credentials for a tenant's call.
NO_KEY = "no-key"

# The Messages API has no JSON switch for free-form objects (structured outputs need a schema),
# so JSON mode is an instruction, and a code fence around the answer is taken off.
JSON_INSTRUCTION = ("Answer with a single JSON object and nothing else: no prose before or "
                    "after it, no code fence.")
CODE_FENCE = re.compile(r"^\s*```[a-zA-Z]*\s*\n(.*?)\n?```\s*$", re.DOTALL)

# Prompt caching prices: writing the cache costs 1.25 times the input price, reading 0.1 times.
CACHE_WRITE_FACTOR = 1.25
CACHE_READ_FACTOR = 0.1

SNAPSHOT_SUFFIX = re.compile(r"-\d{8}$")  # claude-haiku-4-5-20251001 → claude-haiku-4-5

# Every text a workspace saves is bounded: a model name as the core's ledger keeps one, a URL
# as the other plugins take one; a price table names at most MAX_PRICED_MODELS models.
MAX_NAME = 200
MAX_URL = 2048
MAX_PRICED_MODELS = 500


class AnthropicProvider(LLMProvider):
    """Claude models through ``messages.create`` and, for streaming, ``messages.stream``."""

    id = "anthropic"
    title = "Anthropic"
    description = "Anthropic's Claude models through the Messages API."
    secrets = ("api_key",)
    capabilities = frozenset({"chat", "json", "stream", "schema", "tools"})
    config_schema: ClassVar[dict[str, Any]] = {
        "type": "object",
        "properties": {
            "base_url": {"type": "string", "format": "uri", "minLength": 1, "maxLength": MAX_URL,
                         "description": "API root of an Anthropic-compatible gateway. "
                                        "Default: " + DEFAULT_BASE_URL},
            "model": {"type": "string", "minLength": 1, "maxLength": MAX_NAME,
                      "default": "claude-haiku-4-5",
                      "description": "Model used when a request names none."},
            "timeout": {"type": "number", "exclusiveMinimum": 0, "maximum": 600, "default": 60,
                        "description": "Seconds to wait for an answer, per attempt."},
            "max_retries": {"type": "integer", "minimum": 0, "maximum": 5, "default": 0,
                            "description": "Ignored, kept so saved configurations stay valid: "
                                           "the core's gateway retries and falls back, the "
                                           "SDK never retries (one retry policy, not two)."},
            "send_temperature": {
                "type": "boolean", "default": False,
                "description": "Send the request's temperature. Current models and SDKs take "
                               "none; turn on for a gateway or model that still does."},
            "prices": {
                "type": "object",
                "description": "USD per million tokens by model name (a name also prices its "
                               "dated snapshots).",
                "propertyNames": {"type": "string", "minLength": 1, "maxLength": MAX_NAME},
                "maxProperties": MAX_PRICED_MODELS,
                "additionalProperties": {
                    "type": "object",
                    "properties": {"input": {"type": "number", "minimum": 0},
                                   "output": {"type": "number", "minimum": 0}},
                    "required": ["input", "output"],
                    "additionalProperties": False,
                },
                "default": {},
            },
        },
        "additionalProperties": False,
    }

    def __init__(self, config: dict[str, Any] | None = None,
                 secrets: dict[str, str] | None = None) -> None:
        super().__init__(config, secrets)
        self.config = with_defaults(self.config_schema, self.config)
        self._client: anthropic.Anthropic | None = None
        self._client_lock = threading.Lock()

    # the contract

    def complete(self, request: ChatRequest) -> ChatResult:
        """Answer the chat in one request; usage is what the API reported."""
        model = request.model or self.config["model"]
        with self.translated_errors():
            message = self.client.messages.create(**self._parameters(request, model),
                                                  timeout=self._timeout(request))
        return self._result(message, model, request)

    def stream(self, request: ChatRequest) -> Iterator[ChatChunk]:
        """Answer the chat as pieces of text; the last chunk carries the usage the API counted.

        Closing the iterator closes the HTTP response, which stops the upstream generation.
        In JSON mode a code fence is only taken off the whole answer, and structured output is
        the forced tool's input, so in both the text comes as one chunk at the end.
        """
        model = request.model or self.config["model"]
        whole = request.json_mode or request.response_schema is not None
        calls: dict[int, int] = {}  # a tool_use block's index: its call's
        fed: set[int] = set()  # the calls whose arguments came
        with self.translated_errors(), self.client.messages.stream(
                **self._parameters(request, model), timeout=self._timeout(request)) as stream:
            for event in stream:
                piece = piece_of(event, calls, fed) if request.tools else None
                if piece is not None:
                    yield ChatChunk(model=model, tool_calls=(piece,))
                elif event.type == "content_block_delta" and event.delta.type == "text_delta" \
                        and event.delta.text and not whole:
                    yield ChatChunk(text=event.delta.text, model=model)
            message = stream.get_final_message()
        result = self._result(message, model, request)
        empty = tuple(ToolCallDelta(index=i, arguments="{}") for i in sorted(calls.values())
                      if i not in fed)  # a call without arguments: an empty object
        yield ChatChunk(text=result.text if whole else "", model=result.model,
                        usage=result.usage, finish_reason=result.finish_reason,
                        tool_calls=empty)

    def price(self, usage: Usage, requested: str, answered_by: str) -> float:
        """What :meth:`stream_complete` charges: the plugin's own price table."""
        return self._cost(requested, answered_by, usage)

    def health_check(self) -> HealthResult:
        """List the models (free) and check the configured one is among them.

        The detail never quotes what the API answered: a test is no way to read a server.
        """
        model = self.config["model"]
        started = time.perf_counter()
        try:
            with self.translated_errors(quote=False):
                models = [m.id for m in self.client.models.list(
                    timeout=min(float(self.config["timeout"]), 10.0))]
        except (ProviderError, ConfigInvalid) as exc:
            return HealthResult(ok=False, detail=str(exc), latency_ms=_ms_since(started))
        latency = _ms_since(started)
        # An alias ("claude-haiku-4-5") is served when one of its snapshots is listed.
        if models and not any(m == model or m.startswith(model + "-") for m in models):
            return HealthResult(ok=False, latency_ms=latency,
                                detail=f"model {model!r} is not among the {len(models)} listed")
        return HealthResult(ok=True, latency_ms=latency,
                            detail=f"{len(models)} models listed, {model!r} available")

    def close(self) -> None:
        """Close the SDK client's connection pool."""
        with self._client_lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    # the SDK client

    @property
    def client(self) -> anthropic.Anthropic:
        """The SDK client, built on first use from this instance's configuration and secret."""
        with self._client_lock:
            if self._client is None:
                base_url = self.config.get("base_url") or DEFAULT_BASE_URL
                api_key = self.secret("api_key")
                if not api_key:
                    if base_url.rstrip("/") == DEFAULT_BASE_URL:
                        raise ConfigInvalid("the api_key secret is required for "
                                            "api.anthropic.com", {"api_key": ["required"]})
                    api_key = NO_KEY
                self._client = sdk().Anthropic(
                    api_key=api_key, base_url=base_url,
                    timeout=float(self.config["timeout"]),
                    max_retries=0,  # the gateway's router retries; two would multiply
                    # Every connection is checked where it is made; redirects are not followed.
                    http_client=pinned_client())
            return self._client

    @contextmanager
    def translated_errors(self, *, quote: bool = True) -> Iterator[None]:
        """Turn SDK and transport exceptions raised inside the block into plugin errors.

        ``quote=False`` leaves the API's own words out (status and error class only).
        """
        try:
            yield
        except sdk().AnthropicError as exc:
            # ``from None``: the SDK's exception text may quote what the API echoed back.
            raise translate(exc, self.secret("api_key"), quote=quote) from None
        except _http.TimeoutException:
            # The SDK wraps timeouts of the request, not of reading a stream already started.
            raise ProviderTimeout("Anthropic stopped sending in the middle of an answer") from None
        except RefusedConnection as exc:
            raise ProviderError(str(exc)) from None
        except _http.HTTPError as exc:
            raise ProviderError(f"the connection to Anthropic failed ({type(exc).__name__})",
                                kind=CONNECTION) from None

    # requests and results

    def _parameters(self, request: ChatRequest, model: str) -> dict[str, Any]:
        system = [m.content for m in request.messages if m.role == "system"]
        forced = request.response_schema is not None and not request.tools
        if request.json_mode and not forced:
            system.append(JSON_INSTRUCTION)
        if request.response_schema is not None and not forced:
            # The tools take the forced tool's place: the schema is an instruction instead.
            system.append("The JSON object matches this JSON Schema: " + json.dumps(
                request.response_schema.get("schema") or {"type": "object"}))
        turns: list[dict[str, Any]] = []
        for message in request.messages:
            if message.role == "system":
                continue
            role, content = turn_of(message)
            if turns and turns[-1]["role"] == role:
                # Keep roles alternating, as the API has long required.
                turns[-1]["content"] = joined_turns(turns[-1]["content"], content)
            else:
                turns.append({"role": role, "content": content})
        parameters: dict[str, Any] = {"model": model, "max_tokens": request.max_tokens,
                                      "messages": turns}
        if system:
            parameters["system"] = "\n\n".join(system)
        if self.config["send_temperature"]:
            # The API takes 0 to 1; OpenAI's callers may send up to 2 (a 400 here otherwise).
            parameters["extra_body"] = {"temperature": min(max(request.temperature, 0.0), 1.0)}
        # The API refuses a stop sequence of whitespace only ("\n"): left to the caller, which
        # cuts the answer at its stop sequences itself (ChatRequest.stop).
        stop = [s for s in request.stop if s.strip()]
        if stop:
            parameters["stop_sequences"] = stop
        if forced and request.response_schema is not None:
            # Structured output: one tool whose input is the schema, and the model made to
            # call it; the answer is the tool's input.
            tool = forced_tool(request.response_schema)
            parameters["tools"] = [tool]
            parameters["tool_choice"] = {"type": "tool", "name": tool["name"]}
        elif request.tools:
            parameters["tools"] = [{"name": t.name, "input_schema": t.parameters,
                                    **({"description": t.description} if t.description
                                       else {})} for t in request.tools]
            choice = tool_choice(request.tool_choice)
            if request.parallel_tool_calls is False and choice["type"] != "none":
                choice["disable_parallel_tool_use"] = True
            parameters["tool_choice"] = choice
        return parameters

    def _timeout(self, request: ChatRequest) -> float:
        # The workspace's setting is a ceiling; the caller's budget may be shorter.
        return min(float(request.timeout), float(self.config["timeout"]))

    def _result(self, message: Any, model: str, request: ChatRequest) -> ChatResult:
        text = "".join(block.text for block in message.content
                       if getattr(block, "type", None) == "text")
        uses = [block for block in message.content
                if getattr(block, "type", None) == "tool_use"]
        tool_input = uses[0].input if uses and not request.tools else None
        calls = tuple(ToolCall(id=block.id, name=block.name,
                               arguments=json.dumps(block.input, ensure_ascii=False))
                      for block in uses) if request.tools else ()
        if request.response_schema is not None and tool_input is not None:
            text = json.dumps(tool_input, ensure_ascii=False)
        elif request.json_mode or request.response_schema is not None:
            fenced = CODE_FENCE.match(text)
            text = fenced.group(1).strip() if fenced else text.strip()
        reported = message.usage
        cache_writes = getattr(reported, "cache_creation_input_tokens", None) or 0
        cache_reads = getattr(reported, "cache_read_input_tokens", None) or 0
        # Anthropic counts cached prompt tokens apart; all of them are input.
        usage = Usage(input_tokens=reported.input_tokens + cache_writes + cache_reads,
                      output_tokens=reported.output_tokens, cached_input_tokens=cache_reads)
        answered_by = message.model or model
        return ChatResult(text=text, model=answered_by, usage=usage,
                          cost_usd=self._cost(model, answered_by, usage, cache_writes),
                          finish_reason="tool_calls" if calls and message.stop_reason
                          == "tool_use" else message.stop_reason, tool_calls=calls)

    def _cost(self, model: str, answered_by: str, usage: Usage, cache_writes: int = 0) -> float:
        """USD from the plugin's own price table (0.0 for a model it does not list); the
        gateway prices calls itself, this is for callers of the plugin alone."""
        price = _price_for(self.config.get("prices") or {}, model, answered_by)
        if price is None:
            return 0.0
        uncached = usage.input_tokens - usage.cached_input_tokens - cache_writes
        return (price["input"] * (uncached + CACHE_WRITE_FACTOR * cache_writes
                                  + CACHE_READ_FACTOR * usage.cached_input_tokens)
                + price["output"] * usage.output_tokens) / 1_000_000


# --- small pieces ---------------------------------------------------------------------------


def forced_tool(response_schema: dict[str, Any]) -> dict[str, Any]:
    """The tool whose input is a request's ``response_schema`` (names: letters, digits, _-)."""
    name = re.sub(r"[^A-Za-z0-9_-]", "_", str(response_schema.get("name") or "answer"))[:64]
    return {"name": name or "answer",
            "description": str(response_schema.get("description")
                               or "Answer by calling this tool with the requested object."),
            "input_schema": response_schema.get("schema") or {"type": "object"}}


def _price_for(prices: dict[str, dict[str, float]], requested: str,
               answered_by: str) -> dict[str, float] | None:
    for name in (requested, answered_by, SNAPSHOT_SUFFIX.sub("", answered_by)):
        if name in prices:
            return prices[name]
    return None


def _ms_since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)

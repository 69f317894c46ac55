"""The OpenAI-compatible endpoint under ``/api/v1/openai/``: ``chat/completions`` (with
streaming), ``embeddings`` and ``models``, so the official ``openai`` SDK pointed at it with a
workspace API key as its key works unchanged, through the same gateway (routing, budgets,
cache, ledger; purpose ``gateway``). Thin: translate the shape, call the gateway."""

from __future__ import annotations

import base64
import json
import struct
import time
import uuid
from collections.abc import Iterator
from typing import Any

from flask import Response, stream_with_context
from marshmallow import EXCLUDE, Schema, ValidationError, fields, pre_load, validate

from codex32.api import openings, transaction
from codex32.api.blueprint import Blueprint
from codex32.api.schemas import JsonBoolean, JsonInteger, JsonNumber
from codex32.api.v1 import openai_errors, openai_params, openai_tools
from codex32.api.v1.llm import caller_of
from codex32.api.v1.llm_schemas import MAX_MODEL, ResponseSchemaSchema
from codex32.auth.guard import current_principal, requires
from codex32.auth.rbac import Permission
from codex32.db import db
from codex32.errors import DomainError, Invalid, NotFound, add_error_shape
from codex32.plugins.errors import PluginError
from codex32.plugins.interfaces import ChatRequest, Message, Usage
from codex32.services import gateway
from codex32.services.gateway import deployments
from codex32.services.gateway.embeddings import MAX_TEXTS

blp = Blueprint("openai", __name__, url_prefix="/api/v1/openai",
                description="OpenAI-compatible API over the gateway (use the openai SDK with "
                            "base_url .../api/v1/openai and a workspace API key).")


@blp.record_once
def _errors_as_openai_answers_them(state) -> None:
    add_error_shape(state.app, openai_errors.speaks_openai, openai_errors.render)


class Lenient(Schema):
    """OpenAI's request fields this endpoint reads; others (``user``, ``seed``...) are
    accepted and ignored, as an OpenAI-compatible server does, except those a chat refuses
    (:mod:`codex32.api.v1.openai_params`)."""

    class Meta:
        unknown = EXCLUDE


def _content(value: object) -> str:
    """A message's text: a string, or OpenAI's list of text parts joined. Any other part
    (an image, audio, a file) is refused, never dropped: the model would answer without it."""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(p, dict) and p.get("type") == "text"
                                       and isinstance(p.get("text"), str) for p in value):
        return "".join(p["text"] for p in value)
    raise ValidationError('content must be a string or a list of text parts ({"type": "text", '
                          '"text": "..."}); other parts are not supported')


class OpenAIMessageSchema(Lenient):
    """A message; an assistant's may hold ``tool_calls`` (its content then null), a
    ``tool`` message answers one by ``tool_call_id``."""

    role = fields.String(required=True, validate=validate.OneOf(
        ["system", "developer", "user", "assistant", "tool"]))
    content = fields.Raw(load_default=None, allow_none=True)
    tool_calls = fields.List(fields.Nested(openai_tools.ToolCallSchema), load_default=None,
                             allow_none=True,
                             validate=validate.Length(max=openai_tools.MAX_TOOLS))
    tool_call_id = fields.String(load_default=None, allow_none=True,
                                 validate=validate.Length(min=1, max=256))

    @pre_load
    def _refuse_function_calls(self, data, **kwargs):
        openai_params.refuse_function_call(data)
        return data


class StreamOptionsSchema(Lenient):
    include_usage = JsonBoolean(load_default=False)


class CompletionSchema(Lenient):
    """Its fields take their JSON type as OpenAI does (``"stream": "yes"`` or
    ``"max_tokens": 1.5`` is refused, never coerced) or null for the default, as OpenAI's
    optional fields do. A field the gateway cannot honour
    (``tools``, ``stop``, ``logprobs``...) is refused when used, never dropped
    (:mod:`codex32.api.v1.openai_params`)."""

    model = fields.String(required=True, validate=validate.Length(min=1, max=MAX_MODEL))
    messages = fields.List(fields.Nested(OpenAIMessageSchema), required=True,
                           validate=validate.Length(min=1, max=200))
    temperature = JsonNumber(load_default=1.0, allow_none=True,
                             validate=validate.Range(min=0, max=2))
    max_tokens = JsonInteger(load_default=None, validate=validate.Range(min=1, max=200_000))
    max_completion_tokens = JsonInteger(load_default=None,
                                        validate=validate.Range(min=1, max=200_000))
    n = JsonInteger(load_default=1, allow_none=True,
                    validate=validate.Equal(1, error="only n=1"))
    stream = JsonBoolean(load_default=False, allow_none=True)
    stream_options = fields.Nested(StreamOptionsSchema, load_default=None)
    response_format = fields.Dict(load_default=None)
    stop = fields.Raw(load_default=None, validate=openai_params.stop_sequences, metadata={
        "description": "a stop sequence or a list of at most 4: the answer ends before the "
                       "first"})
    tools = fields.List(fields.Nested(openai_tools.ToolSchema), load_default=None,
                        allow_none=True,
                        validate=validate.Length(max=openai_tools.MAX_TOOLS))
    tool_choice = fields.Raw(load_default=None, metadata={
        "description": "none, auto, required or {type: function, function: {name}}"})
    parallel_tool_calls = JsonBoolean(load_default=None, allow_none=True)

    @pre_load
    def _refuse_what_the_gateway_cannot_honour(self, data, **kwargs):
        openai_params.refuse_unsupported(data)
        return data


class EmbeddingsSchema(Lenient):
    """``input`` is a string, a list of strings or token ids (read as OpenAI's embedding
    models read them); a ``dimensions`` the route's embedders do not give is refused by the
    gateway (:mod:`codex32.api.v1.openai_params`). Null takes the default, as in OpenAI's."""

    model = fields.String(required=True, validate=validate.Length(min=1, max=MAX_MODEL))
    input = fields.Raw(required=True)
    encoding_format = fields.String(load_default="float", allow_none=True,
                                    validate=validate.OneOf(["float", "base64"]))
    dimensions = JsonInteger(load_default=None, allow_none=True,
                             validate=validate.Range(min=1))


def _response_schema(response_format: dict | None) -> dict | None:
    """A ``json_schema`` response format as the gateway's ``response_schema``."""
    if not response_format or response_format.get("type") != "json_schema":
        return None
    found = response_format.get("json_schema")
    if not isinstance(found, dict):
        raise Invalid("response_format.json_schema must be an object with a 'name'")
    try:  # what the platform's chat takes as response_schema (its schema may be left out)
        return ResponseSchemaSchema(partial=("schema",)).load(
            {key: found[key] for key in ("name", "schema", "description", "strict")
             if key in found})
    except ValidationError as exc:
        problems = "; ".join(f"{field}: {' '.join(map(str, why))}"
                             for field, why in exc.normalized_messages().items())
        raise Invalid(f"response_format.json_schema is invalid ({problems})", errors={
            "json": {"response_format": {"json_schema": exc.normalized_messages()}}}) from exc


@blp.route("/chat/completions", methods=["POST"])
@openings.gated
@requires(Permission.USE_LLM, reads=gateway.first_reads)  # one round trip less a chat
@blp.arguments(CompletionSchema)
def chat_completions(data):
    """Create a chat completion (OpenAI's shape; ``stream: true`` for SSE chunks)."""
    principal = current_principal()
    messages = tuple(_message(m, i) for i, m in enumerate(data["messages"]))
    openai_tools.checked_conversation(messages)
    tools, tool_choice, parallel = openai_tools.tools_of(data)
    request = ChatRequest(messages=messages, model=data["model"],
                          temperature=1.0 if data["temperature"] is None
                          else data["temperature"],
                          max_tokens=data["max_completion_tokens"] or data["max_tokens"] or 1024,
                          json_mode=(data["response_format"] or {}).get("type") in (
                              "json_object", "json_schema"),
                          response_schema=_response_schema(data["response_format"]),
                          stop=openai_params.stops(data["stop"]), timeout=120,
                          tools=tools, tool_choice=tool_choice, parallel_tool_calls=parallel)
    ident, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
    if data["stream"]:
        transaction.end()  # the stream works in sessions of its own: hold no connection
        opened = gateway.stream(principal.workspace_id, request, purpose="gateway",
                                caller=caller_of(principal), settling=openings.settling,
                                prepared=openings.leave, read=principal.reads)
        openings.bound_writes()  # a client that stops reading cannot hold the stream
        include_usage = (data["stream_options"] or {}).get("include_usage", False)
        response = Response(stream_with_context(_chunks(opened, ident, created, data["model"],
                                                        include_usage, request.stop)),
                            mimetype="text/event-stream",
                            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no",
                                     **opened.headers, "x-llm-provider": opened.provider,
                                     "x-llm-cache": _cache(opened.cache_hit)})
        response.call_on_close(opened.close)  # closed unread: record it, settle its budget
        return response
    # The gateway continues the request's transaction (its authentication, which read what
    # the gateway reads first) and ends it before the provider call.
    openings.leave()  # not a stream: the provider's whole answer is awaited, ungated
    result = gateway.chat(principal.workspace_id, request, purpose="gateway",
                          caller=caller_of(principal), session=transaction.session(),
                          defer=transaction.after_sent,
                          read=principal.reads)
    text, stopped = openai_params.cut_at_stop(result.text, request.stop)
    message: dict[str, Any] = {"role": "assistant", "content": text, "refusal": None}
    finish = "stop" if stopped else _finish(result.finish_reason)
    if result.tool_calls:
        message.update(content=text or None,
                       tool_calls=openai_tools.calls_json(result.tool_calls))
        finish = "tool_calls"
    body = {"id": ident, "object": "chat.completion", "created": created,
            "model": result.model, "system_fingerprint": None,
            "choices": [{"index": 0, "message": message, "logprobs": None,
                         "finish_reason": finish}],
            "usage": _usage(result.usage)}
    return body, 200, {**result.headers, "x-llm-provider": result.provider,
                       "x-llm-cache": _cache(result.cache_hit)}


def _message(found: dict, index: int) -> Message:
    """A request's message (its content's text, its tool calls or the call it answers)."""
    role = "system" if found["role"] == "developer" else found["role"]
    if found["tool_calls"] and role != "assistant":
        raise openai_tools.invalid(["messages", index, "tool_calls"],
                                   "only an assistant message holds tool_calls")
    calls = openai_tools.calls_of(found["tool_calls"], index)
    if found["content"] is None and not calls:
        raise openai_tools.invalid(["messages", index, "content"],
                                   "null only for an assistant message holding tool_calls")
    try:
        text = "" if found["content"] is None else _content(found["content"])
    except ValidationError as exc:
        why = str(exc.messages[0] if exc.messages else exc)
        raise Invalid(why, errors={"json": {"messages": {index: {"content": [why]}}}}) from exc
    return Message(role, text, tool_calls=calls,
                   tool_call_id=found["tool_call_id"] if role == "tool" else None)


def _cache(hit: bool) -> str:
    """``x-llm-cache``: whether the gateway's cache answered (OpenAI has no such answer)."""
    return "hit" if hit else "miss"


def _chunks(opened: gateway.GatewayStream, ident: str, created: int, model: str,
            include_usage: bool, stop: tuple[str, ...]) -> Iterator[str]:
    def chunk(delta: dict, finish: str | None = None) -> str:
        return "data: " + json.dumps({
            "id": ident, "object": "chat.completion.chunk", "created": created,
            "model": opened.model or model,
            "choices": [{"index": 0, "delta": delta, "logprobs": None,
                         "finish_reason": finish}]}) + "\n\n"
    stopped = called = False
    try:
        yield chunk({"role": "assistant", "content": ""})
        held = openai_params.StopWatch(stop)  # the answer ends before a stop sequence
        for piece in opened:
            if piece.tool_calls:
                called = True
                yield chunk({"tool_calls": openai_tools.deltas_json(piece.tool_calls)})
            if piece.text:
                ready, stopped = held.add(piece.text)
                if ready:
                    yield chunk({"content": ready})
                if stopped:
                    break  # the upstream is closed below, what it produced recorded
        if not stopped and held.rest:
            yield chunk({"content": held.rest})
    except (PluginError, DomainError) as exc:
        # The error the same failure answers before the first piece, in OpenAI's shape.
        error = gateway.stream_error(opened, exc)
        yield "data: " + json.dumps({"error": openai_errors.error_object(
            error.status, str(error), error.errors, error.reason)})
        yield "\n\n"
        return
    finally:
        opened.close()  # a client that went away: stop upstream, record what was produced
    result = opened.result
    yield chunk({}, "tool_calls" if called and not stopped else "stop" if stopped
                else _finish(result.finish_reason if result else None))
    if include_usage and result is not None:
        yield "data: " + json.dumps({"id": ident, "object": "chat.completion.chunk",
                                     "created": created, "model": result.model,
                                     "choices": [], "usage": _usage(result.usage)}) + "\n\n"
    yield "data: [DONE]\n\n"


# A provider's stop reason in OpenAI's terms (``stop``, ``length``, ``content_filter``;
# ``tool_calls`` is the answer's when it holds tool calls, whatever the provider said, and
# Anthropic's ``tool_use`` without them is the forced tool that carries a ``json_schema``
# answer). Any other reason, a provider's own, is ``stop``: clients compare against
# OpenAI's values.
_FINISHES = {"stop": "stop", "length": "length", "content_filter": "content_filter",
             "end_turn": "stop", "stop_sequence": "stop", "tool_use": "stop",
             "max_tokens": "length", "model_context_window_exceeded": "length",
             "refusal": "content_filter"}


def _finish(reason: str | None) -> str:
    return _FINISHES.get(reason or "stop", "stop")


def _usage(usage: Usage) -> dict:
    return {"prompt_tokens": usage.input_tokens, "completion_tokens": usage.output_tokens,
            "total_tokens": usage.total_tokens,
            "prompt_tokens_details": {"cached_tokens": usage.cached_input_tokens},
            "completion_tokens_details": {"reasoning_tokens": usage.reasoning_tokens}}


@blp.route("/embeddings", methods=["POST"])
@requires(Permission.USE_LLM)
@blp.arguments(EmbeddingsSchema)
def embeddings(data):
    """Embed texts along the workspace's embedding route: ``model`` names an embedding
    alias or ``provider/model``; any other name takes the default chain (and is recorded)."""
    texts = openai_params.embedding_texts(data["input"], MAX_TEXTS)
    principal = current_principal()
    transaction.end()  # the gateway works in sessions of its own: hold no connection meanwhile
    result = gateway.embed(principal.workspace_id, texts, purpose="gateway",
                           caller=caller_of(principal), model=data["model"],
                           dimensions=data["dimensions"])
    encode = _base64 if data["encoding_format"] == "base64" else list
    return {"object": "list", "model": result.model,
            "data": [{"object": "embedding", "index": i, "embedding": encode(vector)}
                     for i, vector in enumerate(result.vectors)],
            "usage": {"prompt_tokens": result.usage.input_tokens,
                      "total_tokens": result.usage.input_tokens}
            }, 200, {**result.headers, "x-llm-provider": result.provider,
                     "x-llm-cache": _cache(result.cache_hit)}


def _base64(vector: list[float]) -> str:
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()


@blp.route("/models", methods=["GET"])
@requires(Permission.USE_LLM)
def models():
    """The names a request may use: the workspace's aliases and its deployments."""
    return {"object": "list", "data": [_model(name) for name in _model_names()]}


class UnknownModel(NotFound):
    """No alias or deployment of the workspace has this name (404, OpenAI's
    ``model_not_found``)."""

    reason = "model_not_found"


@blp.route("/models/<path:model>", methods=["GET"])
@requires(Permission.USE_LLM)
def model_named(model: str):
    """One name of ``models`` (an alias, or ``provider/model``); 404 for any other."""
    if model not in _model_names():
        raise UnknownModel(f"The model '{model}' does not exist or you do not have access "
                           "to it (the workspace's aliases and provider/model names are "
                           "listed at GET models)")
    return _model(model)


def _model_names() -> list[str]:
    principal = current_principal()
    shown = deployments.describe(db.session, principal.workspace_id)
    return sorted({alias for d in shown for alias in d["aliases"] if alias != "(no model)"}
                  | {f"{d['provider']}/{d['model']}" for d in shown})


def _model(name: str) -> dict:
    return {"id": name, "object": "model", "created": 0, "owned_by": "codex32"}

"""Schemas of the LLM gateway's API: the workspace's ``settings.llm``, chat requests in the
platform's shape, budgets and the usage report. Every value here is attacker-controlled
(a tenant sets it), so every field is bounded; a chat's fields take their JSON type as it is
(``"stream": "yes"`` or ``"max_tokens": 1.5`` is a 422, never coerced)."""

from __future__ import annotations

import re
from decimal import Decimal

from marshmallow import ValidationError, fields, post_load, validate

from codex32.api.schemas import (
    JsonBoolean,
    JsonDecimal,
    JsonInteger,
    JsonNumber,
    MergePatch,
    Output,
    Strict,
)
from codex32.api.v1 import openai_tools
from codex32.services.gateway import cache, cooldown
from codex32.services.gateway.calls import MAX_MODEL_NAME

MAX_MODEL = MAX_MODEL_NAME  # a requested model is kept as the ledger keeps a model name
DECIMAL = validate.Regexp(re.compile(r"^\d{1,10}(\.\d{1,10})?$", re.ASCII),  # "١٢" is not
                          error="a non-negative decimal number as a string, e.g. \"0.15\"")
NAME = validate.Regexp(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$",
                       error="letters, digits, _ . : - (at most 64)")
DEPLOYMENT = validate.Regexp(r"^[a-z0-9][a-z0-9_-]{0,99}(/[^\s/][^\s]{0,199})?$",
                             error="provider or provider/model")


class PriceSchema(Strict):
    input = fields.String(required=True, validate=DECIMAL,
                          metadata={"description": "USD per million input tokens"})
    cached_input = fields.String(validate=DECIMAL, metadata={
        "description": "USD per million cached input tokens (default: input)"})
    output = fields.String(required=True, validate=DECIMAL,
                           metadata={"description": "USD per million output tokens"})


class CacheSettingsSchema(MergePatch):
    enabled = fields.Boolean()
    ttl_seconds = fields.Integer(validate=validate.Range(min=0, max=cache.MAX_TTL))
    max_entries = fields.Integer(validate=validate.Range(min=1, max=cache.MAX_ENTRIES))


class RateSchema(MergePatch):
    requests_per_minute = fields.Integer(validate=validate.Range(min=1, max=1_000_000))
    tokens_per_minute = fields.Integer(validate=validate.Range(min=1, max=1_000_000_000))


class RateLimitsSchema(RateSchema):
    per_key = fields.Nested(RateSchema, metadata={"description": "limits of each API key"})


class CooldownSettingsSchema(MergePatch):
    failures = fields.Integer(validate=validate.Range(min=1, max=cooldown.MAX_FAILURES))
    window_seconds = fields.Integer(validate=validate.Range(min=1, max=cooldown.MAX_SECONDS))
    cooldown_seconds = fields.Integer(validate=validate.Range(min=1, max=cooldown.MAX_SECONDS))


class LLMSettingsSchema(MergePatch):
    """``settings.llm``: the gateway's aliases, prices, cache, rate limits and cooldown (a
    merge patch: ``null`` removes a key, an alias or a price)."""

    aliases = fields.Dict(
        keys=fields.String(validate=NAME),
        values=fields.List(fields.String(validate=DEPLOYMENT),
                           validate=validate.Length(min=1, max=10)),
        validate=validate.Length(max=50),
        metadata={"description": "alias (fast, smart, default, your own) → ordered "
                                 "provider/model chain"})
    embedding_aliases = fields.Dict(
        keys=fields.String(validate=NAME),
        values=fields.List(fields.String(validate=DEPLOYMENT),
                           validate=validate.Length(min=1, max=10)),
        validate=validate.Length(max=50),
        metadata={"description": "embedding alias (default, your own) → ordered "
                                 "embedder[/model] chain, one dimension throughout"})
    prices = fields.Dict(keys=fields.String(validate=DEPLOYMENT),
                         values=fields.Nested(PriceSchema), validate=validate.Length(max=200),
                         metadata={"description": "negotiated prices per provider/model"})
    cache = fields.Nested(CacheSettingsSchema)
    rate_limits = fields.Nested(RateLimitsSchema)
    cooldown = fields.Nested(CooldownSettingsSchema)


class ToolCallSchema(Strict):
    """A call the model made (an earlier answer's ``tool_calls``)."""

    id = fields.String(required=True, validate=validate.Length(min=1, max=256))
    name = fields.String(required=True, validate=openai_tools.NAME)
    arguments = fields.String(required=True, validate=validate.Length(max=openai_tools.MAX_TEXT),
                              metadata={"description": "the JSON text of an object"})


class ToolSchema(Strict):
    """A function the model may call."""

    name = fields.String(required=True, validate=openai_tools.NAME)
    description = fields.String(load_default="", validate=validate.Length(max=8192))
    parameters = fields.Dict(load_default=None, metadata={
        "description": "the JSON Schema of its arguments (an object)"})
    strict = JsonBoolean(load_default=False)


class MessageSchema(Strict):
    """A message; an assistant's may hold ``tool_calls``, a ``tool`` message answers one
    by ``tool_call_id``."""

    role = fields.String(required=True, validate=validate.OneOf(["system", "user",
                                                                 "assistant", "tool"]))
    content = fields.String(required=True, validate=validate.Length(max=200_000))
    tool_calls = fields.List(fields.Nested(ToolCallSchema), load_default=list,
                             validate=validate.Length(max=openai_tools.MAX_TOOLS))
    tool_call_id = fields.String(load_default=None, validate=validate.Length(min=1, max=256))


class ResponseSchemaSchema(Strict):
    """Structured output: the answer is one JSON object meant to match ``schema``."""

    name = fields.String(required=True, validate=validate.Regexp(
        r"^[A-Za-z0-9_-]{1,64}$", error="letters, digits, _ and - (at most 64)"))
    schema = fields.Dict(required=True, metadata={"description": "a JSON Schema object"})
    description = fields.String(validate=validate.Length(max=1000))
    strict = JsonBoolean()


class ChatSchema(Strict):
    """``POST /api/v1/llm/chat``."""

    messages = fields.List(fields.Nested(MessageSchema), required=True,
                           validate=validate.Length(min=1, max=200))
    model = fields.String(load_default=None, validate=validate.Length(min=1, max=MAX_MODEL),
                          metadata={"description": "alias, provider/model or model"})
    temperature = JsonNumber(load_default=0.2, validate=validate.Range(min=0, max=2))
    max_tokens = JsonInteger(load_default=1024, validate=validate.Range(min=1, max=200_000))
    json_mode = JsonBoolean(load_default=False)
    response_schema = fields.Nested(ResponseSchemaSchema, load_default=None, metadata={
        "description": "ask for structured output (OpenAI's json_schema, Anthropic's forced "
                       "tool); the text is the JSON object"})
    tools = fields.List(fields.Nested(ToolSchema), load_default=list,
                        validate=validate.Length(max=openai_tools.MAX_TOOLS), metadata={
                            "description": "functions the model may call (a route holding a "
                                           "provider without tools refuses them)"})
    tool_choice = fields.String(load_default=None, validate=validate.Length(min=1, max=64),
                                metadata={"description": "auto, none, required or a tool's "
                                                         "name"})
    parallel_tool_calls = JsonBoolean(load_default=None, allow_none=True)
    stream = JsonBoolean(load_default=False)
    cache = JsonBoolean(load_default=None, allow_none=True, metadata={
        "description": "true caches whatever the temperature, false opts out"})
    timeout = JsonNumber(load_default=60.0, validate=validate.Range(min=0.1, max=600))


class AttemptSchema(Output):
    provider = fields.String(required=True)
    model = fields.String(allow_none=True)
    error = fields.String(required=True)
    status = fields.Integer(allow_none=True)
    latency_ms = fields.Integer(required=True)


class TokenUsageSchema(Output):
    input_tokens = fields.Integer(required=True)
    cached_input_tokens = fields.Integer(required=True)
    output_tokens = fields.Integer(required=True)
    reasoning_tokens = fields.Integer(required=True)
    total_tokens = fields.Integer(required=True)


class CalledSchema(Output):
    id = fields.String(required=True)
    name = fields.String(required=True)
    arguments = fields.String(required=True)


class ChatAnswerSchema(Output):
    text = fields.String(required=True)
    tool_calls = fields.List(fields.Nested(CalledSchema), required=True, metadata={
        "description": "the calls the model made (finish_reason then says so)"})
    provider = fields.String(required=True)
    model = fields.String(required=True)
    finish_reason = fields.String(allow_none=True)
    cache_hit = fields.Boolean(required=True)
    usage = fields.Nested(TokenUsageSchema, required=True)
    cost_usd = fields.String(allow_none=True, metadata={"description": "exact decimal; null "
                                                                        "when unknown"})
    attempts = fields.List(fields.Nested(AttemptSchema), required=True)
    usage_id = fields.String(allow_none=True)
    latency_ms = fields.Integer(required=True)


def _stored_places(value: Decimal) -> None:
    """A limit the database keeps as given (NUMERIC(20,10)), never rounded (or, for an
    exponent such as 1e-999999, overflowing it). Read from the digits themselves: the
    context's ``normalize()`` rounds past 28 digits and overflows past its exponent range."""
    if not value.is_finite() or not -10**9 <= value <= 10**9:
        return  # the range's error
    _, digits, exponent = value.as_tuple()
    significant = len(digits) - len("".join(map(str, digits)).rstrip("0"))
    if any(digits) and int(exponent) + significant < -10:
        raise ValidationError("at most 10 decimal places")


def _stored(value: Decimal | None) -> Decimal | None:
    """A valid limit as the database stores it: 0E-999999 (or -0) is 0, exactly."""
    return None if value is None else value.quantize(Decimal("1E-10")) + 0


class BudgetInSchema(Strict):
    scope = fields.String(required=True, validate=validate.OneOf(["workspace", "api_key",
                                                                  "bot"]))
    scope_id = fields.UUID(load_default=None)
    period = fields.String(required=True, validate=validate.OneOf(["day", "month"]))
    # The bounds again as plain numbers for OpenAPI (apispec would publish them as Decimals,
    # which JSON renders as strings: an invalid schema no client generator can read).
    soft_limit_usd = JsonDecimal(load_default=None, places=None,
                                    validate=[validate.Range(min=0, max=10**9), _stored_places],
                                    metadata={"minimum": 0, "maximum": 10**9})
    hard_limit_usd = JsonDecimal(load_default=None, places=None,
                                    validate=[validate.Range(min=0, max=10**9), _stored_places],
                                    metadata={"minimum": 0, "maximum": 10**9})


    @post_load
    def stored(self, data: dict, **_: object) -> dict:
        return {**data, **{name: _stored(data[name])
                           for name in ("soft_limit_usd", "hard_limit_usd")}}


class BudgetsInSchema(Strict):
    budgets = fields.List(fields.Nested(BudgetInSchema), required=True,
                          validate=validate.Length(max=200))


class BudgetSchema(Output):
    id = fields.UUID(required=True)
    scope = fields.String(required=True)
    scope_id = fields.UUID(allow_none=True)
    period = fields.String(required=True)
    soft_limit_usd = fields.String(allow_none=True, metadata={"description": "exact decimal"})
    hard_limit_usd = fields.String(allow_none=True, metadata={"description": "exact decimal"})
    spent_usd = fields.String(required=True, metadata={"description": "exact decimal"})
    reserved_usd = fields.String(required=True, metadata={"description": "exact decimal"})
    period_start = fields.DateTime(allow_none=True)
    resets_at = fields.DateTime(allow_none=True)


class UsageQuerySchema(Strict):
    start = fields.DateTime(data_key="from", load_default=None)
    end = fields.DateTime(data_key="to", load_default=None)
    group_by = fields.String(load_default="", validate=validate.Length(max=100),
                             metadata={"description": "comma-separated: day, model, "
                                                      "provider, purpose, user, bot, api_key"})

"""Which of OpenAI's chat-completions request fields the compatible endpoint honours, which
it ignores and which it refuses (the SDK's ``CompletionCreateParams``, openai 3.x).

The rule: a field is ignored only when the answer the gateway gives without it is an answer
the client could have had with it. A field whose absence changes what the client gets (a
tool call, an answer that ends at a stop sequence, logprobs, audio) is refused with a 422
naming it, before anything is reserved, recorded or sent upstream; never silently dropped.

- **Honoured** (:class:`~codex32.api.v1.openai_compat.CompletionSchema`): ``model``,
  ``messages`` (text content), ``temperature``, ``max_tokens``, ``max_completion_tokens``,
  ``n`` (1 only), ``stream``, ``stream_options.include_usage``, ``response_format``
  (``text``, ``json_object``, ``json_schema``).
- **Ignored** (:data:`IGNORED`): bookkeeping for OpenAI's own services (``user``, ``store``,
  ``metadata``, ``service_tier``, ``safety_identifier``, the ``prompt_cache_*`` fields) and
  sampling hints (``top_p``, ``seed``, ``presence_penalty``, ``frequency_penalty``,
  ``reasoning_effort``, ``verbosity``). A hint moves the odds of an answer without changing
  its shape: without it the client gets an answer it could have got with it, across a chain
  of providers that read the hints differently or not at all (Anthropic has no penalties or
  seed; the response's ``system_fingerprint`` is null, promising no determinism). Clients
  such as LangChain send some of them by default, so refusing would break them for nothing.
  ``parallel_tool_calls`` means nothing without tools, which are refused. ``prediction``
  (predicted outputs) only speeds OpenAI's reply up: the answer is the same without it.
- **Refused when used** (:data:`REFUSED`): tools and functions, stop sequences, logprobs,
  audio output, web search, moderation, and ``logit_bias`` with entries:
  unlike the hints above, a bias of -100/100 bans or forces tokens (a hard constraint on the
  content), and its token ids belong to one tokenizer, meaningless along a provider chain.
  Each field's neutral value (``tools: []``, ``tool_choice: "none"``, ``stop: null``,
  ``logprobs: false``, ``modalities: ["text"]``, ``logit_bias: {}``...) is accepted.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from marshmallow import ValidationError

IGNORED = ("user", "store", "metadata", "service_tier", "safety_identifier",
           "prompt_cache_key", "prompt_cache_options", "prompt_cache_retention", "top_p",
           "seed", "presence_penalty", "frequency_penalty", "reasoning_effort", "verbosity",
           "parallel_tool_calls", "prediction")

RESPONSE_FORMATS = ("text", "json_object", "json_schema")


def _given(value: Any) -> bool:
    return value is not None


def _not_empty(value: Any) -> bool:
    return value is not None and not (isinstance(value, (str, list, dict)) and not value)


def _chosen(value: Any) -> bool:
    return value is not None and value != "none"


def _true(value: Any) -> bool:
    return value is not None and value is not False


def _not_text_only(value: Any) -> bool:
    return value is not None and value not in ([], ["text"])


# field: (whether a value uses it, what the client would miss were it ignored)
REFUSED: dict[str, tuple[Callable[[Any], bool], str]] = {
    "tools": (_not_empty, "tool calls: the model would answer in plain text"),
    "tool_choice": (_chosen, "tool calls: the model would answer in plain text"),
    "functions": (_not_empty, "function calls: the model would answer in plain text"),
    "function_call": (_chosen, "function calls: the model would answer in plain text"),
    "stop": (_not_empty, "stop sequences: the answer would run past them"),
    "logprobs": (_true, "log probabilities"),
    "top_logprobs": (_given, "log probabilities"),
    "modalities": (_not_text_only, "output other than text"),
    "audio": (_given, "audio output"),
    "logit_bias": (_not_empty, "token biases (token ids differ between providers)"),
    "web_search_options": (_given, "web search"),
    "moderation": (_given, "moderation of the request and answer"),
}


def refuse_unsupported(body: Any) -> None:
    """Raise a ``ValidationError`` keyed by the first field of ``body`` the gateway cannot
    honour as the request uses it (see the module's docstring); nothing for any other."""
    if not isinstance(body, dict):
        return  # not an object: the schema says so
    for name, (uses, missing) in REFUSED.items():
        if name in body and uses(body[name]):
            raise ValidationError({name: [
                f"the gateway does not support {name} ({missing}); leave it out"]})
    response_format = body.get("response_format")
    if isinstance(response_format, dict) and response_format.get("type") not in \
            RESPONSE_FORMATS:
        raise ValidationError({"response_format": {"type": [
            "the gateway does not support this response_format.type; it takes "
            f"{', '.join(RESPONSE_FORMATS)}"]}})


def code_of(param: str | None) -> str | None:
    """OpenAI's error code for the refusal of ``param``: ``unsupported_parameter`` for a
    field of :data:`REFUSED`, ``unsupported_value`` for ``response_format.type``; None for
    any other field (these are never declared by the schema: only a refusal names them)."""
    if param in REFUSED:
        return "unsupported_parameter"
    return "unsupported_value" if param == "response_format.type" else None

"""Which of OpenAI's request fields the compatible endpoint honours, which it ignores and
which it refuses: chat completions (the SDK's ``CompletionCreateParams``, openai 3.x) and
embeddings (``EmbeddingCreateParams``).

The rule: a field is ignored only when the answer the gateway gives without it is an answer
the client could have had with it. A field whose absence changes what the client gets (a
tool call, an answer that ends at a stop sequence, logprobs, audio, vectors of the length
asked for) is refused with a 422 naming it, before anything is reserved, recorded or sent
upstream; never silently dropped. Every refusal's message begins with :data:`REFUSAL`
(:func:`code_of` gives it OpenAI's code).

Chat completions:

- **Honoured** (:class:`~codex32.api.v1.openai_compat.CompletionSchema`): ``model``,
  ``messages`` (text content), ``temperature``, ``max_tokens``, ``max_completion_tokens``,
  ``n`` (1 only), ``stream``, ``stream_options.include_usage``, ``response_format``
  (``text``, ``json_object``, ``json_schema``), ``stop`` (a string or at most 4: sent to the
  provider, and the answer cut before the first one by :func:`cut_at_stop` /
  :class:`StopWatch` too, for a provider that does not honour it), ``tools`` (function
  tools), ``tool_choice``, ``parallel_tool_calls``, and in ``messages`` an assistant's
  ``tool_calls`` and ``tool`` messages answering them (:mod:`codex32.api.v1.openai_tools`;
  a route holding a provider without the ``tools`` capability refuses them).
- **Ignored** (:data:`IGNORED`): bookkeeping for OpenAI's own services (``user``, ``store``,
  ``metadata``, ``service_tier``, ``safety_identifier``, the ``prompt_cache_*`` fields) and
  sampling hints (``top_p``, ``seed``, ``presence_penalty``, ``frequency_penalty``,
  ``reasoning_effort``, ``verbosity``). A hint moves the odds of an answer without changing
  its shape: without it the client gets an answer it could have got with it, across a chain
  of providers that read the hints differently or not at all (Anthropic has no penalties or
  seed; the response's ``system_fingerprint`` is null, promising no determinism). Clients
  such as LangChain send some of them by default, so refusing would break them for nothing.
  ``prediction``
  (predicted outputs) only speeds OpenAI's reply up: the answer is the same without it.
- **Refused when used** (:data:`REFUSED`): the deprecated ``functions`` and
  ``function_call`` (``tools`` replace them), logprobs,
  audio output, web search, moderation, and ``logit_bias`` with entries:
  unlike the hints above, a bias of -100/100 bans or forces tokens (a hard constraint on the
  content), and its token ids belong to one tokenizer, meaningless along a provider chain.
  A message holding ``function_call`` is refused too (:func:`refuse_function_call`), as is
  the ``function`` role.
  Each field's neutral value (``functions: []``, ``function_call: "none"``,
  ``logprobs: false``, ``modalities: ["text"]``, ``logit_bias: {}``...) is accepted.

Embeddings (:class:`~codex32.api.v1.openai_compat.EmbeddingsSchema`):

- **Honoured**: ``model``, ``input`` as a string, a list of strings, token ids or lists of
  token ids (at most 2048 inputs, OpenAI's limit and the gateway's; :func:`embedding_texts`),
  ``encoding_format`` (``float``, ``base64``; null is
  ``float``), ``dimensions`` when it is the length the route's embedders give (null: that
  length).
- **Ignored** (:data:`EMBEDDINGS_IGNORED`): ``user``, bookkeeping.
  Token ids are read as OpenAI's embedding models read them, in cl100k_base (the encoding
  of all of them, and the one tiktoken clients such as LangChain's ``OpenAIEmbeddings``
  encode with), and the route's embedders get that text.
- **Refused**: ``dimensions`` other than the route's length: an embedder
  (:class:`~codex32.plugins.interfaces.Embedder`) gives vectors of the one ``dimension`` it
  is configured at and takes no length per request, and every embedder of a chain gives the
  same length (:func:`~codex32.services.gateway.routing.embedding_route`). Cutting vectors
  short would be a wrong answer for most models (only some, such as OpenAI's
  text-embedding-3, are trained to keep their meaning when truncated and renormalised), so
  the gateway refuses instead: a workspace wanting 256-long vectors configures an embedder
  at 256 (the openai embedder's ``dimensions``, the hashing embedder's ``dimension``) and
  names it by an embedding alias. The length is only known once the route is built, so the
  gateway checks it (``gateway.embed(dimensions=...)``, its message beginning with
  :data:`REFUSAL`), before any rate limit, cache, reservation, record or call.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from marshmallow import ValidationError

from codex32.errors import Invalid
from codex32.services.gateway import tokens

# Read by no code path (an unknown field is dropped anyway): what was decided for each field
# OpenAI's SDK declares, which tests/gateway/test_openai_compat.py checks is every one.
IGNORED = ("user", "store", "metadata", "service_tier", "safety_identifier",
           "prompt_cache_key", "prompt_cache_options", "prompt_cache_retention", "top_p",
           "seed", "presence_penalty", "frequency_penalty", "reasoning_effort", "verbosity",
           "prediction")
EMBEDDINGS_IGNORED = ("user",)

REFUSAL = "the gateway does not support"

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
    "functions": (_not_empty, "function calls: the model would answer in plain text"),
    "function_call": (_chosen, "function calls: the model would answer in plain text"),
    "logprobs": (_true, "log probabilities"),
    "top_logprobs": (_given, "log probabilities"),
    "modalities": (_not_text_only, "output other than text"),
    "audio": (_given, "audio output"),
    "logit_bias": (_not_empty, "token biases (token ids differ between providers)"),
    "web_search_options": (_given, "web search"),
    "moderation": (_given, "moderation of the request and answer"),
}


def refuse_unsupported(body: Any) -> None:
    """Raise a ``ValidationError`` keyed by the first field of a chat's ``body`` the gateway
    cannot honour as the request uses it (see the module's docstring); nothing for any
    other."""
    if not isinstance(body, dict):
        return  # not an object: the schema says so
    for name, (uses, missing) in REFUSED.items():
        if name in body and uses(body[name]):
            raise ValidationError({name: [f"{REFUSAL} {name} ({missing}); leave it out"]})
    response_format = body.get("response_format")
    if isinstance(response_format, dict) and response_format.get("type") not in \
            RESPONSE_FORMATS:
        raise ValidationError({"response_format": {"type": [
            f"{REFUSAL} this response_format.type; it takes "
            f"{', '.join(RESPONSE_FORMATS)}"]}})


def refuse_function_call(message: Any) -> None:
    """Raise a ``ValidationError`` keyed by ``function_call`` when a chat message carries
    one (the deprecated functions' call): functions are refused, and the history sent as
    text without its call would be another conversation (use ``tools``)."""
    if isinstance(message, dict) and _not_empty(message.get("function_call")):
        raise ValidationError({"function_call": [
            f"{REFUSAL} function_call in the conversation (the deprecated functions are "
            "not supported; use tools and tool_calls); leave it out"]})


def embedding_texts(value: Any, limit: int) -> list[str]:
    """The texts an embeddings request's ``input`` names: a string, a list of strings, one
    list of token ids or a list of them (each decoded as OpenAI's embedding models read
    it, :func:`codex32.services.gateway.tokens.embedding_text`). Invalid (naming ``input``)
    for any other shape, more than ``limit`` inputs or an id outside the encoding."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and len(value) > limit and not _ids(value):
        why = f"at most {limit} inputs per request"
        raise Invalid(f"input: {why}", errors={"json": {"input": [why]}})
    if isinstance(value, list) and value and all(isinstance(t, str) for t in value):
        return value
    try:
        if _ids(value):
            return [tokens.embedding_text(value)]
        if isinstance(value, list) and value and all(_ids(item) for item in value):
            return [tokens.embedding_text(item) for item in value]
    except ValueError as exc:
        raise Invalid(f"input: {exc}", errors={"json": {"input": [str(exc)]}}) from exc
    why = "a string, a list of strings, a list of token ids or a list of such lists"
    raise Invalid(f"input must be {why}", errors={"json": {"input": [why]}})


def _ids(value: Any) -> bool:
    """A non-empty list of integers (no booleans)."""
    return isinstance(value, list) and bool(value) and all(
        isinstance(i, int) and not isinstance(i, bool) for i in value)


def code_of(param: str | None, message: str) -> str | None:
    """OpenAI's error code for an error of ``param`` with ``message``: for a refusal,
    ``unsupported_parameter`` if the field itself is (:data:`REFUSED`), else
    ``unsupported_value``; None for any other error."""
    if param is None or not message.startswith(REFUSAL):
        return None
    return "unsupported_parameter" if param in REFUSED else "unsupported_value"


MAX_STOPS = 4  # OpenAI's limit


def stop_sequences(value: Any) -> None:
    """Validate ``stop``: null, a string or a list of at most :data:`MAX_STOPS` strings, none
    empty (a ``ValidationError`` otherwise)."""
    listed = [value] if isinstance(value, str) else value
    if listed is None:
        return
    if not isinstance(listed, list) or not all(isinstance(s, str) and s for s in listed):
        raise ValidationError("a string or a list of strings, none empty")
    if len(listed) > MAX_STOPS:
        raise ValidationError(f"at most {MAX_STOPS} stop sequences")


def stops(value: str | list[str] | None) -> tuple[str, ...]:
    """The stop sequences of a valid ``stop`` (:func:`stop_sequences`)."""
    if value is None:
        return ()
    return (value,) if isinstance(value, str) else tuple(value)


def cut_at_stop(text: str, stop: tuple[str, ...]) -> tuple[str, bool]:
    """``text`` up to the first stop sequence it contains, and whether it held one: a
    provider may not honour ``stop`` (not every one takes it, Anthropic takes none of
    whitespace only), so the endpoint cuts the answer itself."""
    found = [at for at in (text.find(s) for s in stop) if at >= 0]
    return (text[:min(found)], True) if found else (text, False)


@dataclass
class StopWatch:
    """Cuts a streamed answer before its first stop sequence: it holds back as much of the
    text as could be the start of one (a sequence may span pieces)."""

    stop: tuple[str, ...]
    rest: str = ""

    def add(self, piece: str) -> tuple[str, bool]:
        """The text that may be sent now, and whether a stop sequence ended the answer."""
        if not self.stop:
            return piece, False
        self.rest += piece
        text, stopped = cut_at_stop(self.rest, self.stop)
        if stopped:
            self.rest = ""
            return text, True
        keep = max(map(len, self.stop)) - 1
        ready = self.rest[:len(self.rest) - keep]
        self.rest = self.rest[len(ready):]
        return ready, False

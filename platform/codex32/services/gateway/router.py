"""The router: try the route's deployments (language models or embedders) in order under
one deadline, with the retry policy, skipping deployments in cooldown and reporting each
failure to the cooldown store; :func:`error_for` is the API error for a request no
deployment answered.

No database session is held while a provider works: the cooldown store gets its own short
transactions through the ``on_failure`` callback. Streams are retried and fall back only
before their first piece of text; after it a failure ends the stream.
"""

from __future__ import annotations

import dataclasses
import math
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass

from opentelemetry.trace import Span, SpanKind

from codex32 import outbound_http
from codex32.errors import BadGateway, DomainError, GatewayTimeout, Invalid, from_plugin_error
from codex32.observability import tracing
from codex32.plugins.calls import guarded, invoke
from codex32.plugins.errors import (
    AUTH,
    CONTENT_POLICY,
    CONTEXT_LENGTH,
    INVALID_REQUEST,
    RATE_LIMITED,
    TIMEOUT,
    PluginError,
    ProviderError,
)
from codex32.plugins.interfaces import (
    ChatChunk,
    ChatRequest,
    ChatResult,
    Embedder,
    EmbeddingResult,
    LLMProvider,
    ToolCall,
    ToolCallDelta,
    Usage,
)
from codex32.plugins.vector_checks import FLOAT32_MAX
from codex32.services.gateway.calls import Attempt, Deployment
from codex32.services.gateway.retry import FALLBACK, RETRY, STOP, RetryPolicy

MIN_ATTEMPT_SECONDS = 0.05
# A timeout is the deployment's fault (counted towards its cooldown) when its own configured
# timeout fired before the caller's limit, or the attempt had at least this long.
BLAMED_TIMEOUT_SECONDS = 10.0


class RouteFailed(Exception):
    """Every deployment failed (or one failure stops the request): the attempts and the last
    error, to name the provider that refused."""

    def __init__(self, attempts: list[Attempt], last: PluginError | None,
                 deployment: Deployment | None, *, deadline: bool = False) -> None:
        super().__init__(str(last) if last else "no deployment could answer")
        self.attempts = attempts
        self.last = last
        self.deployment = deployment
        self.deadline = deadline


def _checked(embedder: Embedder, texts: int, answer: EmbeddingResult) -> None:
    """A failed attempt (the next embedder answers) unless the answer is an
    :class:`EmbeddingResult` (with its :class:`Usage`) of one vector per text,
    each of the embedder's configured ``dimension`` and of finite float32 values. An embedder
    (a third-party plugin, an OpenAI-compatible server behind a trusting one) may answer
    anything: fewer vectors left None in the answer and the cache, more or longer ones would
    be passed on, and vectors of another length break every index built at the dimension.
    NaN or an infinity would reach clients as null, be cached and be searched with, and a
    value beyond float32 fails the base64 answer and every vector store. A sum, a min and a
    max are cheap tests (NaN and infinities carry through a sum)."""
    if not isinstance(answer, EmbeddingResult) or not isinstance(answer.usage, Usage):
        raise ProviderError(f"{embedder.id} answered {type(answer).__name__} with usage "
                            f"{type(getattr(answer, 'usage', None)).__name__}, not an "
                            "EmbeddingResult with a Usage")
    vectors = answer.vectors
    try:
        count = len(vectors)
    except TypeError:
        count = -1
    if count != texts:
        raise ProviderError(f"{embedder.id} answered {max(count, 0)} vectors for {texts} texts")
    dimension = embedder.dimension
    for vector in vectors:
        try:
            length = len(vector)
            finite = (math.isfinite(sum(vector)) and min(vector) >= -FLOAT32_MAX
                      and max(vector) <= FLOAT32_MAX)
        except (TypeError, ValueError, OverflowError):  # not numbers; an int beyond a float
            length, finite = dimension, False
        if length != dimension:
            raise ProviderError(f"{embedder.id} answered a vector of {length} values; it is "
                                f"configured at dimension {dimension}")
        if not finite:
            raise ProviderError(f"{embedder.id} answered a vector holding a value that is no "
                                "finite float32")


def _answered(provider: LLMProvider, answer: ChatResult | ChatChunk) -> None:
    """A failed attempt (or the stream's end) unless ``answer`` is a :class:`ChatResult`
    (``complete()``) or a :class:`ChatChunk` (``stream()``) whose text is a string, usage a
    :class:`Usage` of integer counts (or None, for a chunk), model and finish reason strings or
    None: a third-party provider may answer anything, and the ledger, the cache and the answer
    read each field (their values are bounded where they are read: :func:`reported_usage`,
    :func:`reported_model`). Its ``cost_usd`` is not read: the gateway prices every call."""
    expected = ChatChunk if isinstance(answer, ChatChunk) else ChatResult
    usage = getattr(answer, "usage", None)
    wrong = [name for name, ok in (
        ("type", isinstance(answer, ChatResult | ChatChunk)),
        ("text", isinstance(getattr(answer, "text", None), str)),
        ("usage", (usage is None and expected is ChatChunk) or (
            isinstance(usage, Usage) and all(
                isinstance(count, int) and not isinstance(count, bool) for count in (
                    usage.input_tokens, usage.output_tokens, usage.cached_input_tokens,
                    usage.reasoning_tokens)))),
        ("model", isinstance(getattr(answer, "model", None), str | None)),
        ("finish_reason", isinstance(getattr(answer, "finish_reason", None), str | None)),
        ("tool_calls", _calls_ok(getattr(answer, "tool_calls", ()),
                                 ToolCallDelta if expected is ChatChunk else ToolCall)),
    ) if not ok]
    if wrong:
        raise ProviderError(f"{provider.id} answered a {type(answer).__name__} that is no "
                            f"{expected.__name__} ({wrong[0]} of the wrong type)")


def _calls_ok(calls: object, kind: type) -> bool:
    """A tuple (or list) of ``kind`` (:class:`ToolCall` or :class:`ToolCallDelta`) with
    string fields (an index an int): a call's id, name and arguments, a piece's arguments;
    only a piece's id and name may be None (given by the call's first piece)."""
    optional = ("id", "name") if kind is ToolCallDelta else ()
    return isinstance(calls, tuple | list) and all(
        isinstance(call, kind)
        and all(isinstance(getattr(call, name), str)
                or (name in optional and getattr(call, name) is None)
                for name in ("id", "name", "arguments"))
        and isinstance(getattr(call, "index", 0), int) for call in calls)


def _checked_pieces(provider: LLMProvider, chunks: Iterator[ChatChunk]) -> Iterator[ChatChunk]:
    """The stream's pieces, each checked by :func:`_answered`; closing it closes the stream."""
    try:
        for chunk in chunks:
            _answered(provider, chunk)
            yield chunk
    finally:
        _close(chunks)


class _FirstPiece:
    """``next(chunks)`` for a plugin's pool thread, and the stream closed at once when the
    caller gives it up (its first piece timed out, or the call was refused): by the caller
    when no thread is reading it, else by the thread as soon as its read returns. Left to
    garbage collection, the stream (held by the failure's traceback, a reference cycle) kept
    its upstream connection open for as long as nothing collected it."""

    def __init__(self, chunks: Iterator[ChatChunk]) -> None:
        self.chunks = chunks
        self._lock = threading.Lock()
        self._reading = False
        self._abandoned = False

    def __call__(self) -> ChatChunk | None:
        with self._lock:
            if self._abandoned:
                return None
            self._reading = True
        try:
            return next(self.chunks, None)
        finally:
            with self._lock:
                self._reading = False
                close = self._abandoned
            if close:
                _close(self.chunks)

    def abandon(self) -> None:
        """The caller gives the stream up: close it now, or once the thread's read returns."""
        with self._lock:
            self._abandoned = True
            close = not self._reading
        if close:
            _close(self.chunks)


def _close(chunks: Iterator[ChatChunk]) -> None:
    close = getattr(chunks, "close", None)
    if close is not None:
        close()


@dataclass
class Router:
    """Tries deployments for one request."""

    instances: Mapping[str, LLMProvider] | Mapping[str, Embedder]
    policy: RetryPolicy
    deadline: float  # time.monotonic() by which the request must be answered
    on_failure: Callable[[Deployment, str], None] = lambda deployment, kind: None

    def complete(self, deployments: list[Deployment], request: ChatRequest
                 ) -> tuple[ChatResult, Deployment, list[Attempt]]:
        """The first answer along ``deployments``."""
        def call(instance: LLMProvider, deployment: Deployment, remaining: float
                 ) -> ChatResult:
            answer = invoke(instance, "complete", instance.complete,
                            _for(request, deployment, remaining), timeout=remaining)
            _answered(instance, answer)
            return answer
        return self._run(deployments, call, "chat")

    def open_stream(self, deployments: list[Deployment], request: ChatRequest
                    ) -> tuple[Iterator[ChatChunk], ChatChunk, Deployment, list[Attempt]]:
        """A stream from the first deployment that sends its first chunk; that chunk is
        returned apart, the iterator gives the rest."""
        def call(instance: LLMProvider, deployment: Deployment, remaining: float
                 ) -> tuple[Iterator[ChatChunk], ChatChunk]:
            chunks = _checked_pieces(instance, guarded(
                instance, "stream", lambda: instance.stream(_for(request, deployment, remaining))))
            # The first piece through invoke, like complete(): bounded by the deadline (and
            # admitted like any call) even when the plugin hangs in its own code.
            first_piece = _FirstPiece(chunks)
            try:
                first = invoke(instance, "stream", first_piece, timeout=remaining)
            except BaseException:
                first_piece.abandon()
                raise
            return (chunks, first) if first is not None else (iter(()), ChatChunk())
        (chunks, first), deployment, attempts = self._run(deployments, call, "chat")
        return chunks, first, deployment, attempts

    def embed(self, deployments: list[Deployment], texts: list[str]
              ) -> tuple[EmbeddingResult, Deployment, list[Attempt]]:
        """The vectors of the first embedder along ``deployments`` that answers (each
        deployment's instance is built at its model)."""
        def call(instance: Embedder, deployment: Deployment, remaining: float
                 ) -> EmbeddingResult:
            answer = invoke(instance, "embed", instance.embed, list(texts), timeout=remaining)
            _checked(instance, len(texts), answer)
            return answer
        return self._run(deployments, call, "embeddings")

    def _run(self, deployments, call, operation: str):
        attempts: list[Attempt] = []
        last: PluginError | None = None
        for deployment in deployments:
            instance = self.instances[deployment.provider]
            tried = 0
            while True:
                remaining = self.deadline - time.monotonic()
                if remaining < MIN_ATTEMPT_SECONDS:
                    raise RouteFailed(attempts, last, deployment, deadline=True)
                tried += 1
                started = time.monotonic()
                try:
                    with _attempt_span(operation, deployment, tried) as span:
                        try:
                            # A read timeout restarts with every byte: the deadline holds
                            # even for a provider that keeps sending keep-alives.
                            with outbound_http.deadline(self.deadline):
                                answer = call(instance, deployment, remaining)
                        except PluginError as exc:
                            tracing.fail(span, _kind(exc))
                            raise
                        _describe(span, answer)
                    return answer, deployment, attempts
                except PluginError as exc:
                    kind = _kind(exc)
                    last = exc
                    attempts.append(Attempt(
                        provider=deployment.provider, model=deployment.model, kind=kind,
                        status=getattr(exc, "status", None),
                        latency_ms=int((time.monotonic() - started) * 1000)))
                    if kind != TIMEOUT or _slow(started, remaining):
                        self.on_failure(deployment, kind)
                    decision = self.policy.decide(
                        kind, tried, self.deadline - time.monotonic(),
                        getattr(exc, "retry_after", None) if kind == RATE_LIMITED else None)
                    if decision.action == STOP:
                        raise RouteFailed(attempts, exc, deployment) from exc
                    if decision.action == RETRY:
                        time.sleep(decision.delay)
                        continue
                    assert decision.action == FALLBACK
                    break
        raise RouteFailed(attempts, last, None)


def _slow(started: float, allowed: float) -> bool:
    """Whether an attempt that timed out shows a slow deployment, not a caller's short limit:
    it had :data:`BLAMED_TIMEOUT_SECONDS`, or it ended well before its ``allowed`` time (the
    plugin's own configured timeout fired). A caller sending chats with a tenth of a second
    to answer must not put the workspace's deployment to rest for everyone else."""
    return allowed >= BLAMED_TIMEOUT_SECONDS or time.monotonic() - started < 0.8 * allowed


def _kind(exc: PluginError) -> str:
    """The failure kind of a provider's error (as the retry policy and the ledger name it)."""
    return getattr(exc, "kind", None) or (
        TIMEOUT if "Timeout" in type(exc).__name__
        else INVALID_REQUEST if not isinstance(exc, ProviderError) else "unknown")


def _attempt_span(operation: str, deployment: Deployment, tried: int
                  ) -> AbstractContextManager[Span | None]:
    """A client span around one attempt: the provider and model, never the messages."""
    if not tracing.enabled():
        return tracing.span("")
    model = deployment.model or "default"
    return tracing.span(f"{operation} {model}", kind=SpanKind.CLIENT, attributes={
        "gen_ai.operation.name": operation, "gen_ai.provider.name": deployment.provider,
        "gen_ai.request.model": model, "codex32.attempt": tried})


def _describe(span: Span | None, answer: object) -> None:
    """Add what answered to an attempt's span: the model, the token counts."""
    if span is None:
        return
    if isinstance(answer, tuple):  # a stream: its first chunk
        answer = answer[1]
    model = getattr(answer, "model", None)
    if model:
        span.set_attribute("gen_ai.response.model", str(model))
    usage = getattr(answer, "usage", None)
    if usage is not None:
        span.set_attribute("gen_ai.usage.input_tokens", usage.input_tokens)
        span.set_attribute("gen_ai.usage.output_tokens", usage.output_tokens)


def _for(request: ChatRequest, deployment: Deployment, remaining: float) -> ChatRequest:
    """The request as one attempt sends it: the deployment's model, the time left."""
    return dataclasses.replace(request, model=deployment.model,
                               timeout=min(request.timeout, remaining))


def refused(kind: str) -> bool:
    """Whether a failure kind means the provider refused (auth or content policy)."""
    return kind in (AUTH, CONTENT_POLICY)


class ContentRefused(DomainError):
    """A provider refused the request under its content policy (422, names the provider)."""

    status = 422


def error_mid_stream(attempts: list[Attempt], failure: PluginError, provider: str,
                     model: str | None) -> DomainError:
    """The API error for a failure that ended a stream after its first piece: what the same
    failure answers before any piece (:func:`error_for`), listed as the last attempt; never
    the plugin's own words where the JSON answer maps them."""
    failed = Attempt(provider=provider, model=model, kind=_kind(failure),
                     status=getattr(failure, "status", None))
    return error_for(RouteFailed([*attempts, failed], failure, None))


class ContextTooLong(Invalid):
    """The prompt is longer than every model of the route can read (422)."""

    reason = "context_length_exceeded"


def error_for(failed: RouteFailed) -> DomainError:
    """The API error for a request no deployment answered; it names the provider that refused
    and lists the attempts."""
    attempts = {"attempts": [a.as_dict() for a in failed.attempts]}
    last = failed.attempts[-1] if failed.attempts else None
    if failed.deadline:
        return GatewayTimeout("the request's deadline passed before a provider answered",
                              errors=attempts)
    if last is not None and last.kind == AUTH:
        return BadGateway(f"{last.provider} rejected the configured credentials "
                          f"({last.status or 'auth'})", errors=attempts)
    if last is not None and last.kind == CONTENT_POLICY:
        return ContentRefused(f"{last.provider} refused the request under its content policy",
                              errors=attempts)
    if last is not None and last.kind == CONTEXT_LENGTH:
        return ContextTooLong(f"the prompt is too long for every model of the route (last: "
                              f"{last.provider}/{last.model})", errors=attempts)
    if (last is not None and last.kind == INVALID_REQUEST
            and isinstance(failed.last, ProviderError)):  # the request is wrong: no 502
        return Invalid(f"{last.provider} refused the request as invalid "
                       f"({last.status or '4xx'}): {failed.last}", errors=attempts)
    if failed.last is None:
        return BadGateway("no deployment of the route could answer", errors=attempts)
    error = from_plugin_error(failed.last, last.provider if last else "the provider")
    error.errors = {**(error.errors or {}), **attempts}
    return error

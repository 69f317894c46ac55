"""A chat streamed through the gateway: the same route, limits, budget and ledger as
:func:`.chat.chat`, with the answer delivered piece by piece.

Retries and fallback happen before the first piece; after it a failure ends the stream. When
the consumer stops early (an HTTP client that disconnected closes the iterator), the upstream
call is closed at once and the tokens produced so far are still recorded: the provider's own
count when it sent one, else an offline count of the text received (status ``cancelled``).
That holds from the moment :func:`stream` returns: a stream closed before its first piece was
read, or dropped without ever being read, is recorded and its budget reservation settled too.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import cast

from sqlalchemy.orm import Session

from codex32 import outbound_http, runtime
from codex32.db import driver, tenancy
from codex32.errors import DomainError, GatewayTimeout
from codex32.plugins.errors import PluginError, ProviderTimeout
from codex32.plugins.interfaces import ChatChunk, ChatRequest, assembled, deltas_of
from codex32.runtime import background
from codex32.services.gateway import records
from codex32.services.gateway.calls import (
    Attempt,
    Caller,
    GatewayResult,
    reported_calls,
    reported_model,
    reported_usage,
)
from codex32.services.gateway.chat import counted, prepare, routed
from codex32.services.gateway.recording import Prepared, finish
from codex32.services.gateway.router import Router, error_mid_stream

# The longest a stream flows, from its request on: then it ends as a timeout and is recorded.
# Half the age at which the maintenance sweep takes a pending row for one whose process died
# (records.STALE_AFTER_SECONDS), so the sweep never charges a stream still flowing at its
# maximum (its real record, coming later, would find the row settled and be dropped).
MAX_STREAM_SECONDS = records.STALE_AFTER_SECONDS / 2


@dataclass
class GatewayStream:
    """An open stream: who answers, the failed attempts before it, the rate-limit headers,
    and the chunks (iterate once; the last carries the usage). ``result`` is filled when the
    stream ends, with the ledger row's id and the cost."""

    provider: str
    model: str
    attempts: list[Attempt]
    headers: dict[str, str]
    chunks: Iterator[ChatChunk]
    cache_hit: bool = False
    result: GatewayResult | None = field(default=None)

    def __iter__(self) -> Iterator[ChatChunk]:
        return self.chunks

    def close(self) -> None:
        """Stop the stream (and the upstream call); what was produced is recorded."""
        close = getattr(self.chunks, "close", None)
        if close is not None:
            close()


class StreamCut(ProviderTimeout):
    """The gateway itself ended a flowing stream (too long, or its process is stopping)."""


def error_of(opened: GatewayStream, failure: Exception) -> DomainError:
    """The API error for ``failure`` (a plugin's or the platform's error) that ended
    ``opened`` after its first piece: the one the same failure answers before any piece
    (:func:`.router.error_mid_stream`); the gateway's own cut a 504 saying why."""
    if isinstance(failure, DomainError):
        return failure
    if isinstance(failure, StreamCut):
        return GatewayTimeout(str(failure))
    if isinstance(failure, PluginError):
        return error_mid_stream(opened.attempts, failure, opened.provider, opened.model)
    return error_mid_stream(opened.attempts, PluginError(type(failure).__name__),
                            opened.provider, opened.model)


Gate = Callable[[], AbstractContextManager[object]]


def stream(workspace_id: uuid.UUID | str, request: ChatRequest, *, purpose: str,
           caller: Caller | None = None, cache: bool | None = None,
           deadline_seconds: float | None = None,
           settling: Gate = contextlib.nullcontext,
           prepared: Callable[[], object] = lambda: None,
           read: list[driver.Rows] | None = None) -> GatewayStream:
    """Open a stream in a session of the gateway's own, which the stream closes when it ends
    (the caller holds no transaction open). ``settling`` is entered around recording the
    stream's end: a web process bounds how many streams it records at once
    (codex32.api.openings). ``prepared`` is called once the stream is prepared (limits
    passed, budget reserved, session closed), before the provider is called: a web process
    gives its opening slot back there, so the slot is not held while the provider takes its
    time to the first piece. ``read``: the rows of :func:`.chat.first_reads`, read with the
    request's authentication (the reservation is then the stream's only round trip before
    the provider). See :func:`_stream`."""
    session = runtime.current().sessions()
    try:
        return _stream(session, workspace_id, request, purpose=purpose, caller=caller, cache=cache,
                       deadline_seconds=deadline_seconds, settling=settling, prepared=prepared,
                       read=read)
    except BaseException:
        session.close()
        raise


def _stream(session: Session, workspace_id: uuid.UUID | str, request: ChatRequest, *,
           purpose: str, caller: Caller | None = None, cache: bool | None = None,
           deadline_seconds: float | None = None,
           settling: Gate = contextlib.nullcontext,
           prepared: Callable[[], object] = lambda: None,
           read: list[driver.Rows] | None = None) -> GatewayStream:
    """Open a stream through the workspace's route (see :func:`.chat.chat` for the
    arguments). Raises the same errors as ``chat`` when no deployment starts answering."""
    caller = caller or Caller()
    with tenancy.bound(session, workspace_id):
        ready = prepare(session, workspace_id, request, purpose=purpose, caller=caller,
                        use_cache=cache, deadline_seconds=deadline_seconds, read=read)
        if ready.hit is not None:
            hit = ready.hit
            return GatewayStream(provider=hit.provider, model=hit.model, attempts=[],
                                 headers=ready.headers, cache_hit=True, result=hit,
                                 chunks=iter([ChatChunk(text=hit.text, model=hit.model,
                                                        usage=hit.usage,
                                                        finish_reason=hit.finish_reason,
                                                        tool_calls=deltas_of(
                                                            hit.tool_calls))]))
        prepared()
        upstream, first, deployment, attempts = routed(session, ready, Router.open_stream)
    opened = GatewayStream(provider=deployment.provider,
                           model=reported_model(first.model, deployment.model or ""),
                           attempts=attempts, headers=ready.headers,
                           chunks=iter(()))
    relay = _relay(session, ready, opened, upstream, first, settling)
    # Run the relay to its first (empty) yield, inside its try: from here on, closing it or
    # dropping it unread still runs its ``finally`` (an unstarted generator's never runs).
    next(relay)
    opened.chunks = cast(Iterator[ChatChunk], relay)
    return opened


def _relay(session: Session, prepared: Prepared, opened: GatewayStream,
           upstream: Iterator[ChatChunk], first: ChatChunk,
           settling: Gate) -> Iterator[ChatChunk | None]:
    """Yield None once (the priming, see :func:`_stream`), then the chunks; whatever ends the
    stream, close upstream, record what was received and settle the reservation."""
    received = [first]  # produced by the provider, whether or not the consumer read it
    status, error = "cancelled", None
    ends = prepared.started + MAX_STREAM_SECONDS
    try:
        yield None
        chunk: ChatChunk | None = first
        while chunk is not None:
            yield chunk
            cut = _ended(ends)
            if cut is not None:
                status, error = "timeout", cut[0]
                raise cut[1]
            # The upstream's reads end with the stream too: one that goes quiet, or sends only
            # what its plugin does not hand on (keep-alives), cannot hold it past its end.
            with outbound_http.deadline(min(ends, background.stopping_by() or ends)):
                chunk = next(upstream, None)
            if chunk is not None:
                received.append(chunk)
        status = "ok"
    except Exception as exc:
        if status != "cancelled":  # the gateway's own time limit (above)
            raise
        cut = _ended(ends)
        if cut is not None:  # a read cut off at the stream's end (or one past it)
            status, error = "timeout", cut[0]
            raise cut[1] from exc
        if isinstance(exc, PluginError):
            status, error = "error", getattr(exc, "kind", None) or type(exc).__name__
        raise
    finally:
        close = getattr(upstream, "close", None)
        if close is not None:
            close()  # stops the upstream generation (closes its HTTP response)
        text = "".join(piece.text for piece in received)
        usage = next((reported_usage(c.usage) for c in reversed(received) if c.usage), None)
        # A count the provider did not send (a stream cut short, a server that reports no
        # usage): what was produced, counted offline.
        usage = counted(prepared, opened.provider, usage, text)
        result = GatewayResult(
            text=text, provider=opened.provider,
            model=reported_model(next((c.model for c in reversed(received) if c.model), None),
                                 opened.model),
            usage=usage, attempts=opened.attempts,
            finish_reason=next((c.finish_reason for c in reversed(received)
                                if c.finish_reason), None),
            tool_calls=reported_calls(assembled(received)))
        with settling(), tenancy.bound(session, prepared.workspace_id):
            try:
                finish(session, prepared, result, cacheable=status == "ok", status=status,
                       error=error)
            except Exception:
                # The provider answered: a record that could not be written leaves the row
                # pending with its reservation, for the sweep to charge at its maximum (as a
                # chat's, records.py), never released as a call that cost nothing.
                session.rollback()
                session.close()
                raise
        opened.result = result


def _ended(ends: float) -> tuple[str, StreamCut] | None:
    """Why a stream must end now (the ledger's error and the exception that ends it), if it
    must: it reached its time limit, or its process is stopping (a worker's graceful stop,
    :func:`.background.stop_by`: ended before the worker is killed, its record written)."""
    now = time.monotonic()
    if now > ends:
        return "stream_too_long", _too_long()
    stop = background.stopping_by()
    if stop is not None and now > stop:
        return "server_stopping", StreamCut(
            "the server is stopping: the stream ended before it was cut off")
    return None


def _too_long() -> StreamCut:
    return StreamCut(f"the stream ran for longer than {MAX_STREAM_SECONDS:g}s, the "
                           "longest the gateway relays one")

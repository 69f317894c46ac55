"""Admission of streams in a web process: their opening and their end wait a little, the
rest of the API never.

Opening a streamed chat costs milliseconds of CPU and a few database transactions
(authentication, parsing, routing, limits, the budget reservation, the provider SDK's
request); recording its end another transaction (the ledger row, the budget settled); relaying
it in between costs almost nothing. Both transactions update the workspace's budget row, so a
workspace's streams queue for its lock, each holding a pooled connection. Two hundred streams
opened at once put every thread of a worker in the interpreter together and took most of its
pool, and an ordinary API call of that worker waited behind them for the GIL and for a
connection (bench/stream_bench.py).

The opening gate (:func:`gated`, on the streaming chat views) lets
``STREAM_OPENINGS_PER_WORKER`` requests at once through authentication, parsing and the
stream's preparation (routing, limits, the budget reservation) in a process, and is given
back before the provider is called (``gateway.stream(prepared=leave)``): a provider slow to
its first piece does not set the queue's pace. The settlement gate (:func:`settling`, handed
to the gateway) lets as many stream ends through their recording. The next ones wait for a
slot as long as slots are given back; one that saw no slot come back for
``STREAM_OPENING_WAIT_SECONDS`` goes ahead ungated (holders that look stuck, such as a stuck
database, delay other streams by that much at worst, never fail them). A chat that is not
streamed leaves the opening gate before it waits on the provider; requests of other
endpoints never pass through either.

A chat also holds one of the process's ``CHATS_PER_WORKER`` chat slots until it ends (a
stream, until its last byte); with none free it is refused at once with 429 and
``Retry-After: 1``. A stream holds its thread for its whole length and gunicorn's workers
accept connections unevenly: a worker that took more streams than its threads queued every
other request behind them for seconds. gunicorn.conf.py leaves an eighth of the threads to
the rest of the API.

The watching gate (:func:`watching`, on the builder's event streams) is another: an event
stream holds its thread while it waits for the build's next event, so at most
``CODEX32_BUILDER_EVENT_STREAMS_PER_WORKER`` of them wait at once in a process. The next one
does not wait for a slot: it sends what is stored and ends at once with ``reconnect``, and its
client comes back later (``Last-Event-ID``). Idle watchers thus never take more than that many
of a worker's threads from the rest of the API. The gates live on the app
(``app.extensions``), one set per process.

A streamed chat's writes are bounded too (:func:`bound_writes`): a client that stops reading
while its socket buffer is full holds the server's write of the next piece, and the stream
(its time limit checked between pieces) with it. gunicorn bounds no write (its ``timeout``
watches the worker process, not a request's thread), so the stream's socket gets a send
timeout: a write blocked for ``WRITE_TIMEOUT_SECONDS`` fails, gunicorn closes the response's
body, and the stream is recorded (``cancelled``, what was produced charged) and settled. A
stream therefore holds its pending ledger row for at most its time limit
(services.gateway.streaming.MAX_STREAM_SECONDS) plus that timeout, well under the age at which
the maintenance sweep charges a row as a dead process's.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any, TypeVar

from flask import Flask, current_app, g, has_app_context, request

from codex32 import runtime
from codex32.errors import RateLimited

KEY = "codex32.openings"
CHATS_KEY = "codex32.chats"
SETTLING_KEY = "codex32.settlements"
WATCHING_KEY = "codex32.watchers"
F = TypeVar("F", bound=Callable[..., Any])

# The longest one write of a streamed chat to its client may stay blocked (a client that
# reads nothing for this long has gone, or never will): see bound_writes.
WRITE_TIMEOUT_SECONDS = 60.0


class OpeningGate:
    """``slots`` holders at once (0: unbounded); a waiter goes ahead once no slot was given
    back for ``wait`` s."""

    def __init__(self, slots: int, wait: float) -> None:
        self.slots = slots
        self.wait = wait
        self._free = threading.BoundedSemaphore(slots) if slots > 0 else None
        self._given_back = 0  # slots given back so far: the queue's progress
        self._counting = threading.Lock()

    def enter(self) -> bool:
        """Take a slot (True), or go ahead without one (False) when no slot was given back
        for ``wait`` seconds: its holders look stuck.

        A queue that moves is waited out however long it is: 200 streams opened at once
        put 50 in each worker's queue, which takes longer than the wait to drain on a busy
        machine, and letting every waiter go ahead at once when the wait ran out took each
        worker's pool and CPU from the rest of the API (bench/stream_bench.py).
        """
        if self._free is None:
            return False
        while True:
            seen = self._given_back
            if self._free.acquire(timeout=self.wait):
                return True
            if self._given_back == seen:
                return False

    def exit(self) -> None:
        """Give back a slot :meth:`enter` took."""
        if self._free is not None:
            with self._counting:
                self._given_back += 1
            self._free.release()


def init_app(app: Flask) -> None:
    """One set of gates for this process, sized by the runtime's settings."""
    settings = app.extensions[runtime.KEY].settings
    for key in (KEY, SETTLING_KEY):
        app.extensions[key] = OpeningGate(settings.stream_openings_per_worker,
                                          settings.stream_opening_wait_seconds)
    app.extensions[WATCHING_KEY] = OpeningGate(settings.builder_event_streams_per_worker, 0.0)
    app.extensions[CHATS_KEY] = OpeningGate(settings.chats_per_worker, 0.0)
    app.teardown_request(_end_chat)


def gated(view: F) -> F:
    """Run ``view`` (authentication and parsing included: put it right under the route)
    holding an opening slot; the slot is given back when it returns (the stream open), or at
    :func:`leave`.

    First the chat takes one of the process's chat slots, held until the request ends (a
    stream's last byte); with none free it is refused at once (429, ``Retry-After: 1``).
    """
    @functools.wraps(view)
    def admitted(*args: Any, **kwargs: Any) -> Any:
        chats = current_app.extensions[CHATS_KEY]
        if chats.slots:
            if not chats.enter():
                raise RateLimited("this web process serves as many chats as it may at once; "
                                  "retry", 1)
            g.chat_slot = True
        g.opening_slot = current_app.extensions[KEY].enter()
        try:
            return view(*args, **kwargs)
        finally:
            leave()
    return admitted  # type: ignore[return-value]


def _end_chat(_error: BaseException | None) -> None:
    """Give back the request's chat slot when it ends (for a stream, after its last byte)."""
    if g.pop("chat_slot", False):
        current_app.extensions[CHATS_KEY].exit()


def leave() -> None:
    """Give back the current request's opening slot, if it holds one (idempotent): a chat
    that is not streamed leaves before it waits on the provider."""
    if g.pop("opening_slot", False):
        current_app.extensions[KEY].exit()


def bound_writes() -> None:
    """Make each write of the current response to its client fail once blocked for
    ``WRITE_TIMEOUT_SECONDS``. Call it once the request's body is read (the timeout bounds
    reads too). Under gunicorn, whose workers give the WSGI app their socket as
    ``gunicorn.socket`` (gthread clears its timeout when the connection's next request
    starts); other servers bound their writes themselves, or not at all."""
    sock = request.environ.get("gunicorn.socket")
    if sock is not None:
        sock.settimeout(WRITE_TIMEOUT_SECONDS)


def settling() -> AbstractContextManager[None]:
    """Held while a stream's end is recorded: its ledger row and budget settlement."""
    return _slot(SETTLING_KEY)


@contextlib.contextmanager
def watching() -> Iterator[bool]:
    """A watching slot for the current event stream while it lasts: yields whether it got one
    (no wait; True when the gate is off or there is no app context)."""
    gate = current_app.extensions.get(WATCHING_KEY) if has_app_context() else None
    if gate is None or gate.slots == 0:
        yield True
        return
    taken = gate.enter()
    try:
        yield taken
    finally:
        if taken:
            gate.exit()


@contextlib.contextmanager
def _slot(key: str) -> Iterator[None]:
    """A slot of the app's ``key`` gate, or the wait out (outside an app context, a stream
    dropped and collected later, there is no gate)."""
    gate = current_app.extensions.get(key) if has_app_context() else None
    taken = gate is not None and gate.enter()
    try:
        yield
    finally:
        if taken and gate is not None:
            gate.exit()

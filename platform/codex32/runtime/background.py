"""Work a request leaves for after its response, run by one thread of the process.

An HTTP worker closes a response after writing it and only then reads the connection's next
request: work run there (the LLM gateway's record of an answer) would delay a keep-alive
client's next call by its round trips. :func:`run_later` hands it to the process's
background thread instead, in order. The thread is started on first use in each process (a
forked worker starts its own), and is joined at the interpreter's exit after the work
queued before it (a worker's graceful stop: nothing queued is dropped).

The backlog is bounded (:data:`MAX_QUEUED`): past it, the caller runs the work itself, so a
slow database slows the requests that add to it rather than growing memory. Work must be
self-contained (its own session, no request context) and must not raise: an exception is
logged and dropped. Only work whose absence until it runs is recorded already belongs here
(the gateway's pending ledger row stands for its record; the maintenance loop settles it if
the process ends first).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

log = logging.getLogger(__name__)

MAX_QUEUED = 256


class _Thread:
    """One process's background thread, its backlog's bound and its count of work not done."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.executor = ThreadPoolExecutor(1, thread_name_prefix="codex32-after-response")
        self.slots = threading.BoundedSemaphore(MAX_QUEUED)
        self.idle = threading.Condition()
        self.pending = 0

    def submit(self, work: Callable[[], None]) -> bool:
        """Queue ``work``; False when the backlog is full or the interpreter is exiting."""
        if not self.slots.acquire(blocking=False):
            return False
        with self.idle:
            self.pending += 1
        try:
            self.executor.submit(self._run, work)
        except RuntimeError:  # shutting down: no new work is accepted
            self._done()
            return False
        return True

    def _run(self, work: Callable[[], None]) -> None:
        try:
            work()
        except Exception:
            log.exception("work left for after a response failed")
        finally:
            self._done()

    def _done(self) -> None:
        self.slots.release()
        with self.idle:
            self.pending -= 1
            if not self.pending:
                self.idle.notify_all()


_lock = threading.Lock()
_current: _Thread | None = None


def _thread() -> _Thread:
    global _current
    with _lock:
        if _current is None or _current.pid != os.getpid():  # none yet, or the parent's
            _current = _Thread()
        return _current


def run_later(work: Callable[[], None]) -> None:
    """Run ``work`` on the process's background thread, or at once in this thread when its
    backlog is full."""
    if not _thread().submit(work):
        try:
            work()
        except Exception:
            log.exception("work left for after a response failed")


def wait_idle(timeout: float = 10.0) -> bool:
    """Wait until this process's background work queued so far is done; whether it is (for
    tests and tools reading what it writes)."""
    current = _current
    if current is None or current.pid != os.getpid():
        return True
    with current.idle:
        return current.idle.wait_for(lambda: not current.pending, timeout)

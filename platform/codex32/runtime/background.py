"""Work a request leaves for after its response, run by one thread of the process.

An HTTP worker closes a response after writing it and only then reads the connection's next
request: work run there (the LLM gateway's record of an answer) would delay a keep-alive
client's next call by its round trips. :func:`run_later` hands it to the process's
background thread instead, in order. The thread is started on first use in each process (a
forked worker starts its own), and is joined at the interpreter's exit after the work
queued before it (a worker's graceful stop: nothing queued is dropped, but housekeeping,
see :func:`drain`).

Work runs in lanes, each a thread of its own, in order within a lane. The records (the
default lane) never wait behind work that waits on a workspace's own server (:data:`NOTICES`:
a soft-limit notice waits for the workspace's notifiers, one that never answers for
``notices.TIMEOUT`` each): one workspace's slow receiver delays no other's records. Nor do
they wait behind housekeeping (:data:`UPKEEP`: the response cache's prune, which may wait on
a big workspace's rows), which is :func:`offer`-ed: dropped when its lane is full.

A graceful stop (gunicorn.conf.py) calls :func:`stop_by` when it begins, so that streams end
in time to write their records, and :func:`drain` before the process exits: the records
first, within a deadline before the process is killed.

Each lane's backlog is bounded (:data:`MAX_QUEUED`): past it, the caller runs the work itself,
so a slow database slows the requests that add to it rather than growing memory. Work must be
self-contained (its own session, no request context) and must not raise: an exception is
logged and dropped. Only work whose absence until it runs is recorded already belongs here
(the gateway's pending ledger row stands for its record; the maintenance loop settles it if
the process ends first), or best-effort work (a soft-limit notice).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

log = logging.getLogger(__name__)

MAX_QUEUED = 256
RECORDS = "after-response"  # the default lane
NOTICES = "notices"  # work that waits on a workspace's own servers
UPKEEP = "upkeep"  # housekeeping that may wait or be dropped (the response cache's prune)


class _Thread:
    """One lane of a process: its thread, its backlog's bound and its count of work not
    done."""

    def __init__(self, lane: str) -> None:
        self.pid = os.getpid()
        self.executor = ThreadPoolExecutor(1, thread_name_prefix=f"codex32-{lane}")
        self.slots = threading.BoundedSemaphore(MAX_QUEUED)
        self.idle = threading.Condition()
        self.pending = 0
        self.dropping = False  # the process is stopping: queued work is skipped

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
            if not self.dropping:
                _logged(work)
        finally:
            self._done()

    def _done(self) -> None:
        self.slots.release()
        with self.idle:
            self.pending -= 1
            if not self.pending:
                self.idle.notify_all()


_lock = threading.Lock()
_current: dict[str, _Thread] = {}  # by lane


def _thread(lane: str) -> _Thread:
    with _lock:
        found = _current.get(lane)
        if found is None or found.pid != os.getpid():  # none yet, or the parent's
            found = _current[lane] = _Thread(lane)
        return found


def run_later(work: Callable[[], None], lane: str = RECORDS) -> None:
    """Run ``work`` on the process's thread of ``lane``, or at once in this thread when its
    backlog is full."""
    if not _thread(lane).submit(work):
        _logged(work)


def offer(work: Callable[[], None], lane: str) -> bool:
    """Queue ``work`` on the thread of ``lane`` unless its backlog is full; whether it was
    queued. Never runs it in this thread: for work that may be dropped (done again later)
    rather than delay the caller."""
    return _thread(lane).submit(work)


def _logged(work: Callable[[], None]) -> None:
    """Run ``work``; an exception is logged, never raised (the response is sent already)."""
    try:
        work()
    except Exception:
        log.exception("work left for after a response failed")


def wait_idle(timeout: float = 10.0) -> bool:
    """Wait until this process's background work queued so far, in every lane, is done
    (work that queues more in another lane: that too); whether it is (for tests and tools
    reading what it writes)."""
    ends = time.monotonic() + timeout
    while True:
        busy = [lane for lane in list(_current.values())
                if lane.pid == os.getpid() and lane.pending]
        if not busy:
            return True
        for lane in busy:
            with lane.idle:
                if not lane.idle.wait_for(lambda lane=lane: not lane.pending,  # type: ignore[misc]
                                          max(0.0, ends - time.monotonic())):
                    return False


# When this process's graceful stop must be done (time.monotonic()), once it began.
_stop_by: float | None = None


def stop_by(deadline: float) -> None:
    """The process is stopping and will be killed soon after ``deadline`` (its
    ``time.monotonic()``): work that can end early ends by then, so that its record is
    written (a stream flowing, see :func:`stopping_by`)."""
    global _stop_by
    _stop_by = deadline if _stop_by is None else min(_stop_by, deadline)


def stopping_by() -> float | None:
    """When this process's graceful stop must be done; None while it is not stopping."""
    return _stop_by


def drain(deadline: float) -> dict[str, int]:
    """Before a stopping process exits: wait for its records (:data:`RECORDS`) first, then
    the other lanes' work with the time left, until ``deadline``; housekeeping
    (:data:`UPKEEP`) still queued is dropped. The work each lane has left (none: absent)."""
    upkeep = _current.get(UPKEEP)
    if upkeep is not None and upkeep.pid == os.getpid():
        upkeep.dropping = True
    lanes = [lane for name, lane in sorted(_current.items(), key=lambda item: (
        item[0] != RECORDS, item[0] == UPKEEP)) if lane.pid == os.getpid()]
    for lane in lanes:
        with lane.idle:
            lane.idle.wait_for(lambda lane=lane: not lane.pending,  # type: ignore[misc]
                               max(0.0, deadline - time.monotonic()))
    return {name: lane.pending for name, lane in _current.items()
            if lane.pid == os.getpid() and lane.pending}

"""PostgreSQL LISTEN/NOTIFY for waiting without polling: one listening connection per process,
fanned out to the threads that wait for a key.

    feed = Feed(url, "builder_progress")
    with feed.watching(key):
        mark = feed.mark(key)
        ...                                  # read the state (a short session)
        feed.wait(key, mark, timeout=15.0)   # True: notified since ``mark``

A writer calls :func:`notify` in its transaction; PostgreSQL delivers the payload (the key) at
commit. The listening thread starts with the first watcher and stops, closing its connection,
when nobody has watched for :data:`IDLE_SECONDS`; so a process with no waiting stream holds no
connection. While it is not listening (starting, or reconnecting after an error) :meth:`wait`
returns after :data:`FALLBACK_SECONDS` at most, so that callers read the state again: a missed
notification costs a short delay, never an event. Payloads carry keys only (ids), never data:
the waiting thread reads what changed through its own tenant-bound session.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator

import psycopg
from psycopg import sql
from sqlalchemy import text
from sqlalchemy.orm import Session

from codex32.db.urls import libpq_url

log = logging.getLogger(__name__)

IDLE_SECONDS = 30.0  # the listener stops after this long with no watcher
FALLBACK_SECONDS = 1.0  # the longest wait while the listener is not listening
RECONNECT_SECONDS = 2.0  # pause after a failed connection


def notify(session: Session, channel: str, key: str) -> None:
    """Send ``key`` on ``channel`` when ``session``'s transaction commits."""
    session.execute(text("SELECT pg_notify(:channel, :key)"), {"channel": channel, "key": key})


class Feed:
    """One process's listener on ``channel``: threads wait for notifications of a key."""

    def __init__(self, url: str, channel: str) -> None:
        self._dsn = libpq_url(url)
        self.channel = channel
        self._changed = threading.Condition()
        self._counts: dict[str, int] = {}  # watched key -> notifications seen
        self._watchers: dict[str, int] = {}
        self._listening = False
        self._thread: threading.Thread | None = None
        self._idle_since = time.monotonic()

    @property
    def listening(self) -> bool:
        """Whether the listening connection is up (notifications arrive as they are sent)."""
        return self._listening

    @contextlib.contextmanager
    def watching(self, key: str) -> Iterator[None]:
        """Count notifications of ``key`` while the block runs (starting the listener)."""
        with self._changed:
            self._watchers[key] = self._watchers.get(key, 0) + 1
            self._counts.setdefault(key, 0)
            if self._thread is None:
                self._thread = threading.Thread(target=self._listen, daemon=True,
                                                name=f"codex32-listen-{self.channel}")
                self._thread.start()
        try:
            yield
        finally:
            with self._changed:
                self._watchers[key] -= 1
                if not self._watchers[key]:
                    del self._watchers[key], self._counts[key]
                if not self._watchers:
                    self._idle_since = time.monotonic()

    def mark(self, key: str) -> int:
        """The notifications of ``key`` seen so far (take it before reading the state)."""
        with self._changed:
            return self._counts.get(key, 0)

    def wait(self, key: str, mark: int, timeout: float) -> bool:
        """Wait until ``key`` is notified after ``mark`` (True) or ``timeout`` passes (False);
        while the listener is down, at most :data:`FALLBACK_SECONDS`."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while self._counts.get(key, 0) == mark:
                left = deadline - time.monotonic()
                if not self._listening:
                    left = min(left, FALLBACK_SECONDS)
                    deadline = min(deadline, time.monotonic() + FALLBACK_SECONDS)
                if left <= 0:
                    return False
                self._changed.wait(left)
            return True

    def _listen(self) -> None:
        """The listening thread: (re)connect, LISTEN, count notifications until idle."""
        try:
            while True:
                try:
                    with psycopg.connect(self._dsn, autocommit=True) as connection:
                        connection.execute(sql.SQL("LISTEN {}").format(
                            sql.Identifier(self.channel)))
                        self._set_listening(True)
                        while True:
                            for found in connection.notifies(timeout=1.0):
                                self._arrived(found.payload)
                            if self._idle():
                                return
                except psycopg.Error as exc:
                    log.warning("listening on %s failed (%s); retrying", self.channel, exc)
                    self._set_listening(False)
                    time.sleep(RECONNECT_SECONDS)
                    if self._idle():
                        return
        finally:
            with self._changed:
                if self._thread is None:  # no newer listener took over
                    self._set_listening(False)

    def _idle(self) -> bool:
        """True (and the thread is forgotten, so the next watcher starts one) when nobody has
        watched for :data:`IDLE_SECONDS`."""
        with self._changed:
            if self._watchers or time.monotonic() - self._idle_since < IDLE_SECONDS:
                return False
            self._thread = None
            return True

    def _arrived(self, key: str) -> None:
        with self._changed:
            if key in self._counts:
                self._counts[key] += 1
                self._changed.notify_all()

    def _set_listening(self, listening: bool) -> None:
        """Record whether notifications arrive, and wake every waiter: some may have been
        missed while the connection was down, so they read the state again."""
        with self._changed:
            self._listening = listening
            for key in self._counts:
                self._counts[key] += 1
            self._changed.notify_all()

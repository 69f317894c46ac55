"""A run's logs while it runs: the executor hands over the bot's output as it comes
(``ExecutionRequest.on_output``) and the run's watcher publishes it to the execution row about
once a second, so ``GET /api/v1/executions/{id}`` and the console show the logs before the run
ends. The final outcome then replaces them with the whole stored logs.

Only whole lines are published, with the run's secrets redacted (a secret's first characters
at the end of a half-written line are never stored on their own, nor the first lines of a
multi-line secret at the end of what is published) and NUL characters replaced by
U+FFFD as in the final logs, and only while the row is still this job's running execution.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable

from sqlalchemy import update
from sqlalchemy.orm import Session

from codex32.db import tenancy
from codex32.db.models import BotExecution
from codex32.execution.sandbox.outcome import redact

log = logging.getLogger(__name__)

PUBLISH_SECONDS = 1.0  # how often a running execution's logs are written to its row
MAX_LIVE_BYTES = 1024 * 1024  # beyond this, the live view waits for the final logs


class LiveLogs:
    """Collects one run's output (from the executor's thread) and publishes it (from the
    watcher's thread) to the execution row."""

    def __init__(self, sessions: Callable[[], Session], workspace_id: str,
                 execution_id: uuid.UUID, job_id: int, secrets: dict[str, str]) -> None:
        self._sessions = sessions
        self._workspace_id = workspace_id
        self._execution_id = execution_id
        self._job_id = job_id
        self._secrets = secrets
        self._data = bytearray()
        self._lock = threading.Lock()
        self._published = 0  # bytes of whole lines already written
        self._due = time.monotonic() + PUBLISH_SECONDS

    def feed(self, chunk: bytes) -> None:
        """More of the bot's output (called by the executor while the bot runs)."""
        with self._lock:
            room = MAX_LIVE_BYTES - len(self._data)
            if room > 0:
                self._data += chunk[:room]

    def publish_if_due(self) -> None:
        """Write the whole lines gathered so far, at most once per PUBLISH_SECONDS; a failed
        write is logged and tried again at the next turn (the run goes on regardless)."""
        now = time.monotonic()
        if now < self._due:
            return
        self._due = now + PUBLISH_SECONDS
        with self._lock:
            end = self._data.rfind(b"\n") + 1
            if end <= self._published:
                return
            # Decoding replaces bytes that are not UTF-8; NUL is UTF-8 but PostgreSQL text
            # cannot hold it (the final logs replace it the same way).
            text = self._data[:end].decode("utf-8", "replace").replace("\x00", "\ufffd")
        try:
            self._write(redact(text, self._secrets, cut=True))
            self._published = end
        except Exception:
            log.warning("could not publish the logs of running execution %s",
                        self._execution_id, exc_info=True)

    def _write(self, text: str) -> None:
        with self._sessions() as session, tenancy.bound(session, self._workspace_id):
            session.execute(update(BotExecution).where(
                BotExecution.id == self._execution_id, BotExecution.status == "running",
                BotExecution.job_id == self._job_id).values(logs=text))
            session.commit()

"""Helpers for the sandbox tests: requests, finding a run's processes, polling.

Plain functions (the fixtures live in the test modules that use them); everything here looks at
real processes, nothing is mocked.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from codex32.plugins.interfaces import (
    ExecutionLimits,
    ExecutionOutcome,
    ExecutionRequest,
    Executor,
    ServiceError,
)

RunBot = Callable[..., ExecutionOutcome]


def make_request(code: str, event: dict[str, Any] | None = None,
                 secrets: dict[str, str] | None = None, **limits: Any) -> ExecutionRequest:
    """A request with a fresh execution id; keyword arguments are ExecutionLimits fields."""
    return ExecutionRequest(execution_id=f"test-{uuid.uuid4().hex}", workspace_id="ws-1",
                            bot_id="bot-1", code=code, event=event or {},
                            secrets=secrets or {}, limits=ExecutionLimits(**limits))


def run_checked(executor: Executor, code: str, *, event: dict[str, Any] | None = None,
                secrets: dict[str, str] | None = None, cancel: threading.Event | None = None,
                **limits: Any) -> ExecutionOutcome:
    """Run ``code`` once on ``executor``; checks afterwards that none of the run's processes
    are left (the ``run_bot`` fixtures are this, bound to their module's executor)."""
    request = make_request(code, event, secrets, **limits)
    outcome = executor.run(request, cancel or threading.Event())
    assert processes_of(request.execution_id) == [], "the run left processes behind"
    return outcome


def processes_of(marker: str) -> list[int]:
    """Pids of live processes whose command line contains ``marker`` (a run's execution id)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as handle:
                    if marker.encode() in handle.read():
                        found.append(int(entry))
            except OSError:
                continue
    return found


def uid_of(pid: int) -> int | None:
    """The real uid of a live process, or None when it is gone."""
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith("Uid:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def poll_until(condition: Callable[[], Any], timeout: float = 10.0,
               interval: float = 0.01) -> Any:
    """Poll ``condition`` until it returns something truthy or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


def parent_of(pid: int) -> int:
    """The parent pid of a live process, or 0 when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            return int(handle.read().rsplit(b")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return 0


class Recorder:
    """A handler that answers ``llm.chat`` with an echo and remembers what it was asked."""

    def __init__(self, delay: float = 0.0) -> None:
        self.calls: list[tuple[str, dict[str, Any], float]] = []
        self.delay = delay
        self.running = 0
        self.most_at_once = 0
        self.lock = threading.Lock()

    def __call__(self, method: str, params: dict[str, Any], timeout: float) -> Any:
        with self.lock:
            self.calls.append((method, params, timeout))
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
        try:
            time.sleep(self.delay)
            if method != "llm.chat":
                raise ServiceError(f"no {method}", "UnknownMethod")
            return {"text": "echo: " + params["messages"][-1]["content"]}
        finally:
            with self.lock:
                self.running -= 1

"""The suite of executors: runs, failures, timeouts, cancellation, platform services."""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import replace
from typing import Any, ClassVar

from codex32.plugins.interfaces import (
    ISOLATION_LEVELS,
    BotServices,
    ExecutionLimits,
    ExecutionOutcome,
    ExecutionRequest,
)
from codex32.testing.conformance.base import PluginConformance
from codex32.testing.conformance.cases import (
    WORKSPACE_A,
)

ECHO_BOT = "def main(event, context):\n    return {'echo': event.get('value')}\n"
FAILING_BOT = "def main(event, context):\n    raise ValueError('conformance failure')\n"
ENDLESS_BOT = "import time\n\n\ndef main(event, context):\n    while True:\n" \
              "        time.sleep(0.05)\n"
CALLING_BOT = ("def main(event, context):\n    llm = getattr(context, 'llm', None)\n"
               "    if llm is None:\n        return {'llm': 'absent'}\n"
               "    try:\n        return {'llm': llm.chat('ping')['text']}\n"
               "    except Exception as exc:\n"
               "        return {'llm': getattr(exc, 'type', type(exc).__name__)}\n")


class ExecutorConformance(PluginConformance):
    """An :class:`Executor`: runs bots to an outcome, enforces the timeout, stops within 2 s
    of a cancel, and names its isolation level."""

    kind = "executor"
    methods = ("run", "isolation_level")
    start_seconds: ClassVar[float] = 3.0  # time a run may take beyond the bot's own work
    cancel_seconds: ClassVar[float] = 2.0
    # Whether runs carry ``request.services`` out of the sandbox (``context.llm``).
    serves_platform_services: ClassVar[bool] = False

    def execution_request(self, code: str, event: dict[str, Any] | None = None,
                          timeout_seconds: float = 10.0) -> ExecutionRequest:
        """One run of ``code`` in workspace A."""
        return ExecutionRequest(execution_id=f"exe-{uuid.uuid4().hex[:12]}",
                                workspace_id=WORKSPACE_A, bot_id="conformance-bot", code=code,
                                event=event or {},
                                limits=ExecutionLimits(timeout_seconds=timeout_seconds))

    def exercise(self, plugin: Any) -> ExecutionOutcome:
        return plugin.run(self.execution_request(ECHO_BOT, {"value": 42}), threading.Event())

    def test_runs_a_trivial_bot_to_succeeded(self):
        """A bot returning a dict ends ``succeeded`` with that dict as its result."""
        outcome = self.exercise(self.build())
        assert isinstance(outcome, ExecutionOutcome)
        assert outcome.status == "succeeded", f"{outcome.status}: {outcome.error}"
        assert outcome.result == {"echo": 42}

    def test_a_failing_bot_ends_failed_with_its_error(self):
        """A bot that raises ends ``failed`` with the error's type and message."""
        outcome = self.build().run(self.execution_request(FAILING_BOT), threading.Event())
        assert outcome.status == "failed"
        assert outcome.error and outcome.error.get("type") == "ValueError", outcome.error
        assert "conformance failure" in str(outcome.error.get("message"))

    def test_a_bot_past_its_timeout_ends_timed_out(self):
        """A bot that never returns ends ``timed_out`` soon after ``limits.timeout_seconds``."""
        started = time.monotonic()
        outcome = self.build().run(self.execution_request(ENDLESS_BOT, timeout_seconds=1),
                                   threading.Event())
        elapsed = time.monotonic() - started
        assert outcome.status == "timed_out", outcome.status
        assert elapsed <= 1 + self.start_seconds, f"the run took {elapsed:.1f}s"

    def test_cancel_stops_a_run_within_two_seconds(self):
        """Once ``cancel`` is set, ``run()`` returns ``cancelled`` within 2 s."""
        executor, cancel = self.build(), threading.Event()
        outcomes: list[ExecutionOutcome] = []
        runner = threading.Thread(target=lambda: outcomes.append(executor.run(
            self.execution_request(ENDLESS_BOT, timeout_seconds=30), cancel)), daemon=True)
        runner.start()
        runner.join(0.5)  # let the bot get going; the contract holds at any point
        cancel.set()
        cancelled_at = time.monotonic()
        runner.join(self.cancel_seconds + 1)
        elapsed = time.monotonic() - cancelled_at
        assert outcomes, f"run() had not returned {elapsed:.1f}s after cancel"
        assert elapsed <= self.cancel_seconds + 0.25, f"run() took {elapsed:.2f}s to stop"
        assert outcomes[0].status == "cancelled", outcomes[0].status

    def test_a_run_given_platform_services_runs_and_serves_them_if_it_can(self):
        """A request with ``services`` runs like any other; an executor that serves them
        (``serves_platform_services``) gives the bot the handler's answer."""
        services = BotServices(call=lambda method, params, timeout: {"text": "pong"})
        request = replace(self.execution_request(CALLING_BOT), services=services)
        outcome = self.build().run(request, threading.Event())
        assert outcome.status == "succeeded", f"{outcome.status}: {outcome.error}"
        if self.serves_platform_services:
            assert outcome.result == {"llm": "pong"}

    def test_isolation_level_is_a_known_level(self):
        """``isolation_level()`` returns one of ``ISOLATION_LEVELS``."""
        assert self.build().isolation_level() in ISOLATION_LEVELS

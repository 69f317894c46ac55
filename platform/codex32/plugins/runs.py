"""The values that cross the executor boundary: one run's request, limits, platform services
and outcome, and the isolation levels an executor may name.

The :class:`~codex32.plugins.interfaces.Executor` base class stays in
:mod:`codex32.plugins.interfaces`, which re-exports every name here: plugins keep importing
them from there (or from :mod:`codex32.plugins.api`). Plain data; nothing global, no Flask, no
database here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ExecutionLimits:
    """Resource bounds for one run."""

    timeout_seconds: float = 30.0
    cpu_seconds: float | None = None
    memory_mb: int = 256
    max_processes: int = 64
    max_file_bytes: int = 16 * 1024 * 1024
    max_open_files: int = 256
    max_output_bytes: int = 256 * 1024
    max_result_bytes: int = 1024 * 1024
    network: bool = False


class ServiceError(Exception):
    """A bot's call to a platform service failed; the message is what the bot is told.

    ``type`` names the kind (``InvalidRequest``, ``LimitExceeded``, ``ServiceError``...).
    """

    def __init__(self, message: str, type: str = "ServiceError") -> None:
        super().__init__(message)
        self.type = type


@dataclass(frozen=True)
class BotServices:
    """Platform services a running bot may call from its sandbox (``context.llm``...).

    The worker builds it for one run and binds ``call`` to that run's workspace, bot and
    execution: the bot chooses a method and its parameters, never a workspace, a provider or
    an identity. ``call(method, params, timeout)`` answers one call (``method`` such as
    ``llm.chat``, ``params`` a JSON object) with JSON data within ``timeout`` seconds, or
    raises :class:`ServiceError`. An executor that can carry calls out of its sandbox serves
    them within these bounds, per run; one that cannot ignores this, and its bots' calls
    fail with a clear error.
    """

    call: Callable[[str, dict[str, Any], float], Any]
    max_calls: int = 50
    max_concurrent: int = 4
    call_timeout_seconds: float = 60.0
    max_message_bytes: int = 1024 * 1024


@dataclass(frozen=True)
class ExecutionRequest:
    """One run of a bot: its code, the input event and the context it may see.

    ``services`` is what the run may call on the platform (None: nothing, e.g. a probe).
    ``environments`` are host folders the platform made (a bot's installed requirements, the
    test tools), bound read-only and put on the run's ``sys.path`` in this order; never a
    tenant's path. An executor that cannot provide them fails the run rather than ignore them.
    """

    execution_id: str
    workspace_id: str
    bot_id: str
    code: str
    event: dict[str, Any] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)
    limits: ExecutionLimits = field(default_factory=ExecutionLimits)
    version: int | None = None
    services: BotServices | None = field(default=None, repr=False, compare=False)
    environments: tuple[str, ...] = ()
    # Called with each piece of the bot's output as it arrives (within the output cap), from
    # the executor's thread, so the platform can show logs while the run goes; it must not
    # block. An executor that cannot stream output ignores it (the logs come with the outcome).
    on_output: Callable[[bytes], None] | None = field(default=None, repr=False, compare=False)


@dataclass
class ExecutionOutcome:
    """How a run ended.

    ``status`` is ``succeeded``, ``failed``, ``timed_out`` or ``cancelled``; ``error`` holds
    ``type``, ``message`` and ``traceback`` (the bot's own frames) when it failed.
    """

    status: str
    result: Any = None
    error: dict[str, Any] | None = None
    logs: str = ""
    logs_truncated: bool = False
    duration_seconds: float = 0.0
    cpu_seconds: float = 0.0
    peak_memory_bytes: int = 0


ISOLATION_LEVELS = ("none", "process", "user", "namespace")

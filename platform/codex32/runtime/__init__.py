"""The runtime of one process, and the one way code reaches it.

A :class:`Runtime` holds what a process needs to serve: settings, the database engine and
sessions, the plugin manager, the per-workspace plugin instances, the password hasher, the
sandbox policy and its probe, the health checks. :mod:`codex32.runtime.bootstrap` builds it,
the same way for the web app, the worker and the command line.

It lives on its owner, never in a module global: the Flask app (``app.extensions["codex32"]``)
or the worker (procrastinate's job context). Code deep down reaches it through
:func:`current`: the current Flask app's runtime inside an app context, else the runtime
:func:`activated` in this context (the worker's jobs, a CLI command, a test). Two apps in one
process therefore never see each other's settings.

This module imports nothing it holds (the types are for type checkers only), so every layer
may use it.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from flask import current_app, has_app_context

if TYPE_CHECKING:
    from flask import Flask
    from sqlalchemy.engine import Engine
    from sqlalchemy.orm import Session

    from codex32.auth.passwords import Passwords
    from codex32.config import Settings
    from codex32.crypto import SecretBox
    from codex32.execution.sandbox import Availability, SandboxPolicy
    from codex32.plugins.manager import PluginManager
    from codex32.ratelimit import RateLimiter
    from codex32.runtime.instances import Instances

KEY = "codex32"

Check = Callable[[], "dict[str, Any] | None"]


@dataclass
class Runtime:
    """Everything one process (web, worker or a CLI command) serves with."""

    process: str  # "web", "worker" or "cli"
    settings: Settings
    engine: Engine
    sessions: Callable[[], Session]
    plugins: PluginManager
    instances: Instances
    box: SecretBox
    passwords: Passwords
    sandbox: SandboxPolicy
    # Rate limits (and the gateway's cooldowns): Redis when configured, else this process.
    limiter: RateLimiter
    # The probe's answer for ``sandbox``, taken once at start (web and worker): nothing reads
    # the host again, so no request starts a process to answer.
    sandbox_availability: Availability | None = None
    # The isolation level each installed executor enforces, read once at start.
    isolation: dict[str, str | None] = field(default_factory=dict)
    # Plugin calls one workspace may have in flight (the web's request threads); None: unbounded.
    calls_per_workspace: int | None = None
    checks: dict[str, Check] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def add_check(self, name: str, check: Check) -> None:
        """Add a dependency check: ``() -> {"ok": bool, ...}``, or None to leave it out."""
        self.checks[name] = check


_active: contextvars.ContextVar[Runtime] = contextvars.ContextVar("codex32_runtime")


def of(app: Flask) -> Runtime:
    """The runtime the app factory stored on ``app``."""
    return app.extensions[KEY]


def find() -> Runtime | None:
    """The current runtime (the Flask app's in an app context, else the activated one), or
    None outside both."""
    if has_app_context():
        found = current_app.extensions.get(KEY)
        if found is not None:
            return found
    return _active.get(None)


def current() -> Runtime:
    """The current runtime; raises when no app context is pushed and none is activated."""
    found = find()
    if found is None:
        raise RuntimeError("no Codex-32 runtime here: create the app, start the worker, or "
                           "activate one (codex32.runtime.activated)")
    return found


@contextlib.contextmanager
def activated(runtime: Runtime) -> Iterator[Runtime]:
    """Make ``runtime`` current in this context (and the threads it copies its context into)
    until the block ends."""
    token = _active.set(runtime)
    try:
        yield runtime
    finally:
        _active.reset(token)

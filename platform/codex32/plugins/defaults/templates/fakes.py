"""Fakes of what the runtime and the network hand a bot, and fixtures, shared by every
template's tests.

The generator copies this code into each generated test_bot.py, so that a bot's tests need no
file beside bot.py; in this folder the templates' tests import it from here.
"""

from __future__ import annotations

import io
import logging

import bot
import pytest


class FakeContext:
    """What the runtime passes as ``context``."""

    def __init__(self, secrets: dict | None = None) -> None:
        self.logger = logging.getLogger("bot")
        self.secrets = dict(secrets or {})
        self.execution_id = "test-execution"


class FakeResponse(io.BytesIO):
    """A urlopen() response: a readable body with a ``status``, usable in ``with``."""

    def __init__(self, body: bytes = b"", status: int = 200) -> None:
        super().__init__(body)
        self.status = status


class FakeClock:
    """``time.monotonic`` under the test's control."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def context() -> FakeContext:
    """A run's context with no secrets."""
    return FakeContext()


@pytest.fixture(autouse=True)
def slept(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The backoff delays the bot asked for (it never really sleeps); every test starts with
    no circuit breaker open and nothing cached."""
    delays: list[float] = []
    monkeypatch.setattr(bot.Calls, "sleep", staticmethod(delays.append))
    bot.Calls.reset()
    return delays


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """The clock of the bot's breakers and cache, moved by the test."""
    fake = FakeClock()
    monkeypatch.setattr(bot.Calls, "clock", staticmethod(fake))
    return fake

"""Fixtures for the default plugins' tests: a bot context like the runtime's."""

from __future__ import annotations

import logging

import pytest


class FakeContext:
    """What the runtime hands a bot's ``main`` as ``context``."""

    def __init__(self, secrets: dict[str, str] | None = None) -> None:
        self.logger = logging.getLogger("bot.test")
        self.secrets = dict(secrets or {})
        self.execution_id = "exec-test"


@pytest.fixture
def bot_context() -> type[FakeContext]:
    return FakeContext

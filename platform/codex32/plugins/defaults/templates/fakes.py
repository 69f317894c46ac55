"""Fakes of what the runtime and the network hand a bot, shared by every template's tests.

The generator copies these classes into each generated test_bot.py, so that a bot's tests need
no file beside bot.py; in this folder the templates' tests import them from here.
"""

from __future__ import annotations

import io
import logging


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

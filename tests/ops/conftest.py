"""Fixtures and helpers the ops tests share: a port that accepts connections and never answers
(a hung database, a hung upstream), and a wait for a condition."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from codex32.testing.receivers import silent_port  # noqa: F401 - a fixture


def wait_until(condition: Callable[[], Any], deadline: float, what: str) -> Any:
    """The first true value ``condition`` returns within ``deadline`` seconds (polled every
    50 ms); an ``AssertionError`` naming ``what`` after that."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        result = condition()
        if result:
            return result
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")

"""Fixtures of the database-layer tests."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest


@pytest.fixture
def kill_backend(superuser) -> Callable[[int], None]:
    """Terminate a server backend and wait (with a deadline) until it is gone."""

    def kill(pid: int, timeout: float = 10.0) -> None:
        superuser.execute("SELECT pg_terminate_backend(%s)", (pid,))
        deadline = time.monotonic() + timeout
        while superuser.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s",
                                (pid,)).fetchone():
            assert time.monotonic() < deadline, f"backend {pid} outlived its termination"
            time.sleep(0.02)

    return kill

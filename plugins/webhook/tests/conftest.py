"""Fixtures for the webhook notifier's tests: a local receiver and the operator's setting."""

from __future__ import annotations

from collections.abc import Iterator

import codex32_webhook
import pytest

from codex32.testing.receivers import Receiver, serve


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A running receiver on 127.0.0.1 with a free port."""
    with serve("/hooks/codex32?source=test", default_body=b"") as running:
        yield running


@pytest.fixture(autouse=True)
def private_targets_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    """The receiver is on 127.0.0.1, so the operator allows private targets unless a test says
    otherwise."""
    monkeypatch.setenv("CODEX32_ALLOW_PRIVATE_URLS", "1")


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The backoff delays the notifier asked for; nothing actually waits."""
    delays: list[float] = []
    monkeypatch.setattr(codex32_webhook, "_sleep", delays.append)
    return delays

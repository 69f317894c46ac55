"""Fixtures for the Slack notifier's tests: a local stand-in for Slack, operator setting."""

from __future__ import annotations

from collections.abc import Iterator

import codex32_slack
import pytest

from codex32.testing.receivers import Receiver, serve


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A running receiver on 127.0.0.1 with a free port."""
    with serve("/services/T000/B000/Xs3cr3tT0k3n", default_body=b"ok") as running:
        yield running


@pytest.fixture(autouse=True)
def private_targets_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    """The stand-in is on 127.0.0.1, so the operator allows private targets unless a test says
    otherwise."""
    monkeypatch.setenv("CODEX32_ALLOW_PRIVATE_URLS", "1")


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The backoff delays the notifier asked for; nothing actually waits."""
    delays: list[float] = []
    monkeypatch.setattr(codex32_slack, "_sleep", delays.append)
    return delays

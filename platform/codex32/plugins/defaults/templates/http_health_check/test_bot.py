"""Offline tests for the generated bot: the network is replaced by fakes."""

from __future__ import annotations

import urllib.error

import bot
from fakes import FakeContext, FakeResponse


def test_healthy_when_the_expected_status_answers(monkeypatch):
    body = f"<html>{bot.MUST_CONTAIN}</html>".encode()
    monkeypatch.setattr(bot.urllib.request, "urlopen",
                        lambda request, timeout: FakeResponse(body, bot.EXPECTED_STATUS))

    result = bot.main({}, FakeContext())

    assert result["ok"] is True
    assert result["status"] == bot.EXPECTED_STATUS
    assert result["error"] is None


def test_unhealthy_when_the_server_cannot_be_reached(monkeypatch):
    def refuse(request, timeout):
        raise urllib.error.URLError("connection refused")

    monkeypatch.setattr(bot.urllib.request, "urlopen", refuse)

    result = bot.main({}, FakeContext())

    assert result["ok"] is False
    assert "refused" in result["error"]


def test_unhealthy_on_another_status(monkeypatch):
    other = 503 if bot.EXPECTED_STATUS != 503 else 200
    monkeypatch.setattr(bot.urllib.request, "urlopen",
                        lambda request, timeout: FakeResponse(b"", other))

    assert bot.main({}, FakeContext())["ok"] is False

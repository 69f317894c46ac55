"""Offline tests for the generated bot: the network is replaced by fakes."""

from __future__ import annotations

import urllib.error

import bot
import pytest
from fakes import FakeResponse


def answering(*answers):
    """A fake urlopen answering ``answers`` in turn (a FakeResponse, or an error raised)."""
    queue = list(answers)

    def urlopen(request, timeout):
        answer = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(answer, Exception):
            raise answer
        return answer

    return urlopen


def error_status(status: int) -> urllib.error.HTTPError:
    return urllib.error.HTTPError(bot.URL, status, "error", {}, None)


@pytest.fixture
def healthy_body() -> bytes:
    return f"<html>{bot.MUST_CONTAIN}</html>".encode()


def test_healthy_when_the_expected_status_answers(monkeypatch, context, healthy_body):
    monkeypatch.setattr(bot.urllib.request, "urlopen",
                        answering(FakeResponse(healthy_body, bot.EXPECTED_STATUS)))

    result = bot.main({}, context)

    assert result["ok"] is True
    assert result["status"] == bot.EXPECTED_STATUS
    assert result["error"] is None and result["latency_ms"] is not None
    assert result["metrics"]["attempts"] == 1
    assert result["metrics"]["breakers"] == {bot.urllib.parse.urlsplit(bot.URL).netloc: "closed"}


def test_a_lost_answer_is_retried_before_reporting(monkeypatch, context, healthy_body, slept):
    monkeypatch.setattr(bot.urllib.request, "urlopen", answering(
        urllib.error.URLError("reset"), FakeResponse(healthy_body, bot.EXPECTED_STATUS)))

    result = bot.main({}, context)

    assert result["ok"] is True and result["metrics"]["retries"] == 1 and len(slept) == 1


def test_unhealthy_when_the_server_cannot_be_reached(monkeypatch, context, slept):
    monkeypatch.setattr(bot.urllib.request, "urlopen",
                        answering(urllib.error.URLError("connection refused")))

    result = bot.main({}, context)

    assert result["ok"] is False and result["status"] is None
    assert "after 3 attempts: connection refused" in result["error"]
    assert len(slept) == 2


@pytest.mark.parametrize("status", [404, 500])
def test_unhealthy_on_another_error_status(monkeypatch, context, status):
    monkeypatch.setattr(bot, "EXPECTED_STATUS", 200)
    monkeypatch.setattr(bot.urllib.request, "urlopen", answering(error_status(status)))

    result = bot.main({}, context)

    assert result["ok"] is False and result["status"] == status
    assert f"HTTP {status}" in result["error"]


def test_an_expected_error_status_is_healthy(monkeypatch, context):
    monkeypatch.setattr(bot, "EXPECTED_STATUS", 404)
    monkeypatch.setattr(bot, "MUST_CONTAIN", "")
    monkeypatch.setattr(bot.urllib.request, "urlopen", answering(error_status(404)))

    assert bot.main({}, context)["ok"] is True


def test_unhealthy_on_another_success_status(monkeypatch, context):
    monkeypatch.setattr(bot, "EXPECTED_STATUS", 200)
    monkeypatch.setattr(bot.urllib.request, "urlopen", answering(FakeResponse(b"", 204)))

    result = bot.main({}, context)

    assert result["ok"] is False and result["error"] == "HTTP 204, expected 200"


@pytest.mark.parametrize("must_contain, body, ok", [
    ("ok", b"status: ok", True),
    ("ok", b"status: down", False),
    ("", b"", True),
])
def test_the_body_must_contain_the_text(monkeypatch, context, must_contain, body, ok):
    monkeypatch.setattr(bot, "MUST_CONTAIN", must_contain)
    monkeypatch.setattr(bot.urllib.request, "urlopen",
                        answering(FakeResponse(body, bot.EXPECTED_STATUS)))

    result = bot.main({}, context)

    assert result["ok"] is ok
    assert (result["error"] is None) is ok

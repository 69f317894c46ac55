"""Offline tests for the generated bot: the network is replaced by fakes."""

from __future__ import annotations

import hashlib
import hmac
import json
import urllib.error

import bot
from fakes import FakeContext, FakeResponse


def context_with_key() -> FakeContext:
    return FakeContext({bot.SIGNING_SECRET: "test-key"} if bot.SIGNING_SECRET else {})


def test_forwards_the_payload_as_json(monkeypatch):
    sent = []

    def capture(request, timeout):
        sent.append(request)
        return FakeResponse(b"ok", 202)

    monkeypatch.setattr(bot.urllib.request, "urlopen", capture)

    result = bot.main({"payload": {"order": 42}}, context_with_key())

    assert result["delivered"] is True and result["status"] == 202
    assert json.loads(sent[0].data) == {"order": 42}
    assert sent[0].full_url == bot.TARGET_URL
    if bot.SIGNING_SECRET:
        expected = hmac.new(b"test-key", sent[0].data, hashlib.sha256).hexdigest()
        assert sent[0].get_header(bot.SIGNATURE_HEADER.capitalize()) == f"sha256={expected}"


def test_an_error_answer_fails_the_run(monkeypatch):
    def reject(request, timeout):
        raise urllib.error.HTTPError(request.full_url, 500, "boom", {}, None)

    monkeypatch.setattr(bot.urllib.request, "urlopen", reject)
    try:
        bot.main({"payload": {}}, context_with_key())
    except RuntimeError as error:
        assert "500" in str(error)
    else:
        raise AssertionError("an HTTP 500 counted as delivered")

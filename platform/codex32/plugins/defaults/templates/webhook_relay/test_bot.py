"""Offline tests for the generated bot: the network is replaced by fakes."""

from __future__ import annotations

import hashlib
import hmac
import json
import urllib.error

import bot
import pytest
from fakes import FakeContext, FakeResponse


@pytest.fixture
def keyed() -> FakeContext:
    """A context holding the signing key, when the bot signs."""
    return FakeContext({bot.SIGNING_SECRET: "test-key"} if bot.SIGNING_SECRET else {})


@pytest.fixture
def target(monkeypatch) -> list:
    """A target that accepts every POST (202): the requests it got."""
    sent: list = []

    def accept(request, timeout):
        sent.append(request)
        return FakeResponse(b"ok", 202)

    monkeypatch.setattr(bot.urllib.request, "urlopen", accept)
    return sent


def test_forwards_the_payload_as_json(keyed, target):
    result = bot.main({"payload": {"order": 42}}, keyed)

    assert result["delivered"] is True and result["status"] == 202
    assert json.loads(target[0].data) == {"order": 42}
    assert target[0].full_url == bot.TARGET_URL
    assert target[0].get_header("X-codex32-execution") == "test-execution"
    assert result["metrics"]["attempts"] == 1


@pytest.mark.parametrize("event, payload", [
    ({"payload": [1, 2]}, [1, 2]),
    ({"order": 7}, {"order": 7}),
    ({"payload": None}, None),
])
def test_relays_the_payload_or_the_whole_event(monkeypatch, context, target, event, payload):
    monkeypatch.setattr(bot, "SIGNING_SECRET", "")

    result = bot.main(event, context)

    assert json.loads(target[0].data) == payload and result["signed"] is False


def test_signs_the_body_with_the_secret(monkeypatch, target):
    monkeypatch.setattr(bot, "SIGNING_SECRET", "RELAY_KEY")

    result = bot.main({"payload": {"a": 1}}, FakeContext({"RELAY_KEY": "test-key"}))

    expected = hmac.new(b"test-key", target[0].data, hashlib.sha256).hexdigest()
    assert target[0].get_header(bot.SIGNATURE_HEADER.capitalize()) == f"sha256={expected}"
    assert result["signed"] is True


def test_a_missing_signing_secret_is_a_clear_error(monkeypatch, context, target):
    monkeypatch.setattr(bot, "SIGNING_SECRET", "RELAY_KEY")

    with pytest.raises(RuntimeError, match="'RELAY_KEY' is not set"):
        bot.main({"payload": {}}, context)
    assert target == []


@pytest.mark.parametrize("status, attempts", [(500, 3), (400, 1)])
def test_an_error_answer_fails_the_run_after_the_retries_it_deserves(monkeypatch, keyed, slept,
                                                                     status, attempts):
    tried = []

    def reject(request, timeout):
        tried.append(request)
        raise urllib.error.HTTPError(request.full_url, status, "boom", {}, None)

    monkeypatch.setattr(bot.urllib.request, "urlopen", reject)

    with pytest.raises(RuntimeError, match=f"HTTP {status}"):
        bot.main({"payload": {}}, keyed)
    assert len(tried) == attempts and len(slept) == attempts - 1

"""Offline tests for the generated bot: the network is replaced by fakes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import bot
from fakes import FakeContext, FakeResponse

NOW = datetime(2024, 6, 1, tzinfo=UTC)


def records() -> list[dict]:
    old = NOW - timedelta(days=bot.MAX_AGE_DAYS + 1)
    return [
        {bot.ID_FIELD: "old", bot.TIMESTAMP_FIELD: old.isoformat()},
        {bot.ID_FIELD: "old-epoch", bot.TIMESTAMP_FIELD: old.timestamp()},
        {bot.ID_FIELD: "fresh", bot.TIMESTAMP_FIELD: NOW.isoformat()},
        {bot.ID_FIELD: "broken", bot.TIMESTAMP_FIELD: "not a date"},
    ]


def test_selects_records_older_than_the_maximum_age(monkeypatch):
    sent = []

    def capture(request, timeout):
        sent.append(json.loads(request.data))
        return FakeResponse(b"{}", 200)

    monkeypatch.setattr(bot.urllib.request, "urlopen", capture)
    secrets = {bot.API_TOKEN_SECRET: "token"} if bot.API_TOKEN_SECRET else {}

    result = bot.main({"records": records(), "now": NOW.isoformat()}, FakeContext(secrets))

    assert result["delete"] == ["old", "old-epoch"]
    assert result["kept"] == 1
    assert result["skipped"] == ["broken"]
    assert result["deleted"] == bool(bot.DELETE_URL and not bot.DRY_RUN)
    assert sent == ([{"ids": ["old", "old-epoch"]}] if result["deleted"] else [])


def test_a_dry_run_event_deletes_nothing(monkeypatch):
    monkeypatch.setattr(bot.urllib.request, "urlopen", None)  # any call would fail

    result = bot.main({"records": records(), "now": NOW.isoformat(), "dry_run": True},
                      FakeContext())

    assert result["deleted"] is False
    assert result["delete"] == ["old", "old-epoch"]

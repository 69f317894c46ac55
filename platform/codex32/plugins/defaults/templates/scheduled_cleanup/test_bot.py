"""Offline tests for the generated bot: the network is replaced by fakes."""

from __future__ import annotations

import json
import urllib.error
from datetime import UTC, datetime, timedelta

import bot
import pytest
from fakes import FakeContext, FakeResponse

NOW = datetime(2024, 6, 1, tzinfo=UTC)
OLD = NOW - timedelta(days=bot.MAX_AGE_DAYS + 1)


def records() -> list[dict]:
    return [
        {bot.ID_FIELD: "old", bot.TIMESTAMP_FIELD: OLD.isoformat()},
        {bot.ID_FIELD: "old-epoch", bot.TIMESTAMP_FIELD: OLD.timestamp()},
        {bot.ID_FIELD: "fresh", bot.TIMESTAMP_FIELD: NOW.isoformat()},
        {bot.ID_FIELD: "broken", bot.TIMESTAMP_FIELD: "not a date"},
    ]


@pytest.fixture
def delete_api(monkeypatch) -> list[dict]:
    """A delete API at DELETE_URL that accepts everything: the bodies it got."""
    monkeypatch.setattr(bot, "DELETE_URL", "https://api.example.com/delete")
    monkeypatch.setattr(bot, "DRY_RUN", False)
    sent: list[dict] = []

    def accept(request, timeout):
        sent.append({"ids": json.loads(request.data)["ids"],
                     "token": request.get_header("Authorization")})
        return FakeResponse(b"{}", 200)

    monkeypatch.setattr(bot.urllib.request, "urlopen", accept)
    return sent


@pytest.fixture
def with_token(monkeypatch) -> FakeContext:
    monkeypatch.setattr(bot, "API_TOKEN_SECRET", "CLEANUP_TOKEN")
    return FakeContext({"CLEANUP_TOKEN": "token"})


def test_selects_records_older_than_the_maximum_age_and_deletes_them(delete_api, with_token):
    result = bot.main({"records": records(), "now": NOW.isoformat()}, with_token)

    assert result["delete"] == ["old", "old-epoch"]
    assert result["kept"] == 1
    assert result["skipped"] == ["broken"]
    assert result["deleted"] is True
    assert delete_api == [{"ids": ["old", "old-epoch"], "token": "Bearer token"}]
    assert result["metrics"]["calls"] == 1


def test_deletes_in_batches(monkeypatch, delete_api, context):
    monkeypatch.setattr(bot, "API_TOKEN_SECRET", "")
    monkeypatch.setattr(bot, "DELETE_BATCH", 1)

    result = bot.main({"records": records(), "now": NOW.isoformat()}, context)

    assert [body["ids"] for body in delete_api] == [["old"], ["old-epoch"]]
    assert result["metrics"]["calls"] == 2 and delete_api[0]["token"] is None


@pytest.mark.parametrize("event", [{"dry_run": True}, {}])
def test_a_dry_run_or_no_delete_url_deletes_nothing(monkeypatch, context, event):
    if not event:
        monkeypatch.setattr(bot, "DELETE_URL", "")
    monkeypatch.setattr(bot.urllib.request, "urlopen", None)  # any call would fail

    result = bot.main({"records": records(), "now": NOW.isoformat(), **event}, context)

    assert result["deleted"] is False
    assert result["delete"] == ["old", "old-epoch"]


def test_a_failing_delete_api_is_retried_then_fails_the_run(monkeypatch, delete_api, with_token,
                                                            slept):
    def down(request, timeout):
        raise urllib.error.HTTPError(request.full_url, 502, "bad gateway", {}, None)

    monkeypatch.setattr(bot.urllib.request, "urlopen", down)

    with pytest.raises(bot.CallFailed, match="after 3 attempts: HTTP 502"):
        bot.main({"records": records(), "now": NOW.isoformat()}, with_token)
    assert len(slept) == 2


def test_a_missing_token_secret_is_a_clear_error(monkeypatch, delete_api):
    monkeypatch.setattr(bot, "API_TOKEN_SECRET", "CLEANUP_TOKEN")

    with pytest.raises(RuntimeError, match="'CLEANUP_TOKEN' is not set"):
        bot.main({"records": records(), "now": NOW.isoformat()}, FakeContext())
    assert delete_api == []


@pytest.mark.parametrize("value, expected", [
    ("2024-01-01T00:00:00Z", datetime(2024, 1, 1, tzinfo=UTC)),
    ("2024-01-01T00:00:00", datetime(2024, 1, 1, tzinfo=UTC)),
    (1704067200, datetime(2024, 1, 1, tzinfo=UTC)),
    (1704067200000, datetime(2024, 1, 1, tzinfo=UTC)),
    ("yesterday", None),
    (True, None),
    (None, None),
    ([2024], None),
])
def test_timestamps_in_every_accepted_form(value, expected):
    assert bot._parse_time(value) == expected


@pytest.mark.parametrize("records_value", ["not a list", {"id": 1}])
def test_records_that_are_not_a_list_are_refused(context, records_value):
    with pytest.raises(ValueError, match="must be a list"):
        bot.main({"records": records_value}, context)


def test_records_without_an_id_or_not_objects_are_skipped(context, monkeypatch):
    monkeypatch.setattr(bot, "DELETE_URL", "")
    result = bot.main({"records": [{bot.TIMESTAMP_FIELD: OLD.isoformat()}, "text"],
                       "now": NOW.isoformat()}, context)

    assert result["skipped"] == [None, None] and result["delete"] == []

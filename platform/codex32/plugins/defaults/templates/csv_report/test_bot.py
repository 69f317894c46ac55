"""Offline tests for the generated bot: the network is replaced by fakes."""

from __future__ import annotations

import csv
import io
import urllib.error

import bot
import pytest
from fakes import FakeResponse

CSV_LOCATION = "https://example.com/data.csv"


def table(*rows: list[str]) -> str:
    """CSV text of ``rows`` under a header of the bot's columns, in its delimiter."""
    columns = [bot.GROUP_BY] + ([bot.SUM_COLUMN] if bot.SUM_COLUMN else [])
    out = io.StringIO()
    writer = csv.writer(out, delimiter=bot.DELIMITER)
    writer.writerow(columns)
    for row in rows:
        writer.writerow(row[: len(columns)])
    return out.getvalue()


@pytest.fixture
def sample() -> str:
    """Four rows in two groups, one amount that is not a number."""
    return table(["north", "10"], ["south", "2.5"], ["north", "5"], ["south", "oops"])


@pytest.fixture
def served(monkeypatch, sample) -> list[str]:
    """The URLs the bot fetched; each answers the sample CSV."""
    fetched: list[str] = []

    def answer(request, timeout):
        fetched.append(request.full_url)
        return FakeResponse(sample.encode())

    monkeypatch.setattr(bot.urllib.request, "urlopen", answer)
    return fetched


def test_groups_rows_and_sums_the_column(context, sample):
    result = bot.main({"csv": sample}, context)

    assert result["rows"] == 4
    assert [(g["key"], g["count"]) for g in result["groups"]] == [("north", 2), ("south", 2)]
    if bot.SUM_COLUMN:
        assert result["groups"][0]["sum"] == 15
        assert result["unparsable_values"] == 1
    assert result["metrics"]["calls"] == 0  # nothing fetched


def test_counts_only_without_a_sum_column(monkeypatch, context):
    monkeypatch.setattr(bot, "SUM_COLUMN", "")

    result = bot.main({"csv": table(["north"], ["north"])}, context)

    assert result["sum_column"] is None
    assert all("sum" not in group for group in result["groups"])
    assert "north: 2 rows" in result["summary"]


def test_fetches_the_csv_once_and_serves_a_repeat_from_the_cache(context, served):
    first = bot.main({"csv_url": CSV_LOCATION}, context)
    second = bot.main({"csv_url": CSV_LOCATION}, context)

    assert first["rows"] == second["rows"] == 4
    assert served == [CSV_LOCATION]
    assert first["metrics"]["attempts"] == 1 and second["metrics"]["cache_hits"] == 1


def test_a_failing_server_is_retried_then_fails_the_run_clearly(monkeypatch, context, slept):
    def down(request, timeout):
        raise urllib.error.URLError("connection refused")

    monkeypatch.setattr(bot.urllib.request, "urlopen", down)

    with pytest.raises(bot.CallFailed, match="after 3 attempts: connection refused"):
        bot.main({"csv_url": CSV_LOCATION}, context)
    assert len(slept) == 2


def test_a_csv_too_large_is_refused(monkeypatch, context):
    monkeypatch.setattr(bot, "MAX_CSV_BYTES", 4)
    monkeypatch.setattr(bot.urllib.request, "urlopen",
                        lambda request, timeout: FakeResponse(b"a,b\n1,2\n"))

    with pytest.raises(ValueError, match="larger than 4 bytes"):
        bot.main({"csv_url": CSV_LOCATION}, context)


@pytest.mark.parametrize("event, message", [
    ({"csv": "other\n1\n"}, "not in the CSV header"),
    ({"csv": ""}, "not in the CSV header"),
    ({}, "no CSV"),
])
def test_bad_input_is_a_clear_error(monkeypatch, context, event, message):
    monkeypatch.setattr(bot, "CSV_URL", "")

    with pytest.raises(ValueError, match=message):
        bot.main(event, context)


@pytest.mark.parametrize("key, label", [("", "(empty)"), ("  west ", "west")])
def test_group_keys_are_trimmed_and_an_empty_one_is_named(monkeypatch, context, key, label):
    monkeypatch.setattr(bot, "SUM_COLUMN", "")

    result = bot.main({"csv": table([key])}, context)

    assert result["summary"] == f"{label}: 1 rows"

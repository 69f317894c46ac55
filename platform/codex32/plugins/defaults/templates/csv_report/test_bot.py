"""Offline tests for the generated bot: the network is replaced by fakes."""

from __future__ import annotations

import csv
import io

import bot
from fakes import FakeContext, FakeResponse


def sample_csv() -> str:
    columns = [bot.GROUP_BY] + ([bot.SUM_COLUMN] if bot.SUM_COLUMN else [])
    out = io.StringIO()
    writer = csv.writer(out, delimiter=bot.DELIMITER)
    writer.writerow(columns)
    for key, amount in (("north", "10"), ("south", "2.5"), ("north", "5"), ("south", "oops")):
        writer.writerow([key, amount][: len(columns)])
    return out.getvalue()


def test_groups_rows_and_sums_the_column():
    result = bot.main({"csv": sample_csv()}, FakeContext())

    assert result["rows"] == 4
    assert [(g["key"], g["count"]) for g in result["groups"]] == [("north", 2), ("south", 2)]
    if bot.SUM_COLUMN:
        assert result["groups"][0]["sum"] == 15
        assert result["unparsable_values"] == 1


def test_fetches_the_csv_from_a_url(monkeypatch):
    monkeypatch.setattr(bot.urllib.request, "urlopen",
                        lambda request, timeout: FakeResponse(sample_csv().encode()))

    result = bot.main({"csv_url": "https://example.com/data.csv"}, FakeContext())

    assert result["rows"] == 4


def test_a_missing_column_is_a_clear_error():
    try:
        bot.main({"csv": "other\n1\n"}, FakeContext())
    except ValueError as error:
        assert "not in the CSV header" in str(error)
    else:
        raise AssertionError("a CSV without the column was accepted")

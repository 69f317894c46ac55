"""Offline tests for the generated bot: the network is replaced by fakes."""

from __future__ import annotations

import urllib.error

import bot
import pytest
from fakes import FakeResponse

RSS = b"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>News</title>
<item><title>First story</title><link>https://example.com/1</link>
<pubDate>Mon, 01 Jan 2024 09:00:00 GMT</pubDate></item>
<item><title>Second story</title><link>https://example.com/2</link></item>
</channel></rss>"""

ATOM = b"""<feed xmlns="http://www.w3.org/2005/Atom"><title>Blog</title>
<entry><title>Atom post</title><link href="https://example.com/a"/>
<updated>2024-01-01T00:00:00Z</updated></entry></feed>"""

JSON_FEED = '{"items": [{"title": "J", "url": "https://e.com/j"}, {"external_url": "x"}]}'


@pytest.fixture(autouse=True)
def keep_all(monkeypatch) -> None:
    """Every item passes, whatever keyword and limit the bot was generated with."""
    monkeypatch.setattr(bot, "KEYWORD", "")
    monkeypatch.setattr(bot, "MAX_ITEMS", 10)


@pytest.fixture
def feed_server(monkeypatch) -> list[str]:
    """The URLs the bot fetched; each answers the RSS feed."""
    fetched: list[str] = []

    def answer(request, timeout):
        fetched.append(request.full_url)
        return FakeResponse(RSS)

    monkeypatch.setattr(bot.urllib.request, "urlopen", answer)
    return fetched


def test_reads_an_rss_feed_from_the_url(context, feed_server):
    result = bot.main({}, context)

    assert [item["title"] for item in result["items"]] == ["First story", "Second story"]
    assert result["items"][0]["link"] == "https://example.com/1"
    assert "First story" in result["digest"]
    assert feed_server == [bot.FEED_URL]
    assert result["metrics"]["attempts"] == 1


def test_a_second_run_is_served_from_the_cache(context, feed_server):
    bot.main({}, context)
    again = bot.main({}, context)

    assert feed_server == [bot.FEED_URL]
    assert again["metrics"]["cache_hits"] == 1 and again["count"] == 2


@pytest.mark.parametrize("feed, first", [
    (ATOM.decode(), {"title": "Atom post", "link": "https://example.com/a",
                     "published": "2024-01-01T00:00:00Z"}),
    (JSON_FEED, {"title": "J", "link": "https://e.com/j", "published": ""}),
    (RSS.decode(), {"title": "First story", "link": "https://example.com/1",
                    "published": "Mon, 01 Jan 2024 09:00:00 GMT"}),
])
def test_reads_each_kind_of_feed_given_in_the_event(context, feed, first):
    result = bot.main({"feed": feed}, context)

    assert result["items"][0] == first
    assert result["metrics"]["calls"] == 0


@pytest.mark.parametrize("keyword, limit, titles", [
    ("second", 10, ["Second story"]),
    ("STORY", 1, ["First story"]),
    ("missing", 10, []),
])
def test_keeps_at_most_max_items_matching_the_keyword(monkeypatch, context, keyword, limit,
                                                      titles):
    monkeypatch.setattr(bot, "KEYWORD", keyword)
    monkeypatch.setattr(bot, "MAX_ITEMS", limit)

    result = bot.main({"feed": RSS.decode()}, context)

    assert [item["title"] for item in result["items"]] == titles


@pytest.mark.parametrize("feed, message", [
    ('<!DOCTYPE r [<!ENTITY a "aaaa">]><rss><channel><item><title>&a;</title></item>'
     "</channel></rss>", "entity"),
    ("<rss><channel>", "not XML"),
    ("{not json", "not valid JSON"),
])
def test_refuses_what_is_not_a_safe_feed(context, feed, message):
    with pytest.raises(ValueError, match=message):
        bot.main({"feed": feed}, context)


def test_a_feed_too_large_is_refused(monkeypatch, context):
    monkeypatch.setattr(bot, "MAX_FEED_BYTES", 10)
    monkeypatch.setattr(bot.urllib.request, "urlopen", lambda request, timeout: FakeResponse(RSS))

    with pytest.raises(ValueError, match="larger than 10 bytes"):
        bot.main({}, context)


def test_an_unreachable_feed_is_retried_then_fails_the_run(monkeypatch, context, slept):
    def down(request, timeout):
        raise urllib.error.HTTPError(request.full_url, 503, "unavailable", {}, None)

    monkeypatch.setattr(bot.urllib.request, "urlopen", down)

    with pytest.raises(bot.CallFailed, match="after 3 attempts: HTTP 503"):
        bot.main({}, context)
    assert len(slept) == 2

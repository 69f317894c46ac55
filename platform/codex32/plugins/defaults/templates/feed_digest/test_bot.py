"""Offline tests for the generated bot: the network is replaced by fakes."""

from __future__ import annotations

import bot
from fakes import FakeContext, FakeResponse

RSS = b"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>News</title>
<item><title>First story</title><link>https://example.com/1</link>
<pubDate>Mon, 01 Jan 2024 09:00:00 GMT</pubDate></item>
<item><title>Second story</title><link>https://example.com/2</link></item>
</channel></rss>"""

ATOM = b"""<feed xmlns="http://www.w3.org/2005/Atom"><title>Blog</title>
<entry><title>Atom post</title><link href="https://example.com/a"/>
<updated>2024-01-01T00:00:00Z</updated></entry></feed>"""


def keep_all(monkeypatch):
    monkeypatch.setattr(bot, "KEYWORD", "")
    monkeypatch.setattr(bot, "MAX_ITEMS", 10)


def test_reads_an_rss_feed_from_the_url(monkeypatch):
    keep_all(monkeypatch)
    monkeypatch.setattr(bot.urllib.request, "urlopen",
                        lambda request, timeout: FakeResponse(RSS))

    result = bot.main({}, FakeContext())

    assert [item["title"] for item in result["items"]] == ["First story", "Second story"]
    assert result["items"][0]["link"] == "https://example.com/1"
    assert "First story" in result["digest"]


def test_reads_atom_and_json_feeds_given_in_the_event(monkeypatch):
    keep_all(monkeypatch)
    atom = bot.main({"feed": ATOM.decode()}, FakeContext())
    json_feed = bot.main({"feed": '{"items": [{"title": "J", "url": "https://e.com/j"}]}'},
                         FakeContext())

    assert atom["items"][0] == {"title": "Atom post", "link": "https://example.com/a",
                                "published": "2024-01-01T00:00:00Z"}
    assert json_feed["items"][0]["link"] == "https://e.com/j"


def test_keeps_at_most_max_items_matching_the_keyword(monkeypatch):
    monkeypatch.setattr(bot, "KEYWORD", "second")
    monkeypatch.setattr(bot, "MAX_ITEMS", 1)

    result = bot.main({"feed": RSS.decode()}, FakeContext())

    assert [item["title"] for item in result["items"]] == ["Second story"]


def test_refuses_entity_declarations(monkeypatch):
    bomb = '<!DOCTYPE r [<!ENTITY a "aaaa">]><rss><channel><item><title>&a;</title></item>' \
           "</channel></rss>"
    try:
        bot.main({"feed": bomb}, FakeContext())
    except ValueError as error:
        assert "entity" in str(error)
    else:
        raise AssertionError("an entity declaration was accepted")

"""TemplateGenerator: ready-made, stdlib-only bots rendered from validated parameters.

User text reaches generated code only as ``repr()`` of a validated JSON value assigned to a
constant; template bodies are fixed text and are never formatted with user input. No network,
no Flask, no database here.
"""

from __future__ import annotations

import ast
import json
import re
import textwrap
from dataclasses import dataclass
from typing import Any

import yaml
from jsonschema import Draft202012Validator

from codex32.plugins.errors import ConfigInvalid
from codex32.plugins.hookspecs import hookimpl
from codex32.plugins.interfaces import CodeGenerator, GeneratedBot, GenerationRequest, Template

URL_PATTERN = r"^https?://[^\s]+$"
OPTIONAL_URL_PATTERN = r"^(https?://[^\s]+)?$"
SECRET_NAME_PATTERN = r"^([A-Za-z_][A-Za-z0-9_]{0,63})?$"
MAX_NAME_LENGTH = 200
# Every template here may reach another host (the `requires` of a template and of a bot).
NETWORK: dict[str, Any] = {"network": True}


@dataclass(frozen=True)
class _Blueprint:
    """One template: what it offers, the constants its parameters become, its code and tests."""

    template: Template
    constants: tuple[tuple[str, str], ...]  # (CONSTANT_NAME, parameter name)
    imports: str
    body: str
    test_imports: str
    tests: str
    # The rendered bot needs the network always (None), or only when this parameter is set.
    network_when: str | None = None


def _schema(properties: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": list(required),
            "additionalProperties": False}


_TIMEOUT = {"type": "number", "exclusiveMinimum": 0, "maximum": 120, "default": 10,
            "description": "seconds to wait for the remote server"}

_HTTP_HEALTH_CHECK = _Blueprint(
    template=Template(
        id="http_health_check",
        title="HTTP health check",
        description="Requests a URL and reports whether it answered the expected status in "
                    "time, with the latency; optionally checks the body for a text.",
        parameters=_schema({
            "url": {"type": "string", "pattern": URL_PATTERN, "maxLength": 2048,
                    "description": "the URL to check"},
            "expected_status": {"type": "integer", "minimum": 100, "maximum": 599,
                                "default": 200},
            "timeout_seconds": _TIMEOUT,
            "method": {"enum": ["GET", "HEAD"], "default": "GET"},
            "must_contain": {"type": "string", "maxLength": 1000, "default": "",
                             "description": "text the body must contain (empty: no check)"},
        }, required=("url",)),
        requires=NETWORK,
    ),
    constants=(("URL", "url"), ("EXPECTED_STATUS", "expected_status"),
               ("TIMEOUT_SECONDS", "timeout_seconds"), ("METHOD", "method"),
               ("MUST_CONTAIN", "must_contain")),
    imports="import time\nimport urllib.error\nimport urllib.request\n",
    body=r'''
USER_AGENT = "codex32-bot/1"
MAX_BODY_BYTES = 1024 * 1024


def main(event: dict, context) -> dict:
    """Request URL once; healthy when it answers EXPECTED_STATUS (and MUST_CONTAIN) in time."""
    request = urllib.request.Request(URL, method=METHOD, headers={"User-Agent": USER_AGENT})
    started = time.monotonic()
    status, body, error = None, b"", None
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
            status = response.status
            body = response.read(MAX_BODY_BYTES) if MUST_CONTAIN else b""
    except urllib.error.HTTPError as exc:
        # An error status is still an answer: it may be the expected one.
        status, error = exc.code, f"HTTP {exc.code}"
    except (urllib.error.URLError, OSError) as exc:
        error = str(getattr(exc, "reason", exc)) or type(exc).__name__
    latency_ms = round((time.monotonic() - started) * 1000, 1)
    healthy = status == EXPECTED_STATUS
    if healthy and MUST_CONTAIN and MUST_CONTAIN not in body.decode("utf-8", "replace"):
        healthy, error = False, "the expected text is not in the response"
    if healthy:
        context.logger.info("%s is healthy: HTTP %s in %s ms", URL, status, latency_ms)
        error = None
    else:
        context.logger.warning("%s is unhealthy: %s", URL, error or f"HTTP {status}")
    return {"ok": healthy, "url": URL, "status": status, "expected_status": EXPECTED_STATUS,
            "latency_ms": latency_ms, "error": error or (None if healthy else f"HTTP {status}")}
''',
    test_imports="import urllib.error\n",
    tests=r'''
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
''',
)

_FEED_DIGEST = _Blueprint(
    template=Template(
        id="feed_digest",
        title="Feed digest",
        description="Reads an RSS, Atom or JSON feed and returns its newest items as a digest, "
                    "optionally only those whose title contains a keyword.",
        parameters=_schema({
            "feed_url": {"type": "string", "pattern": URL_PATTERN, "maxLength": 2048,
                         "description": "RSS, Atom or JSON Feed URL"},
            "max_items": {"type": "integer", "minimum": 1, "maximum": 200, "default": 10},
            "keyword": {"type": "string", "maxLength": 200, "default": "",
                        "description": "keep items whose title contains this (empty: all)"},
            "timeout_seconds": _TIMEOUT,
        }, required=("feed_url",)),
        requires=NETWORK,
    ),
    constants=(("FEED_URL", "feed_url"), ("MAX_ITEMS", "max_items"), ("KEYWORD", "keyword"),
               ("TIMEOUT_SECONDS", "timeout_seconds")),
    imports="import json\nimport urllib.request\nfrom xml.etree import ElementTree\n",
    body=r'''
USER_AGENT = "codex32-bot/1"
MAX_FEED_BYTES = 5 * 1024 * 1024
ACCEPT = "application/rss+xml, application/atom+xml, application/feed+json, */*;q=0.5"


def main(event: dict, context) -> dict:
    """Fetch the feed (or use ``event["feed"]``, its text) and return the newest items."""
    data = event.get("feed")
    data = _fetch(FEED_URL) if data is None else str(data).encode("utf-8")
    items = _parse(data)
    if KEYWORD:
        items = [item for item in items if KEYWORD.lower() in item["title"].lower()]
    items = items[:MAX_ITEMS]
    digest = "\n".join(f"- {item['title']} {item['link']}".rstrip() for item in items)
    context.logger.info("feed digest: %d items from %s", len(items), FEED_URL)
    return {"feed_url": FEED_URL, "count": len(items), "items": items, "digest": digest}


def _fetch(url: str) -> bytes:
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, "Accept": ACCEPT})
    with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
        data = response.read(MAX_FEED_BYTES + 1)
    if len(data) > MAX_FEED_BYTES:
        raise ValueError(f"the feed is larger than {MAX_FEED_BYTES} bytes")
    return data


def _parse(data: bytes) -> list[dict]:
    if data.lstrip().startswith(b"{"):
        feed = json.loads(data)
        return [{"title": str(item.get("title") or ""),
                 "link": str(item.get("url") or item.get("external_url") or ""),
                 "published": str(item.get("date_published") or "")}
                for item in feed.get("items", [])]
    # Entity declarations are how XML bombs and external-entity reads start; feeds need none.
    if b"<!ENTITY" in data.upper():
        raise ValueError("feeds with entity declarations are refused")
    root = ElementTree.fromstring(data)
    items = []
    for element in root.iter():
        if _local(element.tag) not in ("item", "entry"):
            continue
        fields = {_local(child.tag): child for child in element}
        link = fields.get("link")
        href = "" if link is None else (link.get("href") or link.text or "")
        published = next((fields[name].text or "" for name in
                          ("pubDate", "published", "updated", "date") if name in fields), "")
        items.append({"title": _text(fields.get("title")), "link": href.strip(),
                      "published": published.strip()})
    return items


def _local(tag) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _text(element) -> str:
    return "" if element is None else "".join(element.itertext()).strip()
''',
    test_imports="",
    tests=r'''
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
''',
)

_CSV_REPORT = _Blueprint(
    template=Template(
        id="csv_report",
        title="CSV report",
        description="Groups the rows of a CSV (text in the event, or fetched from a URL) by "
                    "one column, counting rows and summing another column per group.",
        parameters=_schema({
            "group_by": {"type": "string", "minLength": 1, "maxLength": 200,
                         "description": "the column to group by"},
            "sum_column": {"type": "string", "maxLength": 200, "default": "",
                           "description": "the numeric column to sum (empty: count only)"},
            "csv_url": {"type": "string", "pattern": OPTIONAL_URL_PATTERN, "maxLength": 2048,
                        "default": "", "description": "where to fetch the CSV when the event "
                                                      "carries none"},
            "delimiter": {"type": "string", "minLength": 1, "maxLength": 1, "default": ","},
            "timeout_seconds": _TIMEOUT,
        }, required=("group_by",)),
        requires=NETWORK,
    ),
    constants=(("GROUP_BY", "group_by"), ("SUM_COLUMN", "sum_column"), ("CSV_URL", "csv_url"),
               ("DELIMITER", "delimiter"), ("TIMEOUT_SECONDS", "timeout_seconds")),
    imports="import csv\nimport io\nimport urllib.request\n",
    body=r'''
USER_AGENT = "codex32-bot/1"
MAX_CSV_BYTES = 20 * 1024 * 1024


def main(event: dict, context) -> dict:
    """Group the CSV's rows by GROUP_BY; count them and sum SUM_COLUMN per group."""
    text = event.get("csv")
    if text is None:
        url = event.get("csv_url") or CSV_URL
        if not url:
            raise ValueError("no CSV: pass event['csv'] (text) or event['csv_url'], "
                             "or configure csv_url")
        text = _fetch(url)
    reader = csv.DictReader(io.StringIO(str(text)), delimiter=DELIMITER)
    header = reader.fieldnames or []
    for column in (GROUP_BY, SUM_COLUMN):
        if column and column not in header:
            raise ValueError(f"column {column!r} is not in the CSV header {header}")
    groups: dict[str, dict] = {}
    rows = unparsable = 0
    for row in reader:
        rows += 1
        key = (row.get(GROUP_BY) or "").strip()
        group = groups.setdefault(key, {"key": key, "count": 0, "sum": 0.0})
        group["count"] += 1
        if SUM_COLUMN:
            try:
                group["sum"] += float((row.get(SUM_COLUMN) or "").strip())
            except ValueError:
                unparsable += 1
    ordered = sorted(groups.values(), key=lambda g: (-g["sum"], -g["count"], g["key"]))
    for group in ordered:
        if SUM_COLUMN:
            group["sum"] = round(group["sum"], 6)
        else:
            del group["sum"]
    lines = [f"{g['key'] or '(empty)'}: {g['count']} rows"
             + (f", {SUM_COLUMN} {g['sum']:g}" if SUM_COLUMN else "") for g in ordered]
    context.logger.info("csv report: %d rows in %d groups", rows, len(ordered))
    return {"group_by": GROUP_BY, "sum_column": SUM_COLUMN or None, "rows": rows,
            "unparsable_values": unparsable, "groups": ordered, "summary": "\n".join(lines)}


def _fetch(url: str) -> str:
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
        data = response.read(MAX_CSV_BYTES + 1)
    if len(data) > MAX_CSV_BYTES:
        raise ValueError(f"the CSV is larger than {MAX_CSV_BYTES} bytes")
    return data.decode("utf-8-sig", "replace")
''',
    test_imports="import csv\n",
    tests=r'''
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
''',
    network_when="csv_url",
)

_WEBHOOK_RELAY = _Blueprint(
    template=Template(
        id="webhook_relay",
        title="Webhook relay",
        description="Forwards the event's payload as JSON to a target URL, optionally signed "
                    "with an HMAC-SHA256 of the body keyed by one of the bot's secrets.",
        parameters=_schema({
            "target_url": {"type": "string", "pattern": URL_PATTERN, "maxLength": 2048,
                           "description": "where to POST the payload"},
            "signing_secret": {"type": "string", "pattern": SECRET_NAME_PATTERN, "default": "",
                               "description": "name of the bot secret that keys the HMAC "
                                              "(empty: unsigned)"},
            "signature_header": {"type": "string", "pattern": r"^[A-Za-z0-9-]{1,64}$",
                                 "default": "X-Codex32-Signature"},
            "timeout_seconds": _TIMEOUT,
        }, required=("target_url",)),
        requires=NETWORK,
    ),
    constants=(("TARGET_URL", "target_url"), ("SIGNING_SECRET", "signing_secret"),
               ("SIGNATURE_HEADER", "signature_header"), ("TIMEOUT_SECONDS", "timeout_seconds")),
    imports="import hashlib\nimport hmac\nimport json\nimport urllib.error\n"
            "import urllib.request\n",
    body=r'''
USER_AGENT = "codex32-bot/1"


def main(event: dict, context) -> dict:
    """POST ``event["payload"]`` (or the whole event) to TARGET_URL; fail on a non-2xx answer."""
    payload = event.get("payload", event)
    body = json.dumps(payload, separators=(",", ":"), sort_keys=True, default=str).encode()
    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT,
               "X-Codex32-Execution": str(context.execution_id)}
    if SIGNING_SECRET:
        key = context.secrets.get(SIGNING_SECRET)
        if not key:
            raise RuntimeError(f"the secret {SIGNING_SECRET!r} is not set for this bot")
        digest = hmac.new(key.encode(), body, hashlib.sha256).hexdigest()
        headers[SIGNATURE_HEADER] = f"sha256={digest}"
    request = urllib.request.Request(TARGET_URL, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
            status = response.status
    except urllib.error.HTTPError as exc:
        # Failing the run makes the failure visible and lets the platform retry or notify.
        raise RuntimeError(f"the target answered HTTP {exc.code}") from None
    context.logger.info("relayed %d bytes to %s: HTTP %s", len(body), TARGET_URL, status)
    return {"delivered": True, "status": status, "bytes": len(body),
            "signed": bool(SIGNING_SECRET)}
''',
    test_imports="import hashlib\nimport hmac\nimport json\nimport urllib.error\n",
    tests=r'''
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
''',
)

_SCHEDULED_CLEANUP = _Blueprint(
    template=Template(
        id="scheduled_cleanup",
        title="Scheduled cleanup",
        description="Finds the records (given in the event) older than a maximum age and "
                    "returns their ids; optionally POSTs them to a delete API.",
        parameters=_schema({
            "max_age_days": {"type": "number", "minimum": 0, "maximum": 36500, "default": 30},
            "timestamp_field": {"type": "string", "minLength": 1, "maxLength": 100,
                                "default": "created_at"},
            "id_field": {"type": "string", "minLength": 1, "maxLength": 100, "default": "id"},
            "delete_url": {"type": "string", "pattern": OPTIONAL_URL_PATTERN, "maxLength": 2048,
                           "default": "", "description": "POST {\"ids\": [...]} here "
                                                         "(empty: only report)"},
            "api_token_secret": {"type": "string", "pattern": SECRET_NAME_PATTERN,
                                 "default": "", "description": "name of the bot secret sent "
                                                               "as a bearer token"},
            "dry_run": {"type": "boolean", "default": False},
            "timeout_seconds": _TIMEOUT,
        }),
        requires=NETWORK,
    ),
    constants=(("MAX_AGE_DAYS", "max_age_days"), ("TIMESTAMP_FIELD", "timestamp_field"),
               ("ID_FIELD", "id_field"), ("DELETE_URL", "delete_url"),
               ("API_TOKEN_SECRET", "api_token_secret"), ("DRY_RUN", "dry_run"),
               ("TIMEOUT_SECONDS", "timeout_seconds")),
    imports="import json\nimport urllib.request\nfrom datetime import UTC, datetime, "
            "timedelta\n",
    body=r'''
USER_AGENT = "codex32-bot/1"


def main(event: dict, context) -> dict:
    """Select ``event["records"]`` older than MAX_AGE_DAYS; delete them through DELETE_URL."""
    now = _parse_time(event.get("now")) or datetime.now(UTC)
    cutoff = now - timedelta(days=MAX_AGE_DAYS)
    expired, kept, skipped = [], 0, []
    for record in event.get("records", []):
        record_id = record.get(ID_FIELD) if isinstance(record, dict) else None
        when = _parse_time(record.get(TIMESTAMP_FIELD)) if isinstance(record, dict) else None
        if record_id is None or when is None:
            skipped.append(record_id)
        elif when < cutoff:
            expired.append(record_id)
        else:
            kept += 1
    dry_run = DRY_RUN or bool(event.get("dry_run"))
    deleted = bool(expired and DELETE_URL and not dry_run)
    if deleted:
        _delete(expired, context)
    context.logger.info("cleanup: %d expired, %d kept, %d skipped, deleted=%s",
                        len(expired), kept, len(skipped), deleted)
    return {"cutoff": cutoff.isoformat(), "delete": expired, "kept": kept,
            "skipped": skipped, "deleted": deleted}


def _parse_time(value):
    """An aware datetime from ISO 8601 text or epoch seconds (or milliseconds); else None."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        seconds = value / 1000 if value > 10**11 else value
        return datetime.fromtimestamp(seconds, UTC)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def _delete(ids: list, context) -> int:
    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
    if API_TOKEN_SECRET:
        token = context.secrets.get(API_TOKEN_SECRET)
        if not token:
            raise RuntimeError(f"the secret {API_TOKEN_SECRET!r} is not set for this bot")
        headers["Authorization"] = f"Bearer {token}"
    body = json.dumps({"ids": ids}, default=str).encode()
    request = urllib.request.Request(DELETE_URL, data=body, headers=headers, method="POST")
    with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
        return response.status
''',
    test_imports="import json\nfrom datetime import UTC, datetime, timedelta\n",
    tests=r'''
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
''',
    network_when="delete_url",
)

BLUEPRINTS: dict[str, _Blueprint] = {b.template.id: b for b in (
    _HTTP_HEALTH_CHECK, _FEED_DIGEST, _CSV_REPORT, _WEBHOOK_RELAY, _SCHEDULED_CLEANUP)}
TEMPLATE_IDS: tuple[str, ...] = tuple(BLUEPRINTS)

_TEST_PREAMBLE = '''"""Offline tests for the generated bot: the network is replaced by fakes."""

from __future__ import annotations

{imports}

import bot


class FakeContext:
    """What the runtime passes as ``context``."""

    def __init__(self, secrets: dict | None = None) -> None:
        self.logger = logging.getLogger("bot")
        self.secrets = dict(secrets or {{}})
        self.execution_id = "test-execution"


class FakeResponse(io.BytesIO):
    """A urlopen() response: a readable body with a ``status``, usable in ``with``."""

    def __init__(self, body: bytes = b"", status: int = 200) -> None:
        super().__init__(body)
        self.status = status
'''


class TemplateGenerator(CodeGenerator):
    """Bots from ready-made templates; works offline and never asks a model."""

    id = "template"
    title = "Templates"
    description = ("Ready-made bots (health check, feed digest, CSV report, webhook relay, "
                   "cleanup) rendered from validated parameters; standard library only.")
    capabilities = frozenset({"templates"})

    def templates(self) -> list[Template]:
        """The templates on offer, each with its parameters' JSON Schema."""
        return [b.template for b in BLUEPRINTS.values()]

    def generate(self, request: GenerationRequest) -> GeneratedBot:
        """Render bot.py, config.yaml, requirements.txt, README.md and test_bot.py."""
        spec = request.specification or {}
        template_id = request.template or spec.get("template")
        blueprint = BLUEPRINTS.get(template_id) if isinstance(template_id, str) else None
        if blueprint is None:
            raise ConfigInvalid("unknown template", {
                "template": [f"choose one of: {', '.join(TEMPLATE_IDS)}"]})
        name = " ".join(str(request.name or "").split())
        if not name or len(name) > MAX_NAME_LENGTH:
            raise ConfigInvalid("invalid bot name",
                                {"name": [f"1 to {MAX_NAME_LENGTH} characters"]})
        from_spec = spec.get("parameters") if isinstance(spec.get("parameters"), dict) else {}
        supplied = {**from_spec, **(request.parameters or {})}
        parameters = validate_parameters(blueprint.template, supplied)
        requires = _requires(blueprint, parameters)
        return GeneratedBot(requires=requires, files={
            "bot.py": _render_code(blueprint, name, parameters),
            "config.yaml": _render_config(blueprint, name, request.description, spec,
                                          parameters, requires),
            "requirements.txt": "# Standard library only: this bot needs no packages.\n",
            "README.md": _render_readme(blueprint, name, request.description, parameters),
            "test_bot.py": _render_tests(blueprint),
        })


def validate_parameters(template: Template, supplied: dict[str, Any]) -> dict[str, Any]:
    """Apply the schema's defaults and validate; ConfigInvalid lists errors per parameter."""
    schema = template.parameters
    if not isinstance(supplied, dict):
        raise ConfigInvalid("parameters must be an object", {"parameters": ["not an object"]})
    parameters = {key: spec["default"] for key, spec in schema.get("properties", {}).items()
                  if "default" in spec}
    parameters.update(supplied)
    errors: dict[str, list[str]] = {}
    for error in Draft202012Validator(schema).iter_errors(parameters):
        if error.validator == "required":
            fields = [n for n in error.validator_value if n not in error.instance]
        elif error.validator == "additionalProperties":
            fields = [n for n in error.instance if n not in schema.get("properties", {})]
        else:
            fields = [".".join(str(p) for p in error.absolute_path) or "parameters"]
        for field in fields:
            message = "unknown parameter" if error.validator == "additionalProperties" else (
                "required" if error.validator == "required" else _message(error))
            errors.setdefault(f"parameters.{field}", []).append(message)
    if not errors:
        for key, value in parameters.items():
            # JSON has no NaN or infinity, and repr() of them is not a Python literal.
            try:
                json.dumps(value, allow_nan=False)
            except ValueError:
                errors.setdefault(f"parameters.{key}", []).append("must be a finite number")
    if errors:
        raise ConfigInvalid(f"invalid parameters for template {template.id!r}", errors)
    return {key: parameters[key] for key in schema.get("properties", {}) if key in parameters}


def _message(error: Any) -> str:
    if error.validator == "pattern":
        return "must be an http(s) URL" if "https?" in error.validator_value else \
            f"must match {error.validator_value}"
    return error.message if len(error.message) <= 200 else f"fails {error.validator}"


def _literal(value: Any) -> str:
    """``repr`` of a JSON value, proven to read back as exactly that value."""
    text = repr(value)
    if ast.literal_eval(text) != value:
        raise ConfigInvalid("a parameter cannot be rendered", {"parameters": [text[:50]]})
    return text


def _render_code(blueprint: _Blueprint, name: str, parameters: dict[str, Any]) -> str:
    template = blueprint.template
    constants = "\n".join(f"{constant} = {_literal(parameters[key])}"
                          for constant, key in blueprint.constants)
    code = (f'"""{template.title} bot, generated by Codex-32 from the `{template.id}` template.'
            f"\n\n{textwrap.fill(template.description, 96)}\n\n"
            "Entry point: ``main(event, context) -> dict``; standard library only.\n"
            '"""\n\nfrom __future__ import annotations\n\n'
            f"{blueprint.imports}\n"
            "# Parameters as Python literals from config.yaml; regenerate the bot to change them.\n"
            f"BOT_NAME = {_literal(name)}\n{constants}\n{blueprint.body}")
    compile(code, "bot.py", "exec")  # a template bug must fail here, not in the sandbox
    return code


def _requires(blueprint: _Blueprint, parameters: dict[str, Any]) -> dict[str, Any]:
    """What the bot rendered with ``parameters`` needs: the network unless its URL is unset."""
    condition = blueprint.network_when
    return dict(NETWORK) if condition is None or parameters.get(condition) else {}


def _render_config(blueprint: _Blueprint, name: str, description: str, spec: dict[str, Any],
                   parameters: dict[str, Any], requires: dict[str, Any]) -> str:
    config: dict[str, Any] = {"name": name, "description": description or "",
                              "template": blueprint.template.id, "entrypoint": "bot.py",
                              "runtime": "python3"}
    for key in ("trigger", "schedule"):
        if isinstance(spec.get(key), str) and len(spec[key]) <= 200:
            config[key] = spec[key]
    config["parameters"] = parameters
    if requires:
        config["requires"] = requires
    return yaml.safe_dump(config, sort_keys=False, allow_unicode=True)


def _render_readme(blueprint: _Blueprint, name: str, description: str,
                   parameters: dict[str, Any]) -> str:
    template = blueprint.template
    properties = template.parameters.get("properties", {})
    rows = "\n".join(
        f"| `{key}` | `{_cell(json.dumps(value))}` | "
        f"{_cell(properties.get(key, {}).get('description', ''))} |"
        for key, value in parameters.items())
    about = description.strip() if description and description.strip() else template.description
    return (f"# {_cell(name)}\n\n{about}\n\n"
            f"Generated from the `{template.id}` template ({template.title}): "
            f"{template.description}\n\n"
            "## Parameters\n\n| parameter | value | meaning |\n| --- | --- | --- |\n"
            f"{rows}\n\n"
            "## Contract\n\n`bot.py` defines `main(event: dict, context) -> dict`; `context` "
            "gives `logger`, `secrets` and `execution_id`. It uses the standard library only.\n\n"
            "## Tests\n\n```bash\npytest test_bot.py\n```\n\n"
            "They run offline: network calls are replaced by fakes.\n")


def _cell(text: str) -> str:
    """Text safe inside one Markdown table cell or heading line."""
    return re.sub(r"\s+", " ", text).replace("|", "\\|").replace("`", "'")


def _render_tests(blueprint: _Blueprint) -> str:
    lines = {"import io", "import logging", *blueprint.test_imports.splitlines()}
    # isort's order: plain imports, then from-imports, each alphabetical.
    imports = "\n".join(sorted(lines, key=lambda line: (line.startswith("from "), line)))
    code = _TEST_PREAMBLE.format(imports=imports) + "\n" + blueprint.tests
    compile(code, "test_bot.py", "exec")
    return code


@hookimpl
def register_code_generators(register):
    """Provide :class:`TemplateGenerator` (id ``template``)."""
    register(TemplateGenerator)

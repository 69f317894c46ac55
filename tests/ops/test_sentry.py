"""Sentry: the real SDK sends to a local HTTP server, which must never receive a secret."""

from __future__ import annotations

import ast
import gzip
import json
import logging
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import flask
import pytest
import sentry_sdk

from codex32.observability.sentry import (
    FILTERED,
    init_sentry,
    is_sensitive_key,
    mask_string,
    scrub_event,
    tag_request,
)
from tests.test_import_graph import module_files

API_KEY = "c32_live_9f8e7d6c5b4a39281706"
BEARER = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiI0MiJ9.s3cr3tSignature"
PASSWORD = "hunter2-correct-horse"
PROVIDER_SECRET = "sk-provider-0123456789abcdef"
DB_PASSWORD = "pg-owner-pass-777"
COOKIE = "session=cookie-value-4242"
SECRETS = (API_KEY, BEARER, PASSWORD, PROVIDER_SECRET, DB_PASSWORD, "cookie-value-4242")


class EnvelopeSink(ThreadingHTTPServer):
    """An HTTP server that records every request body it receives (decompressed)."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _RecordingHandler)
        self.bodies: list[bytes] = []
        self.lock = threading.Lock()

    @property
    def dsn(self) -> str:
        return f"http://publicdsn@127.0.0.1:{self.server_address[1]}/42"

    def events(self) -> list[dict]:
        """The ``event`` items of every envelope received so far."""
        found = []
        with self.lock:
            bodies = list(self.bodies)
        for body in bodies:
            lines = body.split(b"\n")
            for header, payload in zip(lines[1::2], lines[2::2], strict=False):
                if json.loads(header).get("type") == "event":
                    found.append(json.loads(payload))
        return found


class _RecordingHandler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        with self.server.lock:
            self.server.bodies.append(body)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def sink():
    server = EnvelopeSink()
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def sentry(sink):
    """Sentry initialised against the sink; the global client is reset afterwards."""
    assert init_sentry(sink.dsn, environment="test-env", release="codex32@1.2.3")
    yield sink
    client = sentry_sdk.get_client()
    client.flush(timeout=2)
    client.close()
    sentry_sdk.get_global_scope().set_client(None)


def wait_for_events(sink: EnvelopeSink, count: int, deadline: float = 5.0) -> list[dict]:
    sentry_sdk.flush(timeout=deadline)
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        events = sink.events()
        if len(events) >= count:
            return events
        time.sleep(0.02)
    raise AssertionError(f"expected {count} event(s), the sink received {len(sink.events())}")


def make_app() -> flask.Flask:
    app = flask.Flask("sentry_test_app")

    @app.post("/bots/<bot_id>/run")
    def run_bot(bot_id: str):
        tag_request("req-abc-123", "ws-42", user_id="u-7")
        password = PASSWORD  # a frame variable named like a secret
        provider = {"name": "openai", "api_key": PROVIDER_SECRET}
        dsn = f"postgresql://owner:{DB_PASSWORD}@db.internal:5432/codex32"
        bot_name = "weather-bot"
        sentry_sdk.set_extra("db_password", DB_PASSWORD)
        sentry_sdk.set_context("provider", {"model": "gpt", "secret_key": PROVIDER_SECRET})
        logging.getLogger("codex32.tests").warning("calling with key %s", API_KEY)
        raise RuntimeError(f"provider refused Bearer {BEARER} and {API_KEY} at {dsn} "
                           f"for {bot_name} {bot_id} ({len(password)}, {provider['name']})")

    return app


def test_no_secret_reaches_sentry_and_the_tags_do(sentry):
    response = make_app().test_client().post(
        f"/bots/b-1/run?token={PASSWORD}&page=2",
        json={"password": PASSWORD, "api_key": API_KEY, "name": "weather-bot"},
        headers={"Authorization": f"Bearer {BEARER}", "X-Api-Key": API_KEY, "Cookie": COOKIE},
    )
    assert response.status_code == 500

    (event,) = [e for e in wait_for_events(sentry, 1) if e.get("exception")]
    received = b"\n".join(sentry.bodies)
    for secret in SECRETS:
        assert secret.encode() not in received, secret
    assert b"c32_" not in received

    assert event["environment"] == "test-env"
    assert event["release"] == "codex32@1.2.3"
    assert event["tags"]["request_id"] == "req-abc-123"
    assert event["tags"]["workspace_id"] == "ws-42"
    assert event["user"] == {"id": "u-7"}

    # Scrubbed, not lost: the structure and harmless values survive.
    frame = event["exception"]["values"][-1]["stacktrace"]["frames"][-1]
    assert frame["vars"]["password"] == FILTERED
    assert "weather-bot" in frame["vars"]["bot_name"]
    assert event["request"]["data"]["password"] == FILTERED
    assert event["request"]["data"]["name"] == "weather-bot"
    assert event["extra"]["db_password"] == FILTERED
    assert event["contexts"]["provider"] == {"model": "gpt", "secret_key": FILTERED}
    message = event["exception"]["values"][-1]["value"]
    assert f"Bearer {FILTERED}" in message and "weather-bot" in message
    assert "owner:[Filtered]@db.internal" in message


def test_without_a_dsn_sentry_stays_off():
    assert init_sentry(None, environment="production", release="1") is False
    assert init_sentry("", environment="production", release="1") is False
    assert not sentry_sdk.get_client().is_active()


def _sdk_imports() -> set[tuple[str, str | None]]:
    """(module, enclosing function or None) of every import of sentry_sdk in codex32."""
    found: set[tuple[str, str | None]] = set()

    def visit(node: ast.AST, module: str, function: str | None) -> None:
        for child in ast.iter_child_nodes(node):
            names = ([a.name for a in child.names] if isinstance(child, ast.Import)
                     else [child.module or ""] if isinstance(child, ast.ImportFrom) else [])
            if any(n.split(".")[0] == "sentry_sdk" for n in names):
                found.add((module, function))
            inner = (child.name if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
                     else function)
            visit(child, module, inner)

    for module, path in module_files().items():
        visit(ast.parse(path.read_text(encoding="utf-8")), module, None)
    return found


def test_the_sdk_is_imported_only_by_init_sentry():
    """Every web, worker and CLI process imports this module (the request path tags each
    request); the SDK's import, ~0.15 s of CPU, is paid only when a DSN starts it."""
    assert _sdk_imports() == {("codex32.observability.sentry", "init_sentry")}


def test_tagging_without_the_sdk_imported_does_nothing(monkeypatch):
    for name in [m for m in sys.modules if m.split(".")[0] == "sentry_sdk"]:
        monkeypatch.delitem(sys.modules, name)

    tag_request("req-1", "ws-1", user_id="u-1")

    assert "sentry_sdk" not in sys.modules


@pytest.mark.parametrize("key", ["password", "DB_PASSWORD", "X-Api-Key", "api_key", "Cookie",
                                 "Authorization", "refresh_token", "client_secret",
                                 "secrets_key", "credentials"])
def test_keys_naming_a_secret_are_sensitive(key):
    assert is_sensitive_key(key)


@pytest.mark.parametrize("key", ["name", "workspace_id", "status", "model", "url"])
def test_ordinary_keys_are_not_sensitive(key):
    assert not is_sensitive_key(key)


@pytest.mark.parametrize(("text", "secret"), [
    ("Authorization: Bearer abc.def-ghi", "abc.def-ghi"),
    ("header Basic dXNlcjpwYXNzd29yZA==", "dXNlcjpwYXNzd29yZA=="),
    (f"using {API_KEY} now", API_KEY),
    ("connect redis://:redispass@cache:6379/0", "redispass"),
    ("postgresql://owner:pgpass@db/x", "pgpass"),
    ("login failed password=letmein for bob", "letmein"),
    ("{'api_key': 'sk-123456'}", "sk-123456"),
    ('{"token": "t0k3n"}', "t0k3n"),
    ("GET /x?access_token=zzz999&page=2", "zzz999"),
    # An invitation's token is the accept route's path segment (the request's URL).
    ("https://c32.example/api/v1/invitations/Ab-c_123xyz/accept", "Ab-c_123xyz"),
    # A JWT or a provider's key held bare (a local variable, an argument's repr), no key or
    # scheme naming it: an access token signs in as its user for 15 minutes.
    ("raw = 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIiwid3MiOiJ4In0.Zm9v_YmFy-YmF6'",
     "eyJzdWIiOiIxIiwid3MiOiJ4In0"),
    ("value sk-proj-AbCdEf0123456789abcdefGHIJ", "AbCdEf0123456789abcdefGHIJ"),
    ("value sk-ant-api03-AbCdEf0123456789abcdef-GHIJ", "AbCdEf0123456789abcdef-GHIJ"),
])
def test_secrets_inside_strings_are_masked(text, secret):
    masked = mask_string(text)
    assert secret not in masked
    assert FILTERED in masked


def test_ordinary_strings_are_left_alone():
    text = "bot weather-bot ran in 12 ms; duplicate key value violates unique constraint"
    assert mask_string(text) == text


def test_scrub_event_walks_nested_values_and_keeps_package_inventory():
    event = {
        "breadcrumbs": {"values": [{"message": f"key {API_KEY}",
                                    "data": {"headers": {"authorization": "x"}}}]},
        "extra": {"nested": [{"client_secret": "s"}, "Bearer tok"]},
        "modules": {"keyring": "25.0", "tokenizers": "0.20"},
    }
    scrubbed = scrub_event(event, {})
    assert scrubbed["breadcrumbs"]["values"][0]["message"] == f"key {FILTERED}"
    assert scrubbed["breadcrumbs"]["values"][0]["data"]["headers"]["authorization"] == FILTERED
    assert scrubbed["extra"]["nested"] == [{"client_secret": FILTERED}, f"Bearer {FILTERED}"]
    assert scrubbed["modules"] == {"keyring": "25.0", "tokenizers": "0.20"}

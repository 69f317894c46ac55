"""Tests for the webhook notifier against a local receiver (see conftest.py)."""

from __future__ import annotations

import json
import logging
import time
from importlib.metadata import entry_points

import codex32_webhook
import pytest
from codex32_webhook import SIGNATURE_HEADER, WebhookNotifier, sign, verify_signature

from codex32.plugins.api import (
    ConfigInvalid,
    Notification,
    ProviderAuthError,
    ProviderError,
    ProviderRateLimited,
    ProviderTimeout,
)
from codex32.testing import registered_classes

SECRET = "whsec_never-show-this-0f9a"
NOTE = Notification(event="execution.succeeded", workspace_id="ws_1",
                    payload={"bot": "b_7", "result": {"rows": 3}, "text": "héllo"}, id="ntf_42")


def make(url: str, **config: object) -> WebhookNotifier:
    return WebhookNotifier({"url": url, "backoff_seconds": 0.001, **config},
                           {"signing_secret": SECRET})


def test_posts_the_notification_as_json_with_delivery_headers(receiver):
    make(receiver.url).notify(NOTE)

    [request] = receiver.requests
    assert request.path == "/hooks/codex32?source=test"
    body = json.loads(request.body)
    assert set(body) == {"id", "event", "workspace_id", "payload", "sent_at"}
    assert body["id"] == "ntf_42"
    assert body["event"] == "execution.succeeded"
    assert body["workspace_id"] == "ws_1"
    assert body["payload"] == NOTE.payload
    assert body["sent_at"].endswith("Z")
    assert request.headers["X-Codex32-Event"] == "execution.succeeded"
    assert request.headers["X-Codex32-Delivery"] == "ntf_42"
    assert request.headers["Content-Type"].startswith("application/json")


def test_a_notification_without_id_gets_a_delivery_id(receiver):
    make(receiver.url).notify(Notification("bot.created", "ws_1", {}))
    [request] = receiver.requests
    assert request.headers["X-Codex32-Delivery"] == json.loads(request.body)["id"] != ""


def test_signature_verifies_and_fails_when_tampered(receiver):
    make(receiver.url).notify(NOTE)
    [request] = receiver.requests
    header = request.headers[SIGNATURE_HEADER]

    assert verify_signature(SECRET, header, request.body)
    assert verify_signature(SECRET, header, request.body.decode())
    assert not verify_signature(SECRET, header, request.body.replace(b"ws_1", b"ws_2"))
    assert not verify_signature("another-secret", header, request.body)
    timestamp, signature = header.split(",")
    assert not verify_signature(SECRET, f"{timestamp},v1={'0' * 64}", request.body)
    assert not verify_signature(SECRET, signature, request.body)  # no timestamp
    assert not verify_signature(SECRET, "t=soon,v1=abc", request.body)
    assert not verify_signature(SECRET, "", request.body)


def test_an_old_signature_is_refused_outside_the_tolerance():
    body = b'{"id":"x"}'
    header = sign(SECRET, body, int(time.time()) - 400)
    assert not verify_signature(SECRET, header, body)
    assert verify_signature(SECRET, header, body, tolerance=600)


def test_any_of_several_signatures_may_match_for_secret_rotation():
    body = b"{}"
    now = int(time.time())
    old = sign("old-secret", body, now).split(",")[1]
    assert verify_signature(SECRET, f"{sign(SECRET, body, now)},{old}", body)
    assert verify_signature("old-secret", f"{sign(SECRET, body, now)},{old}", body)


def test_server_errors_are_retried_with_exponential_backoff(receiver, sleeps):
    receiver.answer(500)
    receiver.answer(502)
    make(receiver.url, max_attempts=3).notify(NOTE)

    assert len(receiver.requests) == 3
    assert sleeps == [0.001, 0.002]
    assert len({r.body for r in receiver.requests}) == 1  # the same delivery each time
    for request in receiver.requests:
        assert verify_signature(SECRET, request.headers[SIGNATURE_HEADER], request.body)


def test_delivery_fails_after_the_last_attempt(receiver, sleeps):
    for _ in range(3):
        receiver.answer(503)
    with pytest.raises(ProviderError, match=r"after 3 attempt\(s\): answered 503"):
        make(receiver.url).notify(NOTE)
    assert len(receiver.requests) == 3


@pytest.mark.parametrize(("status", "error"), [
    (400, ProviderError), (404, ProviderError), (422, ProviderError),
    (401, ProviderAuthError), (403, ProviderAuthError),
])
def test_client_errors_are_not_retried(receiver, sleeps, status, error):
    receiver.answer(status)
    with pytest.raises(error, match=f"answered {status}") as caught:
        make(receiver.url).notify(NOTE)
    assert type(caught.value) is error
    assert len(receiver.requests) == 1
    assert sleeps == []


def test_429_waits_for_retry_after(receiver, sleeps):
    receiver.answer(429, Retry_After="2")
    make(receiver.url).notify(NOTE)
    assert len(receiver.requests) == 2
    assert sleeps == [2.0]


def test_retry_after_longer_than_the_cap_ends_with_a_rate_limit_error(receiver, sleeps):
    receiver.answer(429, Retry_After="120")
    with pytest.raises(ProviderRateLimited) as caught:
        make(receiver.url, max_retry_after_seconds=30).notify(NOTE)
    assert caught.value.retry_after == 120
    assert len(receiver.requests) == 1
    assert sleeps == []


def test_rate_limited_on_the_last_attempt_raises_a_rate_limit_error(receiver):
    receiver.answer(429, Retry_After="1")
    with pytest.raises(ProviderRateLimited) as caught:
        make(receiver.url, max_attempts=1).notify(NOTE)
    assert caught.value.retry_after == 1


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_redirects_are_not_followed(receiver, sleeps, status):
    receiver.answer(status, Location=receiver.url.replace("/hooks/", "/elsewhere/"))
    with pytest.raises(ProviderError, match="redirects are not followed"):
        make(receiver.url).notify(NOTE)
    assert [r.path for r in receiver.requests] == ["/hooks/codex32?source=test"]


def test_connection_errors_are_retried(closed_port, sleeps):
    with pytest.raises(ProviderError, match=r"after 2 attempt.*connection failed"):
        make(f"http://127.0.0.1:{closed_port}/", max_attempts=2).notify(NOTE)
    assert sleeps == [0.001]


def test_each_attempt_is_bounded_by_the_timeout(silent_port):
    started = time.monotonic()
    with pytest.raises(ProviderTimeout, match=r"no answer within 0\.2s"):
        make(f"http://127.0.0.1:{silent_port}/", max_attempts=1, timeout_seconds=0.2).notify(NOTE)
    assert time.monotonic() - started < 2


def test_a_private_target_is_refused_when_the_operator_disallows_it(receiver, monkeypatch):
    monkeypatch.setenv("CODEX32_ALLOW_PRIVATE_URLS", "0")
    with pytest.raises(ConfigInvalid, match="loopback"):
        make(receiver.url)


def test_the_target_is_checked_again_at_send_time(receiver, monkeypatch, sleeps):
    notifier = make(receiver.url.replace("127.0.0.1", "localhost"))
    monkeypatch.setenv("CODEX32_ALLOW_PRIVATE_URLS", "0")
    with pytest.raises(ProviderError, match=r"target refused: localhost resolves to 127\.0\.0\.1"):
        notifier.notify(NOTE)
    assert receiver.requests == []
    assert sleeps == []


@pytest.mark.parametrize(("url", "message"), [
    ("ftp://example.com/hook", "scheme"),
    ("https://user:pass@example.com/hook", "credentials"),
    ("https:///hook", "no host"),
    ("", "needs a url"),
])
def test_invalid_urls_are_refused_at_configuration(url, message):
    with pytest.raises(ConfigInvalid, match=message) as caught:
        make(url)
    assert "pass@" not in str(caught.value)


def test_a_missing_signing_secret_is_a_configuration_error(receiver):
    notifier = WebhookNotifier({"url": receiver.url})
    with pytest.raises(ConfigInvalid, match="signing_secret"):
        notifier.notify(NOTE)
    assert not notifier.health_check().ok
    assert receiver.requests == []


def test_health_check_checks_the_target_without_posting(receiver, monkeypatch):
    notifier = make(receiver.url.replace("127.0.0.1", "localhost"))
    assert notifier.health_check().ok
    monkeypatch.setenv("CODEX32_ALLOW_PRIVATE_URLS", "0")
    result = notifier.health_check()
    assert not result.ok and "loopback" in result.detail
    assert receiver.requests == []


def test_header_values_cannot_be_injected(receiver):
    make(receiver.url).notify(Notification("bot.created\r\nX-Injected: 1", "ws_1", {}, "n 1"))
    [request] = receiver.requests
    assert "X-Injected" not in request.headers
    assert request.headers["X-Codex32-Event"] == "bot.created__X-Injected:_1"
    assert request.headers["X-Codex32-Delivery"] == "n_1"


def test_the_secret_never_appears_in_reprs_errors_or_logs(receiver, sleeps, caplog):
    caplog.set_level(logging.DEBUG)
    for _ in range(3):
        receiver.answer(500, body=b"internal error")
    notifier = make(receiver.url)
    with pytest.raises(ProviderError) as caught:
        notifier.notify(NOTE)

    shown = [repr(notifier), str(notifier), str(caught.value), repr(caught.value), caplog.text,
             str(notifier.health_check())]
    assert caplog.records, "the retries should have been logged"
    assert all(SECRET not in text for text in shown)


def test_register_notifiers_registers_the_class_through_pluggy():
    assert registered_classes(codex32_webhook) == {"notifier": [WebhookNotifier]}
    assert WebhookNotifier.id == "webhook" and WebhookNotifier.secrets == ("signing_secret",)


def test_the_distribution_declares_its_entry_point():
    names = {ep.name: ep.value for ep in entry_points(group="codex32")}
    assert names.get("webhook") == "codex32_webhook"

"""Tests for the Slack notifier against a local stand-in for Slack (see conftest.py)."""

from __future__ import annotations

import json
import logging
from importlib.metadata import entry_points

import codex32_slack
import pytest
from codex32_slack import SlackNotifier, build_message

from codex32.plugins.api import (
    ConfigInvalid,
    Notification,
    ProviderAuthError,
    ProviderError,
    ProviderRateLimited,
    ProviderTimeout,
)
from codex32.testing import registered_classes

TOKEN = "Xs3cr3tT0k3n"  # the secret part of the stand-in's URL
NOTE = Notification(event="execution.succeeded", workspace_id="ws_1", id="ntf_3",
                    payload={"bot": "nightly-report", "duration_seconds": 1.5,
                             "result": {"rows": 3}})


def make(url: str, **config: object) -> SlackNotifier:
    return SlackNotifier({"backoff_seconds": 0.001, **config}, {"webhook_url": url})


def test_posts_a_block_kit_message(receiver):
    make(receiver.url).notify(NOTE)

    [request] = receiver.requests
    assert request.path == f"/services/T000/B000/{TOKEN}"
    assert request.headers["Content-Type"].startswith("application/json")
    message = json.loads(request.body)
    assert set(message) == {"text", "blocks"}
    assert message["text"] == "execution.succeeded in workspace ws_1"
    section, context = message["blocks"]
    assert section["type"] == "section" and section["text"]["type"] == "mrkdwn"
    assert section["text"]["text"].startswith("*execution.succeeded* in workspace `ws_1`")
    assert "• *bot*: nightly-report" in section["text"]["text"]
    assert '• *result*: {"rows": 3}' in section["text"]["text"]
    assert context["type"] == "context"
    assert "notification `ntf_3`" in context["elements"][0]["text"]


def test_channel_and_username_are_sent_when_configured(receiver):
    make(receiver.url, channel="#ops", username="Codex-32").notify(NOTE)
    message = json.loads(receiver.requests[0].body)
    assert message["channel"] == "#ops" and message["username"] == "Codex-32"


def test_payload_text_is_escaped_so_it_cannot_mention_everyone():
    note = Notification("bot.failed", "ws_1", {"error": "<!channel> a & b <http://x|y>"})
    text = build_message(note)["blocks"][0]["text"]["text"]
    assert "<!channel>" not in text
    assert "&lt;!channel&gt; a &amp; b &lt;http://x|y&gt;" in text


def test_long_payloads_stay_within_slack_limits():
    note = Notification("bot.failed", "ws_1", {f"k{i}": "v" * 1000 for i in range(20)})
    text = build_message(note)["blocks"][0]["text"]["text"]
    assert len(text) <= 3000
    assert "_…and 10 more_" in text


def test_429_waits_for_retry_after_then_posts(receiver, sleeps):
    receiver.answer(429, b"rate_limited", Retry_After="3")
    make(receiver.url).notify(NOTE)
    assert len(receiver.requests) == 2
    assert sleeps == [3.0]


def test_retries_on_429_are_bounded(receiver, sleeps):
    for _ in range(5):
        receiver.answer(429, b"rate_limited", Retry_After="1")
    with pytest.raises(ProviderRateLimited, match=r"after 3 attempt\(s\)") as caught:
        make(receiver.url).notify(NOTE)
    assert caught.value.retry_after == 1
    assert len(receiver.requests) == 3
    assert sleeps == [1.0, 1.0]


def test_retry_after_longer_than_the_cap_is_not_waited_for(receiver, sleeps):
    receiver.answer(429, b"rate_limited", Retry_After="600")
    with pytest.raises(ProviderRateLimited) as caught:
        make(receiver.url, max_retry_after_seconds=30).notify(NOTE)
    assert caught.value.retry_after == 600
    assert len(receiver.requests) == 1 and sleeps == []


def test_server_errors_are_retried_with_backoff(receiver, sleeps):
    receiver.answer(500)
    receiver.answer(503)
    make(receiver.url).notify(NOTE)
    assert len(receiver.requests) == 3
    assert sleeps == [0.001, 0.002]


def test_a_bad_request_is_not_retried_and_names_slacks_error(receiver, sleeps):
    receiver.answer(400, b"invalid_payload")
    with pytest.raises(ProviderError, match="answered 400 invalid_payload") as caught:
        make(receiver.url).notify(NOTE)
    assert type(caught.value) is ProviderError
    assert len(receiver.requests) == 1 and sleeps == []


@pytest.mark.parametrize(("status", "answer"), [(403, b"invalid_token"), (404, b"no_service"),
                                                (410, b"no_active_hooks")])
def test_a_revoked_webhook_is_an_auth_error(receiver, status, answer):
    receiver.answer(status, answer)
    with pytest.raises(ProviderAuthError, match="invalid or revoked"):
        make(receiver.url).notify(NOTE)
    assert len(receiver.requests) == 1


def test_an_unexpected_error_body_is_not_repeated(receiver):
    receiver.answer(400, b"<html>something with the url in it</html>")
    with pytest.raises(ProviderError) as caught:
        make(receiver.url).notify(NOTE)
    assert "html" not in str(caught.value)


def test_redirects_are_not_followed(receiver, sleeps):
    receiver.answer(302, Location=receiver.url + "/elsewhere")
    with pytest.raises(ProviderError, match="redirects are not followed"):
        make(receiver.url).notify(NOTE)
    assert len(receiver.requests) == 1


def test_connection_errors_are_retried(closed_port, sleeps):
    with pytest.raises(ProviderError, match="connection failed"):
        make(f"http://127.0.0.1:{closed_port}/services/T/B/{TOKEN}", max_attempts=2).notify(NOTE)
    assert sleeps == [0.001]


def test_a_silent_server_times_out(silent_port):
    with pytest.raises(ProviderTimeout):
        make(f"http://127.0.0.1:{silent_port}/services/T/B/{TOKEN}", max_attempts=1,
             timeout_seconds=0.2).notify(NOTE)


def test_a_private_target_is_refused_when_the_operator_disallows_it(receiver, monkeypatch):
    monkeypatch.setenv("CODEX32_ALLOW_PRIVATE_URLS", "0")
    with pytest.raises(ConfigInvalid, match="scheme must be one of https"):
        make(receiver.url).notify(NOTE)
    https_url = receiver.url.replace("http://", "https://")
    with pytest.raises(ConfigInvalid, match="loopback"):
        make(https_url).notify(NOTE)
    with pytest.raises(ProviderError, match="localhost resolves to"):
        make(https_url.replace("127.0.0.1", "localhost")).notify(NOTE)
    assert receiver.requests == []


def test_health_check_validates_the_url_without_posting(receiver):
    result = make(receiver.url).health_check()
    assert result.ok and "not posted" in result.detail
    assert make("https://hooks.slack.com/services/T/B/x").health_check().ok
    assert receiver.requests == []


def test_health_check_reports_a_missing_url():
    result = make("").health_check()
    assert not result.ok and "webhook_url" in result.detail


@pytest.mark.parametrize("url", ["ftp://hooks.slack.com/services/T/B/x",
                                 "https://user:pw@hooks.slack.com/services/T/B/x",
                                 "not a url"])
def test_a_bad_url_is_refused_when_the_notifier_is_built(url):
    with pytest.raises(ConfigInvalid) as refused:
        make(url)
    shown = f"{refused.value} {refused.value.errors}"
    assert "services" not in shown and "pw" not in shown


def test_plain_http_is_refused_where_private_targets_are(monkeypatch):
    notifier = make("http://hooks.slack.com/services/T/B/x")  # allowed when built
    monkeypatch.setenv("CODEX32_ALLOW_PRIVATE_URLS", "0")
    result = notifier.health_check()
    assert not result.ok and "https" in result.detail
    with pytest.raises(ConfigInvalid, match="https"):
        make("http://hooks.slack.com/services/T/B/x")


def test_the_webhook_url_never_appears_in_reprs_errors_or_logs(receiver, sleeps, caplog,
                                                               monkeypatch):
    caplog.set_level(logging.DEBUG)
    for _ in range(3):
        receiver.answer(500)
    notifier = make(receiver.url)
    with pytest.raises(ProviderError) as failed:
        notifier.notify(NOTE)
    monkeypatch.setenv("CODEX32_ALLOW_PRIVATE_URLS", "0")
    with pytest.raises(ConfigInvalid) as refused:
        make(receiver.url.replace("http:", "https:")).notify(NOTE)

    shown = [repr(notifier), str(failed.value), str(refused.value), str(refused.value.errors),
             caplog.text, str(notifier.health_check())]
    assert caplog.records, "the retries should have been logged"
    assert all(TOKEN not in text for text in shown)


def test_register_notifiers_registers_the_class_through_pluggy():
    assert registered_classes(codex32_slack) == {"notifier": [SlackNotifier]}
    assert SlackNotifier.id == "slack" and SlackNotifier.secrets == ("webhook_url",)


def test_the_distribution_declares_its_entry_point():
    names = {ep.name: ep.value for ep in entry_points(group="codex32")}
    assert names.get("slack") == "codex32_slack"

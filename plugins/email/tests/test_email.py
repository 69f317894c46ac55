"""Tests for the e-mail notifier against the local SMTP server in conftest.py."""

from __future__ import annotations

import email
import email.policy
import logging
from importlib.metadata import entry_points

import codex32_email
import pytest
from codex32_email import EmailNotifier, render_subject, render_text

from codex32.plugins.api import (
    ConfigInvalid,
    Notification,
    ProviderAuthError,
    ProviderError,
    ProviderTimeout,
)
from codex32.testing import registered_classes

USERNAME = "notifier@example.com"
PASSWORD = "smtp-Pa55-never-logged-91b2"
NOTE = Notification(event="execution.failed", workspace_id="ws_1", id="ntf_9",
                    payload={"bot": "b_7", "error": {"type": "ValueError", "line": 12},
                             "tags": ["a", "b"], "note": "héllo"})


def make(port: int, password: str = PASSWORD, **config: object) -> EmailNotifier:
    settings = {"host": "localhost", "port": port, "username": USERNAME,
                "from_address": "codex32@example.com",
                "to_addresses": ["ops@example.com", "dev@example.com"], "timeout_seconds": 5,
                **config}
    return EmailNotifier(settings, {"password": password})


@pytest.fixture
def server(smtp_server, trust_certificate):
    return smtp_server(credentials=(USERNAME, PASSWORD))


def test_sends_the_notification_as_plain_text_with_json(server):
    make(server.port).notify(NOTE)

    [delivered] = server.messages
    assert delivered.mail_from == "codex32@example.com"
    assert delivered.rcpt_to == ["ops@example.com", "dev@example.com"]
    message = email.message_from_bytes(delivered.data, policy=email.policy.default)
    assert message["Subject"] == "[Codex-32] execution.failed"
    assert message["To"] == "ops@example.com, dev@example.com"
    assert message["X-Codex32-Delivery"] == "ntf_9"
    assert message["Message-ID"].endswith("@example.com>")
    body = message.get_content()
    assert "Event: execution.failed" in body
    assert "error.type: ValueError" in body
    assert 'tags: ["a", "b"]' in body
    assert '"workspace_id": "ws_1"' in body and "héllo" in body


def test_starttls_happens_before_auth(server):
    make(server.port).notify(NOTE)

    events = server.events
    assert events[:3] == ["EHLO", "STARTTLS", "EHLO+tls"]
    assert "AUTH+tls" in events and "AUTH" not in events
    assert events.index("STARTTLS") < events.index("AUTH+tls")
    assert server.messages[0].over_tls and server.messages[0].user == USERNAME


def test_implicit_tls_is_used_when_use_ssl_is_set(smtp_server, trust_certificate):
    server = smtp_server(credentials=(USERNAME, PASSWORD), implicit_tls=True,
                         offer_starttls=False)
    make(server.port, use_ssl=True).notify(NOTE)
    assert "STARTTLS" not in server.events
    assert server.messages[0].over_tls and server.messages[0].user == USERNAME


def test_refuses_to_continue_when_the_server_does_not_offer_starttls(smtp_server):
    server = smtp_server(credentials=(USERNAME, PASSWORD), offer_starttls=False)
    with pytest.raises(ProviderError, match="does not offer STARTTLS"):
        make(server.port).notify(NOTE)
    assert not any(event.startswith("AUTH") for event in server.events)
    assert server.messages == []


def test_an_untrusted_certificate_is_refused(smtp_server):
    server = smtp_server(credentials=(USERNAME, PASSWORD))
    with pytest.raises(ProviderError, match="certificate rejected"):
        make(server.port).notify(NOTE)
    assert server.messages == []


def test_a_wrong_password_is_an_auth_error_that_never_shows_the_password(server, caplog):
    caplog.set_level(logging.DEBUG)
    wrong = "wrong-Pa55-also-secret"
    notifier = make(server.port, password=wrong)
    with pytest.raises(ProviderAuthError, match="rejected the credentials") as caught:
        notifier.notify(NOTE)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    shown = [str(caught.value), repr(caught.value), repr(notifier), caplog.text,
             str(notifier.health_check())]
    assert all(wrong not in text for text in shown)
    assert server.messages == []


def test_the_password_never_appears_in_reprs_or_logs(server, caplog):
    caplog.set_level(logging.DEBUG)
    notifier = make(server.port)
    notifier.notify(NOTE)
    assert PASSWORD not in repr(notifier) + str(notifier.health_check()) + caplog.text


def test_connection_refused_is_a_provider_error(closed_port):
    with pytest.raises(ProviderError, match="ConnectionRefused"):
        make(closed_port).notify(NOTE)


def test_a_silent_server_times_out(silent_port):
    with pytest.raises(ProviderTimeout, match="did not answer"):
        make(silent_port, timeout_seconds=0.2).notify(NOTE)


def test_a_partly_refused_delivery_reaches_the_others_and_is_logged(smtp_server,
                                                                     trust_certificate, caplog):
    server = smtp_server(credentials=(USERNAME, PASSWORD),
                         refuse_recipients=frozenset({"dev@example.com"}))
    make(server.port).notify(NOTE)
    assert server.messages[0].rcpt_to == ["ops@example.com"]
    assert "dev@example.com" in caplog.text


def test_a_fully_refused_delivery_fails(smtp_server, trust_certificate):
    server = smtp_server(credentials=(USERNAME, PASSWORD),
                         refuse_recipients=frozenset({"ops@example.com", "dev@example.com"}))
    with pytest.raises(ProviderError, match="refused every recipient"):
        make(server.port).notify(NOTE)


def test_a_private_host_is_refused_when_the_operator_disallows_it(server, monkeypatch):
    notifier = make(server.port)  # "localhost": resolved, so checked at send time
    monkeypatch.setenv("CODEX32_ALLOW_PRIVATE_URLS", "0")
    with pytest.raises(ConfigInvalid, match="loopback"):
        make(server.port, host="127.0.0.1")
    with pytest.raises(ProviderError, match=r"localhost resolves to 127\.0\.0\.1"):
        notifier.notify(NOTE)
    assert server.events == []


def test_health_check_logs_in_without_sending(server):
    result = make(server.port).health_check()
    assert result.ok, result.detail
    assert "STARTTLS" in result.detail and "logged in" in result.detail
    assert "NOOP+tls" in server.events
    assert server.messages == []


def test_health_check_reports_bad_credentials(server):
    result = make(server.port, password="nope").health_check()
    assert not result.ok and "credentials" in result.detail


@pytest.mark.parametrize(("config", "field"), [
    ({"starttls": False}, "username"),
    ({"to_addresses": []}, "to_addresses"),
    ({"to_addresses": ["ops@example.com\r\nBcc: evil@example.com"]}, "to_addresses"),
    ({"from_address": "not an address"}, "from_address"),
    ({"host": "mail.example.com/x"}, "host"),
    ({"host": "user@mail.example.com"}, "host"),
    ({"host": ""}, "host"),
])
def test_invalid_configuration_is_refused(config, field):
    with pytest.raises(ConfigInvalid) as caught:
        make(25, **config)
    assert field in caught.value.errors


def test_without_username_no_login_is_attempted(smtp_server, trust_certificate):
    server = smtp_server(credentials=(USERNAME, PASSWORD))
    make(server.port, username="").notify(NOTE)
    assert not any(event.startswith("AUTH") for event in server.events)
    assert server.messages[0].user is None


def test_subject_template_replaces_known_fields_only():
    template = "{event} in {workspace_id} ({id}) {event.__class__} {payload}"
    assert render_subject(template, NOTE) == (
        "execution.failed in ws_1 (ntf_9) {event.__class__} {payload}")
    sneaky = Notification("a\r\nBcc: evil@example.com", "ws_1", {})
    assert "\n" not in render_subject("{event}", sneaky)


def test_render_text_flattens_the_payload():
    text = render_text(Notification("bot.created", "ws_1", {"a": {"b": {"c": 1}}, "d": None}))
    assert "a.b.c: 1\nd: null\n" in text
    assert render_text(Notification("bot.created", "ws_1", {})).count("(no payload)") == 1


def test_register_notifiers_registers_the_class_through_pluggy():
    assert registered_classes(codex32_email) == {"notifier": [EmailNotifier]}
    assert EmailNotifier.id == "email" and EmailNotifier.secrets == ("password",)


def test_the_distribution_declares_its_entry_point():
    names = {ep.name: ep.value for ep in entry_points(group="codex32")}
    assert names.get("email") == "codex32_email"

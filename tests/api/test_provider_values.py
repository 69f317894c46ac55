"""Provider configurations a hostile tenant saves: a value the plugin cannot use is a 422 when
it is saved, never a configuration that fails at every later send."""

from __future__ import annotations

import pytest

EMAIL = {"host": "mail.example.com", "from_address": "ops@example.com",
         "to_addresses": ["team@example.com"]}


@pytest.mark.parametrize("name", ["relay.example.com\r\nRCPT TO:<victim@example.com>",
                                  "relay\nRSET", "two words", "a" * 254])
def test_an_ehlo_name_that_smtp_cannot_send_is_refused_when_saved(tenant, name):
    response = tenant.call("PUT", "/api/v1/providers/notifier/email", json={
        "config": {**EMAIL, "local_hostname": name}, "secrets": {}})
    assert response.status_code == 422, response.json
    assert "local_hostname" in response.json["errors"]["json"]["config"]
    assert tenant.call("DELETE", "/api/v1/providers/notifier/email").status_code == 404


def test_an_ehlo_name_or_address_literal_is_kept(tenant):
    for name in ("relay.example.com", "[192.0.2.1]"):
        response = tenant.call("PUT", "/api/v1/providers/notifier/email", json={
            "config": {**EMAIL, "local_hostname": name}, "secrets": {}})
        assert response.status_code in (200, 201), response.json


@pytest.mark.parametrize("url", ["https://127.0.0.1/services/T/B/Xs3cr3t",
                                 "https://169.254.169.254/services/T/B/Xs3cr3t",
                                 "https://[::ffff:a00:1]/services/T/B/Xs3cr3t",
                                 "http://hooks.slack.com/services/T/B/Xs3cr3t",
                                 "not a url Xs3cr3t"])
def test_a_slack_webhook_url_the_platform_must_not_call_is_refused_when_saved(
        make_app, monkeypatch, url):
    """The URL is a secret, yet still a target the tenant chooses: checked like a config URL."""
    from tests.conftest import sign_up

    monkeypatch.setenv("CODEX32_ALLOW_PRIVATE_URLS", "0")
    strict = sign_up(make_app(allow_private_urls=False).test_client())
    response = strict.call("PUT", "/api/v1/providers/notifier/slack", json={
        "config": {}, "secrets": {"webhook_url": url}})
    assert response.status_code == 422, response.json
    assert "Xs3cr3t" not in str(response.json)
    assert strict.call("DELETE", "/api/v1/providers/notifier/slack").status_code == 404


def test_a_public_https_slack_webhook_url_is_kept(make_app, monkeypatch):
    from tests.conftest import sign_up

    monkeypatch.setenv("CODEX32_ALLOW_PRIVATE_URLS", "0")
    strict = sign_up(make_app(allow_private_urls=False).test_client())
    response = strict.call("PUT", "/api/v1/providers/notifier/slack", json={
        "config": {}, "secrets": {"webhook_url": "https://hooks.slack.com/services/T/B/x"}})
    assert response.status_code == 200, response.json


@pytest.mark.parametrize("kind", ["llm", "embedder"])
def test_a_model_name_of_any_length_is_refused_when_saved(tenant, kind):
    response = tenant.call("PUT", f"/api/v1/providers/{kind}/openai", json={
        "config": {"model": "m" * 100_000}, "secrets": {}})
    assert response.status_code == 422, response.json
    assert "model" in response.json["errors"]["json"]["config"]
    assert tenant.call("DELETE", f"/api/v1/providers/{kind}/openai").status_code == 404

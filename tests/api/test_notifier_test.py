"""A notifier's ``POST /providers/notifier/{id}/test`` sends a real test notification through
the workspace's configuration, to a local webhook receiver."""

from __future__ import annotations

import json
import logging

from codex32_webhook import verify_signature

from codex32.testing.receivers import serve

SIGNING_SECRET = "whsec-notifier-test-0123456789"


def _configure(tenant, url: str):
    response = tenant.call("PUT", "/api/v1/providers/notifier/webhook", json={
        "config": {"url": url, "max_attempts": 1, "timeout_seconds": 2},
        "secrets": {"signing_secret": SIGNING_SECRET}})
    assert response.status_code == 200, response.json


def test_testing_a_webhook_notifier_delivers_a_signed_test_notification(tenant):
    with serve("/hook") as receiver:
        _configure(tenant, receiver.url)
        try:
            response = tenant.call("POST", "/api/v1/providers/notifier/webhook/test")
        finally:
            tenant.call("DELETE", "/api/v1/providers/notifier/webhook")
    assert response.status_code == 200, response.json
    assert response.json["ok"] is True
    assert response.json["detail"] == "test notification delivered"
    [received] = receiver.requests
    body = json.loads(received.body)
    assert body["event"] == "notifier.test" and body["workspace_id"] == tenant.workspace_id
    assert "test notification" in body["payload"]["message"]
    assert verify_signature(SIGNING_SECRET, received.headers["X-Codex32-Signature"],
                            received.body)


def test_testing_a_failing_webhook_notifier_says_why_without_its_secret(tenant):
    with serve("/hook/private-path") as receiver:
        receiver.answer(500, b"internal details")
        _configure(tenant, receiver.url)
        try:
            response = tenant.call("POST", "/api/v1/providers/notifier/webhook/test")
        finally:
            tenant.call("DELETE", "/api/v1/providers/notifier/webhook")
    assert response.status_code == 200
    assert response.json["ok"] is False
    assert "answered 500" in response.json["detail"]
    for leak in (SIGNING_SECRET, "private-path", "internal details"):
        assert leak not in response.get_data(as_text=True)
    assert len(receiver.requests) == 1


def test_testing_the_log_notifier_writes_a_test_notification(tenant, caplog):
    caplog.set_level(logging.INFO, logger="codex32.notify")
    response = tenant.call("POST", "/api/v1/providers/notifier/log/test")
    assert response.json["ok"] is True
    lines = [r.getMessage() for r in caplog.records if r.name == "codex32.notify"]
    assert any("notifier.test" in line and tenant.workspace_id in line for line in lines)

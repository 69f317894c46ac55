"""Notification deliveries through the API: a real worker delivers to local webhook receivers
and records each notifier's status, attempts and last error per execution."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from codex32.errors import Invalid
from codex32.plugins.errors import ProviderError
from codex32.services import deliveries
from codex32.testing.receivers import serve
from tests.conftest import sign_up
from tests.execution.conftest import TRIVIAL, bot_with, finished, run, wait_for

SIGNING_SECRET = "whsec-delivery-0123456789"

# xdist (make test: --dist loadgroup) runs this module on one worker, so its module-scoped
# worker processes start once per run.
pytestmark = pytest.mark.xdist_group("deliveries")


@pytest.fixture(scope="module")
def worker(start_worker):
    # NOTIFICATION_MAX_ATTEMPTS=3 (tests.execution.conftest.worker_env).
    return start_worker(WORKER_CONCURRENCY=1)


@pytest.fixture()
def webhook(tenant) -> Iterator[object]:
    """Configure the tenant's webhook notifier for a receiver; removed afterwards."""

    def configure(url: str) -> None:
        response = tenant.call("PUT", "/api/v1/providers/notifier/webhook", json={
            "config": {"url": url, "max_attempts": 1, "timeout_seconds": 2},
            "secrets": {"signing_secret": SIGNING_SECRET}})
        assert response.status_code == 200, response.json

    yield configure
    tenant.call("DELETE", "/api/v1/providers/notifier/webhook")


def _deliveries(tenant, execution_id: str) -> list[dict]:
    response = tenant.call("GET", f"/api/v1/executions/{execution_id}/deliveries")
    assert response.status_code == 200, response.json
    return response.json


def _settled(tenant, execution_id: str, count: int) -> list[dict]:
    """Poll until ``count`` deliveries exist and none is pending."""
    def done() -> list[dict] | None:
        found = _deliveries(tenant, execution_id)
        return found if len(found) == count and all(
            d["status"] != "pending" for d in found) else None

    return wait_for(done, timeout=20, message="the deliveries to settle")


def test_delivered_notifications_show_per_notifier(tenant, worker, webhook):
    with serve("/hook/private-path") as receiver:
        webhook(receiver.url)
        bot = bot_with(tenant, TRIVIAL, notifications=[
            {"notifier": "webhook", "on": ["succeeded"]}, {"notifier": "log", "on": ["succeeded"]}])
        done = finished(tenant, run(tenant, bot["id"])["id"])
        deliveries = _settled(tenant, done["id"], 2)
    assert len(receiver.requests) == 1
    by_notifier = {d["notifier"]: d for d in deliveries}
    assert set(by_notifier) == {"webhook", "log"}
    for delivery in deliveries:
        assert delivery["status"] == "delivered" and delivery["attempts"] == 1
        assert delivery["event"] == "execution.succeeded"
        assert delivery["execution_id"] == done["id"] and delivery["last_error"] is None
        assert delivery["delivered_at"] >= delivery["created_at"]


def test_a_failing_notifier_shows_failed_with_its_attempts_and_last_error(tenant, worker,
                                                                          webhook):
    with serve("/hook/private-path") as receiver:
        for _ in range(3):
            receiver.answer(500, b"upstream says: internal details")
        webhook(receiver.url)
        bot = bot_with(tenant, TRIVIAL, notifications=[{"notifier": "webhook",
                                                         "on": ["succeeded"]}])
        done = finished(tenant, run(tenant, bot["id"])["id"])
        # After the first attempt, the error so far (pending while retries remain).
        pending = wait_for(lambda: [d for d in _deliveries(tenant, done["id"])
                                    if d["attempts"] >= 1], message="the first attempt")
        assert "answered 500" in pending[0]["last_error"]
        [delivery] = _settled(tenant, done["id"], 1)
    assert len(receiver.requests) == 3
    assert delivery["status"] == "failed" and delivery["attempts"] == 3
    assert delivery["delivered_at"] is None
    assert "answered 500" in delivery["last_error"]
    shown = json.dumps(delivery)
    for leak in (SIGNING_SECRET, "private-path", "internal details"):
        assert leak not in shown
    assert tenant.call("GET", f"/api/v1/executions/{done['id']}").json["status"] == "succeeded"


def test_a_notifier_that_cannot_be_built_fails_at_once_with_the_reason(tenant, worker):
    bot = bot_with(tenant, TRIVIAL, notifications=[{"notifier": "webhook",
                                                     "on": ["succeeded"]}])
    # The webhook notifier is not configured: it has no url, so it refuses to be built.
    done = finished(tenant, run(tenant, bot["id"])["id"])
    [delivery] = _settled(tenant, done["id"], 1)
    assert delivery["status"] == "failed" and delivery["attempts"] == 1
    assert "url" in delivery["last_error"]


def test_another_workspaces_deliveries_answer_404(tenant, worker):
    bot = bot_with(tenant, TRIVIAL, notifications=[{"notifier": "log", "on": ["succeeded"]}])
    done = finished(tenant, run(tenant, bot["id"])["id"])
    _settled(tenant, done["id"], 1)
    stranger = sign_up(tenant.client)
    foreign = stranger.call("GET", f"/api/v1/executions/{done['id']}/deliveries")
    missing = stranger.call("GET", "/api/v1/executions/00000000-0000-0000-0000-000000000000"
                            "/deliveries")
    assert foreign.status_code == missing.status_code == 404
    assert foreign.json == missing.json


def test_a_recorded_error_never_carries_the_notifiers_secrets():
    leaky = ProviderError("POST https://hooks.example/T0KEN-abcdef failed: bad token T0KEN-abcdef")
    # The short value first: skipped (it would blank ordinary words), and no secret that
    # contains another ("T0KEN" inside "T0KEN-abcdef") leaves a piece behind.
    shown = deliveries.describe(leaky, ["ad", "T0KEN", "T0KEN-abcdef", None])
    assert "T0KEN-abcdef" not in shown
    assert shown == ("ProviderError: POST https://hooks.example/[redacted] failed: bad token "
                     "[redacted]")
    # Unexpected exceptions show their type only; platform errors their message; all are cut.
    assert deliveries.describe(ValueError("T0KEN-abcdef")) == "unexpected error (ValueError)"
    assert deliveries.describe(Invalid("webhook: needs a url")) == "webhook: needs a url"
    assert len(deliveries.describe(ProviderError("x" * 5000))) <= deliveries.MAX_ERROR_CHARS

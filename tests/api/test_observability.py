"""Request ids, the JSON request log line, /metrics and /health as operators see them."""

from __future__ import annotations

import io
import json
import logging

import pytest

from codex32.observability.logging import JsonFormatter, LogContextFilter


@pytest.fixture()
def request_lines():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(LogContextFilter())
    logger = logging.getLogger("codex32.request")
    previous = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    logger.removeHandler(handler)
    logger.setLevel(previous)


def test_request_id_is_echoed_or_generated(tenant):
    given = tenant.call("GET", "/api/v1/bots", headers={"X-Request-ID": "trace-123"})
    assert given.headers["X-Request-ID"] == "trace-123"
    generated = tenant.call("GET", "/api/v1/bots").headers["X-Request-ID"]
    assert len(generated) == 32


def test_every_answer_says_the_apps_time_in_server_timing(client, tenant):
    for answer in (tenant.call("GET", "/api/v1/bots"), client.get("/api/v1/bots")):
        name, _, duration = answer.headers["Server-Timing"].partition(";dur=")
        assert name == "app" and float(duration) >= 0  # a 401 is timed as well


def test_each_request_logs_one_json_line_with_its_context(tenant, request_lines):
    bot = tenant.create_bot("logged")
    tenant.call("GET", f"/api/v1/bots/{bot['id']}", headers={"X-Request-ID": "req-42"})
    line = next(entry for entry in request_lines() if entry.get("request_id") == "req-42")
    assert line["workspace_id"] == tenant.workspace_id
    assert line["user_id"] == tenant.user_id
    assert line["method"] == "GET" and line["status"] == 200
    assert line["path"] == "/api/v1/bots/<uuid:bot_id>"
    assert line["latency_ms"] >= 0


def test_metrics_use_route_templates_never_raw_paths(client, tenant):
    bot = tenant.create_bot("measured")
    tenant.call("GET", f"/api/v1/bots/{bot['id']}")
    text = client.get("/metrics").get_data(as_text=True)
    assert 'url_rule="/api/v1/bots/<uuid:bot_id>"' in text
    assert bot["id"] not in text and tenant.user_id not in text
    assert 'api_calls_total{endpoint="/api/v1/bots/<uuid:bot_id>"}' in text


def test_metrics_can_require_a_token(make_app):
    app = make_app(metrics_token="scrape-me")
    client = app.test_client()
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer scrape-me"}
                      ).status_code == 200


def test_the_detailed_health_wants_the_metrics_token_when_one_is_set(make_app):
    # /health names the sandbox's isolation, broken plugins with their versions and the
    # queue's backlog: an operator's view, behind the same token as /metrics once one is set.
    # The probes' /health/alive and /health/ready stay open (kubelets send no token).
    client = make_app(metrics_token="scrape-me").test_client()

    assert client.get("/health").status_code == 401
    assert client.get("/health", headers={"Authorization": "Bearer scrape-me"}
                      ).status_code in (200, 503)
    assert client.get("/health/alive").status_code == 200
    assert client.get("/health/ready").status_code == 200


def test_a_metrics_token_that_is_not_ascii_is_refused_not_an_error(make_app):
    # hmac.compare_digest raises TypeError on non-ASCII text: a scraper or a prober sending
    # one must get the 401 any wrong token gets, not a 500.
    client = make_app(metrics_token="scrape-me").test_client()
    response = client.get("/metrics", headers={"Authorization": "Bearer scr\u00e4pe-me"})
    assert response.status_code == 401, response.get_data(as_text=True)


def test_a_platform_token_that_is_not_ascii_is_refused_not_an_error(make_app):
    # The same comparison guards sign-up, a public endpoint, in token mode.
    client = make_app(signup_mode="token", platform_token="p" * 32).test_client()
    response = client.post("/api/v1/workspaces", headers={"X-Platform-Token": "\u00e4" * 32},
                           json={"name": "Acme", "admin_email": "a@example.com",
                                 "admin_password": "a long passphrase"})
    assert response.status_code == 403, response.get_data(as_text=True)


def test_health_reports_each_dependency(client):
    body = client.get("/health").json
    assert body["checks"]["database"]["ok"] is True
    assert client.get("/health/alive").json == {"status": "alive"}
    ready = client.get("/health/ready")
    assert ready.status_code == 200 and ready.json["checks"]["database"]["migrations_at_head"]


def test_readiness_is_503_when_migrations_are_behind(app, client, superuser):
    superuser.execute("UPDATE alembic_version SET version_num = '0001'")
    try:
        response = client.get("/health/ready")
        assert response.status_code == 503
        assert "db upgrade" in response.json["checks"]["database"]["error"]
    finally:
        from codex32.db.migrate import head_revision

        superuser.execute("UPDATE alembic_version SET version_num = %s", (head_revision(),))


def test_health_checks_vector_stores_in_use_and_never_starts_one(app, client, tenant):
    from codex32.db import db, tenancy
    from codex32.runtime import of as runtime_of
    from codex32.services import provider_instances

    body = client.get("/health").json
    assert body["checks"]["providers"]["ok"] is True
    assert "vector_store" not in body["checks"]
    tenant.call("PUT", "/api/v1/providers/vector_store/milvus",
                json={"config": {"uri": "http://127.0.0.1:9", "timeout_seconds": 1}})
    with app.app_context():
        tenancy.bind(db.session, tenant.workspace_id)
        provider_instances.build(db.session, tenant.workspace_id, "vector_store", "milvus")
        tenancy.unbind()
        db.session.rollback()
    response = client.get("/health")
    assert response.status_code == 503
    assert response.json["checks"]["vector_store"]["stores"]["milvus"]["ok"] is False
    runtime_of(app).instances.clear()


def test_the_request_log_never_holds_an_invitation_token(client, tenant, request_lines):
    """The accept route takes its token in the path. A refused accept (a weak password, a
    throttle) leaves the invitation open, so a token in the log let whoever reads the logs
    accept it with a password of their own: the request line names the route instead."""
    from tests.conftest import MAILBOX

    email = "logged-invitee@example.com"
    assert tenant.call("POST", "/api/v1/invitations",
                       json={"email": email, "role": "user"}).status_code == 201
    token = MAILBOX.token_for(email)

    refused = client.post(f"/api/v1/invitations/{token}/accept", json={"password": "short"})

    assert refused.status_code == 422
    lines = [line for line in request_lines() if line.get("method") == "POST"]
    assert any(line.get("status") == 422 for line in lines)
    assert token not in json.dumps(lines)

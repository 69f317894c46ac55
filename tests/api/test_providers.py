"""Per-workspace providers: schemas, validation, encrypted secrets, isolation, health checks,
instance caching by config version, and templates."""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from codex32.crypto import SecretBox, SecretsUndecryptable
from codex32.plugins import calls
from codex32.runtime import of as runtime_of
from codex32.services import provider_instances
from codex32.testing.fake_openai import FakeOpenAI
from tests.execution.sandbox_support import poll_until

SECRET = "sk-test-VERY-SECRET-0123456789"


@pytest.fixture()
def fake_openai():
    with FakeOpenAI(api_key=SECRET, models=("gpt-test", "gpt-2", "gpt-new")) as server:
        yield server


def _openai(tenant, url, key=SECRET):
    return tenant.call("PUT", "/api/v1/providers/llm/openai", json={
        "config": {"base_url": url, "model": "gpt-test", "timeout": 5},
        "secrets": {"api_key": key}})


def test_catalogue_lists_every_kind_with_schemas_and_defaults(tenant):
    kinds = {k["kind"]: k for k in tenant.call("GET", "/api/v1/providers").json}
    assert set(kinds) == {"llm", "embedder", "vector_store", "code_generator", "notifier",
                          "executor"}
    assert kinds["llm"]["default"] == "builtin"
    assert kinds["embedder"]["default"] == "hashing"
    openai = {p["id"]: p for p in kinds["llm"]["plugins"]}["openai"]
    assert openai["secrets"] == ["api_key"]
    assert openai["config_schema"]["type"] == "object"
    assert openai["configured"] is None


def test_put_validates_against_the_plugin_schema(tenant):
    response = tenant.call("PUT", "/api/v1/providers/embedder/hashing",
                           json={"config": {"dimension": 3}})
    assert response.status_code == 422
    assert "dimension" in response.json["errors"]["json"]["config"]
    unknown = tenant.call("PUT", "/api/v1/providers/embedder/hashing",
                          json={"config": {}, "secrets": {"password": "x"}})
    assert unknown.status_code == 422
    assert tenant.call("PUT", "/api/v1/providers/embedder/nope", json={}).status_code == 404
    assert tenant.call("PUT", "/api/v1/providers/gizmo/x", json={}).status_code == 404


def test_secrets_are_encrypted_at_rest_and_masked_everywhere(tenant, superuser, fake_openai,
                                                             caplog):
    caplog.set_level(logging.DEBUG)
    response = _openai(tenant, fake_openai.url)
    assert response.status_code == 200, response.json
    assert response.json["secrets"] == {"api_key": "********"}
    stored = superuser.execute(
        "SELECT secrets, config::text FROM provider_configs WHERE workspace_id = %s",
        (tenant.workspace_id,)).fetchone()
    assert SECRET not in stored[0] and SECRET not in stored[1]
    listing = tenant.call("GET", "/api/v1/providers").get_data(as_text=True)
    audit = tenant.call("GET", "/api/v1/audit-logs?action=provider.update").get_data(as_text=True)
    assert SECRET not in listing and SECRET not in audit
    tested = tenant.call("POST", "/api/v1/providers/llm/openai/test")
    assert tested.json["ok"] is True
    assert SECRET not in caplog.text and SECRET not in tested.get_data(as_text=True)


def test_health_check_reports_rejected_credentials(tenant, fake_openai):
    _openai(tenant, fake_openai.url, key="sk-wrong")
    result = tenant.call("POST", "/api/v1/providers/llm/openai/test").json
    assert result["ok"] is False
    assert "credentials" in result["detail"] and "sk-wrong" not in result["detail"]


def test_omitted_secrets_are_kept_and_null_removes_them(tenant, fake_openai):
    _openai(tenant, fake_openai.url)
    kept = tenant.call("PUT", "/api/v1/providers/llm/openai", json={
        "config": {"base_url": fake_openai.url, "model": "gpt-2"}})
    assert kept.json["secrets"] == {"api_key": "********"} and kept.json["version"] == 2
    removed = tenant.call("PUT", "/api/v1/providers/llm/openai", json={
        "config": {"base_url": fake_openai.url}, "secrets": {"api_key": None}})
    assert removed.json["secrets"] == {}


def test_another_workspace_cannot_see_or_use_the_configuration(tenant, other_tenant,
                                                              fake_openai):
    _openai(tenant, fake_openai.url)
    theirs = {p["id"]: p for k in other_tenant.call("GET", "/api/v1/providers").json
              for p in k["plugins"] if k["kind"] == "llm"}
    assert theirs["openai"]["configured"] is None
    # Without A's key and base URL, B's openai instance cannot reach A's account.
    result = other_tenant.call("POST", "/api/v1/providers/llm/openai/test").json
    assert result["ok"] is False
    assert other_tenant.call("DELETE", "/api/v1/providers/llm/openai").status_code == 404
    assert tenant.call("POST", "/api/v1/providers/llm/openai/test").json["ok"] is True


def test_a_config_change_takes_effect_on_the_next_build(app, tenant, fake_openai):
    from codex32.db import db, tenancy

    _openai(tenant, fake_openai.url)
    with app.app_context():
        tenancy.bind(db.session, tenant.workspace_id)
        first = provider_instances.build(db.session, tenant.workspace_id, "llm", "openai")
        again = provider_instances.build(db.session, tenant.workspace_id, "llm", "openai")
        db.session.rollback()
        tenant.call("PUT", "/api/v1/providers/llm/openai", json={
            "config": {"base_url": fake_openai.url, "model": "gpt-new"}})
        tenancy.bind(db.session, tenant.workspace_id)
        changed = provider_instances.build(db.session, tenant.workspace_id, "llm", "openai")
        tenancy.unbind()
        db.session.rollback()
    assert first is again
    assert changed is not first and changed.config["model"] == "gpt-new"


def test_workspace_defaults_must_name_installed_plugins(tenant):
    bad = tenant.call("PATCH", "/api/v1/workspace",
                      json={"settings": {"defaults": {"llm": "gpt-imaginary"}}})
    assert bad.status_code == 422
    good = tenant.call("PATCH", "/api/v1/workspace", json={
        "settings": {"defaults": {"llm": "openai"}, "llm_fallback": ["openai", "builtin"]}})
    assert good.status_code == 200
    kinds = {k["kind"]: k for k in tenant.call("GET", "/api/v1/providers").json}
    assert kinds["llm"]["default"] == "openai"
    assert kinds["llm"]["fallback"] == ["openai", "builtin"]


def test_delete_forgets_the_configuration(tenant):
    tenant.call("PUT", "/api/v1/providers/embedder/hashing", json={"config": {"dimension": 32}})
    assert tenant.call("DELETE", "/api/v1/providers/embedder/hashing").status_code == 204
    assert tenant.call("DELETE", "/api/v1/providers/embedder/hashing").status_code == 404


def test_key_rotation_keeps_old_secrets_readable():
    old = SecretBox(["old-key"])
    token = old.seal({"api_key": SECRET})
    rotated = SecretBox(["new-key", "old-key"])
    assert rotated.open(token) == {"api_key": SECRET}
    fresh = rotated.seal({"api_key": SECRET})
    assert SecretBox(["new-key"]).open(fresh) == {"api_key": SECRET}
    assert SecretBox(["new-key"]).open(rotated.rotate(token)) == {"api_key": SECRET}
    with pytest.raises(SecretsUndecryptable):
        SecretBox(["other"]).open(token)
    assert "key" not in repr(rotated)


def test_templates_are_listed_and_make_bots(tenant):
    templates = {t["id"]: t for t in tenant.call("GET", "/api/v1/templates").json}
    assert {"http_health_check", "feed_digest", "csv_report", "webhook_relay",
            "scheduled_cleanup"} <= set(templates)
    assert templates["http_health_check"]["generator"] == "template"
    created = tenant.call("POST", "/api/v1/bots", json={
        "name": "site-check", "template": "http_health_check",
        "parameters": {"url": "https://example.com/health"}})
    assert created.status_code == 201, created.json
    version = tenant.call("GET", f"/api/v1/bots/{created.json['id']}/versions/1").json
    assert "def main(event" in version["code"] and "https://example.com/health" in version["code"]
    assert "README.md" in version["files"]


def test_template_errors_are_clear(tenant):
    bad = tenant.call("POST", "/api/v1/bots", json={
        "name": "bad-params", "template": "http_health_check", "parameters": {"url": 5}})
    assert bad.status_code == 422 and bad.json["errors"]
    missing = tenant.call("POST", "/api/v1/bots", json={"name": "x", "template": "nope"})
    assert missing.status_code == 404
    both = tenant.call("POST", "/api/v1/bots", json={
        "name": "x", "template": "csv_report", "code": "x = 1"})
    assert both.status_code == 422
    assert tenant.call("GET", "/api/v1/bots?q=bad-params").json["total"] == 0


@pytest.mark.parametrize("url", ["http://127.0.0.1:8080/v1", "http://169.254.169.254/",
                                 "http://10.0.0.5/v1", "http://user:pw@example.com/v1"])
def test_private_base_urls_are_refused_unless_the_operator_allows(make_app, url):
    from tests.conftest import sign_up

    strict = sign_up(make_app(allow_private_urls=False).test_client())
    response = strict.call("PUT", "/api/v1/providers/llm/openai", json={
        "config": {"base_url": url}, "secrets": {"api_key": "sk-x"}})
    assert response.status_code == 422
    assert "base_url" in response.json["errors"]["json"]["config"]


def test_a_localhost_base_url_is_refused_when_the_test_connects_in_production(
        make_app, monkeypatch, fake_openai):
    """``localhost`` is a name, not an IP: it passes the save and is refused at connect time."""
    from tests.conftest import sign_up

    monkeypatch.setenv("CODEX32_ALLOW_PRIVATE_URLS", "0")
    strict = sign_up(make_app(allow_private_urls=False).test_client())
    port = fake_openai.origin.rsplit(":", 1)[1]
    assert _openai(strict, f"http://localhost:{port}/v1").status_code == 200
    result = strict.call("POST", "/api/v1/providers/llm/openai/test").json
    assert result["ok"] is False and "private network targets are not allowed" in result["detail"]
    assert fake_openai.requests == []


def test_a_provider_test_never_echoes_what_the_server_answered(tenant, fake_openai):
    _openai(tenant, fake_openai.url)
    fake_openai.enqueue(500, {"error": {"message": "postgres://admin:hunter2@db internal",
                                        "code": "hunter2"}})
    result = tenant.call("POST", "/api/v1/providers/llm/openai/test").json
    assert result["ok"] is False and "500" in result["detail"]
    assert "hunter2" not in result["detail"] and "internal" not in result["detail"]


def test_a_configuration_deleted_and_saved_again_builds_with_the_new_secrets(
        app, tenant, fake_openai):
    """The version restarts at 1 after a delete; the instance must still be the new one."""
    from codex32.db import db, tenancy

    def build():
        with app.app_context():
            tenancy.bind(db.session, tenant.workspace_id)
            instance = provider_instances.build(db.session, tenant.workspace_id, "llm", "openai")
            tenancy.unbind()
            db.session.rollback()
        return instance

    assert _openai(tenant, fake_openai.url, key="sk-first-S1").json["version"] == 1
    first = build()
    assert first.secret("api_key") == "sk-first-S1"
    assert tenant.call("DELETE", "/api/v1/providers/llm/openai").status_code == 204
    saved = tenant.call("PUT", "/api/v1/providers/llm/openai", json={
        "config": {"base_url": fake_openai.url, "model": "gpt-new"},
        "secrets": {"api_key": "sk-second-S2"}})
    assert saved.json["version"] == 1
    second = build()
    assert second is not first
    assert second.secret("api_key") == "sk-second-S2" and second.config["model"] == "gpt-new"


class GatedOpenAI(FakeOpenAI):
    """A fake OpenAI that holds every answer until the test opens the gate (a hung provider)."""

    def __init__(self, **options):
        super().__init__(**options)
        self.gate = threading.Event()

    def route(self, request):
        self.gate.wait(10)
        return super().route(request)


def test_a_workspace_past_its_bound_on_provider_calls_gets_429_and_others_are_not_blocked(
        app, tenant, other_tenant, fake_openai):
    bound = runtime_of(app).calls_per_workspace
    with GatedOpenAI(api_key=SECRET, models=("gpt-test",)) as slow, \
            ThreadPoolExecutor(max_workers=bound) as callers:
        try:
            _openai(tenant, slow.url)
            _openai(other_tenant, fake_openai.url)
            pending = [callers.submit(app.test_client().post, "/api/v1/providers/llm/openai/test",
                                      headers=tenant.headers) for _ in range(bound)]
            assert poll_until(lambda: calls.in_flight(workspace_id=tenant.workspace_id) == bound)
            started = time.monotonic()
            refused = tenant.call("POST", "/api/v1/providers/llm/openai/test")
            assert refused.status_code == 429, refused.json
            assert "too many concurrent provider calls" in refused.json["message"]
            assert int(refused.headers["Retry-After"]) >= 1
            theirs = other_tenant.call("POST", "/api/v1/providers/llm/openai/test")
            assert theirs.status_code == 200 and theirs.json["ok"] is True
            assert other_tenant.call("GET", "/api/v1/bots").status_code == 200
            assert time.monotonic() - started < 2.0
            assert not any(call.done() for call in pending)
        finally:
            slow.gate.set()
        assert all(call.result(10).json["ok"] is True for call in pending)
    assert poll_until(lambda: calls.in_flight(workspace_id=tenant.workspace_id) == 0)

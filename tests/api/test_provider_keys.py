"""Provider secrets under CODEX32_SECRETS_KEYS: rotation keeps old rows readable and seals new
ones with the first key; a configuration no configured key opens fails closed with a clear
error naming the setting (never a 500), and can still be replaced or deleted."""

from __future__ import annotations

import pytest

from codex32.testing.fake_openai import FakeOpenAI

OLD, NEW, OTHER = "old-key-" + "a" * 36, "new-key-" + "b" * 36, "other-key-" + "c" * 34
API_KEY = "sk-keys-c0dex32-LEAKCHECK-5e6f"


def _call(app, tenant, method, path, **kwargs):
    return app.test_client().open(path, method=method, headers=tenant.headers, **kwargs)


@pytest.fixture()
def server():
    with FakeOpenAI(api_key=API_KEY) as fake:
        yield fake


@pytest.fixture()
def saved(make_app, tenant, server):
    """The tenant's openai configuration, sealed under OLD; deleted after the test (the
    database is shared: `codex32 secrets rotate` refuses while a row opens with no key it is
    given, tests/cli/test_backup_and_secrets.py)."""
    app = make_app(secrets_keys=[OLD])
    response = _call(app, tenant, "PUT", "/api/v1/providers/llm/openai", json={
        "config": {"base_url": server.url, "timeout": 2}, "secrets": {"api_key": API_KEY}})
    assert response.status_code in (200, 201), response.json
    yield tenant
    gone = _call(app, tenant, "DELETE", "/api/v1/providers/llm/openai")
    assert gone.status_code in (204, 404), gone.json


CHAT = {"messages": [{"role": "user", "content": "hi"}], "model": "openai/gpt-4o-mini"}


def test_a_rotated_key_list_still_opens_old_rows(make_app, saved):
    app = make_app(secrets_keys=[NEW, OLD])

    assert _call(app, saved, "POST", "/api/v1/llm/chat", json=CHAT).status_code == 200
    tested = _call(app, saved, "POST", "/api/v1/providers/llm/openai/test").json
    assert tested["ok"], tested


def test_a_configuration_no_key_opens_fails_closed_with_a_clear_error(make_app, saved):
    app = make_app(secrets_keys=[OTHER])

    for method, path, body in (("POST", "/api/v1/llm/chat", CHAT),
                               ("POST", "/api/v1/providers/llm/openai/test", None),
                               ("PUT", "/api/v1/providers/llm/openai",
                                {"config": {"timeout": 3}})):
        response = _call(app, saved, method, path, json=body)
        text = response.get_data(as_text=True)
        assert response.status_code != 500, (method, path, text)
        assert "CODEX32_SECRETS_KEYS" in text, (method, path, text)
        assert API_KEY not in text
    listed = _call(app, saved, "GET", "/api/v1/providers")
    assert listed.status_code == 200, listed.json


def test_a_configuration_no_key_opens_can_be_replaced_or_deleted(make_app, saved, server):
    app = make_app(secrets_keys=[OTHER])

    replaced = _call(app, saved, "PUT", "/api/v1/providers/llm/openai", json={
        "config": {"base_url": server.url}, "secrets": {"api_key": API_KEY}})
    assert replaced.status_code == 200, replaced.json
    assert _call(app, saved, "POST", "/api/v1/llm/chat", json=CHAT).status_code == 200
    assert _call(app, saved, "DELETE", "/api/v1/providers/llm/openai").status_code == 204

"""Fixtures of the gateway's tests: the real SDKs against local fakes, a workspace whose
route goes openai → anthropic, a direct call into the gateway as a service would, and the
real `openai` SDK against the app served on 127.0.0.1."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import openai
import psycopg
import pytest

from codex32.db import db, tenancy
from codex32.plugins.interfaces import ChatRequest, Message
from codex32.runtime import background
from codex32.services import gateway
from codex32.testing.fake_anthropic import FakeAnthropic
from codex32.testing.fake_openai import FakeOpenAI
from tests.conftest import serving


def ask(text: str = "Describe a bot that checks a website", **options: Any) -> ChatRequest:
    """A one-message chat request."""
    options.setdefault("timeout", 5)
    return ChatRequest(messages=(Message("user", text),), **options)


@pytest.fixture()
def servers():
    with FakeOpenAI(api_key="sk-o") as openai_server, FakeAnthropic(api_key="sk-a") as anthropic:
        yield openai_server, anthropic


def configure(tenant, servers, *, llm: dict[str, Any] | None = None,
              timeout: float = 2) -> None:
    openai_server, anthropic = servers
    for provider, server, key in (("openai", openai_server, "sk-o"),
                                  ("anthropic", anthropic, "sk-a")):
        response = tenant.call("PUT", f"/api/v1/providers/llm/{provider}", json={
            "config": {"base_url": server.url, "timeout": timeout},
            "secrets": {"api_key": key}})
        assert response.status_code in (200, 201), response.json
    settings: dict[str, Any] = {"llm_fallback": ["openai", "anthropic"]}
    if llm is not None:
        settings["llm"] = llm
    response = tenant.call("PATCH", "/api/v1/workspace", json={"settings": settings})
    assert response.status_code == 200, response.json


@pytest.fixture()
def chained(tenant, servers):
    configure(tenant, servers, llm={"aliases": {
        "fast": ["openai/gpt-4o-mini", "anthropic/claude-haiku-4-5"],
        "smart": ["anthropic/claude-sonnet-4-6", "openai/gpt-4o"]}})
    return tenant


def chat(app, tenant, request: ChatRequest | None = None, **options: Any
         ) -> gateway.GatewayResult:
    """Call the gateway as a service does, with the workspace bound."""
    options.setdefault("purpose", "builder")
    with app.app_context():
        tenancy.bind(db.session, tenant.workspace_id)
        try:
            return gateway.chat(tenant.workspace_id, request or ask(), **options)
        finally:
            db.session.remove()
            tenancy.unbind()


@pytest.fixture()
def served(app) -> Iterator[str]:
    """The app on a real socket of 127.0.0.1 (the SDK speaks HTTP)."""
    with serving(app) as port:
        yield f"http://127.0.0.1:{port}/api/v1/openai"


@pytest.fixture()
def sdk(tenant, servers, served) -> openai.OpenAI:
    configure(tenant, servers, llm={"aliases": {"fast": ["openai/gpt-4o-mini",
                                                         "anthropic/claude-haiku-4-5"]}})
    minted = tenant.call("POST", "/api/v1/api-keys", json={"name": "sdk", "role": "api_user"})
    assert minted.status_code == 201, minted.json
    client = openai.OpenAI(api_key=minted.json["key"], base_url=served, max_retries=0,
                           timeout=30)
    yield client
    client.close()


def ledger_rows(database, workspace_id: str, columns: str) -> list[dict]:
    """The workspace's ``llm_usage`` rows (``columns``, comma-separated), oldest first, read
    as the superuser (past row-level security), once this process's work left for after a
    response (an HTTP chat's record) is done."""
    background.wait_idle()
    with psycopg.connect(database.superuser_dsn) as connection:
        cursor = connection.execute(
            f"SELECT {columns} FROM llm_usage WHERE workspace_id = %s ORDER BY created_at",
            (workspace_id,))
        names = [column.name for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def without_usage(monkeypatch, method: str) -> None:
    """Make FakeOpenAI's ``method`` (``chat_completion``, ``embeddings``) answer without a
    ``usage`` object, as some OpenAI-compatible servers do."""
    real = getattr(FakeOpenAI, method)

    def stripped(self, body):
        answer = real(self, body)
        if isinstance(answer.json, dict):
            answer.json.pop("usage", None)
        return answer

    monkeypatch.setattr(FakeOpenAI, method, stripped)


def events(raw: bytes) -> list[tuple[str, dict]]:
    """A Server-Sent Events body as (event, data) pairs."""
    found = []
    for block in raw.decode().strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        found.append((lines["event"], json.loads(lines["data"])))
    return found

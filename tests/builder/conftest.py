"""Fixtures of the builder's tests: a workspace whose model is the fake OpenAI server behind
the real SDK and the gateway, a scripted model on it (:mod:`codex32.testing.scripted_model`),
and builds run as the worker runs them."""

from __future__ import annotations

import time
from typing import Any

import pytest

from codex32 import runtime
from codex32.execution import builder_jobs
from codex32.services import gateway
from codex32.services.builder import pipeline
from codex32.services.builder.report import Build
from codex32.testing.fake_openai import FakeOpenAI
from codex32.testing.scripted_model import ScriptedModel
from tests.conftest import Tenant

SCHEDULED = {"name": "uptime-check", "purpose": "Check https://example.com every morning",
             "trigger": {"type": "schedule", "cron": "0 9 * * *", "timezone": "UTC"},
             "template": "http_health_check", "parameters": {"url": "https://example.com"},
             "outputs": [{"kind": "return"}]}


def turn(spec: dict[str, Any] | None = None, questions: list[dict[str, Any]] | None = None,
         suggestions: list[str] | None = None, message: str = "Here is the bot.") -> dict:
    """What the model answers for one turn (the builder's TURN_SCHEMA)."""
    return {"message": message, "specification": spec or SCHEDULED,
            "questions": questions or [], "suggestions": suggestions or []}


@pytest.fixture()
def model(tenant: Tenant):
    """The tenant's route goes to the fake OpenAI server; returns its scripted model."""
    with FakeOpenAI(api_key="sk-builder") as server:
        response = tenant.call("PUT", "/api/v1/providers/llm/openai", json={
            "config": {"base_url": server.url, "timeout": 5},
            "secrets": {"api_key": "sk-builder"}})
        assert response.status_code in (200, 201), response.json
        response = tenant.call("PATCH", "/api/v1/workspace",
                               json={"settings": {"llm_fallback": ["openai"]}})
        assert response.status_code == 200, response.json
        scripted = ScriptedModel(server)
        yield scripted
        scripted.detach()


def start(tenant: Tenant, **body: Any) -> dict[str, Any]:
    response = tenant.call("POST", "/api/v1/builder/conversations", json=body)
    assert response.status_code == 201, response.json
    return response.json


def say(tenant: Tenant, conversation_id: str, content: str = "", **answers: Any):
    return tenant.call("POST", f"/api/v1/builder/conversations/{conversation_id}/messages",
                       json={"content": content, "answers": answers})


def detail(tenant: Tenant, conversation_id: str) -> dict[str, Any]:
    response = tenant.call("GET", f"/api/v1/builder/conversations/{conversation_id}")
    assert response.status_code == 200, response.json
    return response.json


def run_build(app, superuser, tenant: Tenant, conversation_id: str,
              timeout: float = 20.0) -> dict[str, Any]:
    """Run the conversation's queued build job here, as a worker would (a worker of another
    test module may have taken it: then wait for it); returns the conversation after it."""
    job_id = detail(tenant, conversation_id)["job_id"]
    # Another module's worker fixture cancels jobs left 'todo'; this job is still ours to run.
    claimed = superuser.execute(
        "UPDATE procrastinate_jobs SET status = 'doing' WHERE id = %s "
        "AND status IN ('todo', 'cancelled') RETURNING id", (job_id,)).fetchone()
    if claimed:
        with app.app_context():
            builder_jobs.run(runtime.current(), tenant.workspace_id, conversation_id, job_id)
        superuser.execute("UPDATE procrastinate_jobs SET status = 'succeeded' WHERE id = %s",
                          (job_id,))
    deadline = time.monotonic() + timeout
    while (found := detail(tenant, conversation_id))["running"]:
        assert time.monotonic() < deadline, "the build did not finish"
        time.sleep(0.05)
    return found


@pytest.fixture()
def scripted_llm(model: ScriptedModel) -> ScriptedModel:
    """The pipeline's tests' name for ``model``: the tenant's scripted model."""
    return model


def run_pipeline(app, tenant: Tenant, spec: dict[str, Any], **options: Any) -> Build:
    """Call the pipeline as a job does: an app context, no transaction open."""
    options.setdefault("caller", gateway.Caller(conversation_id="conv-1"))
    with app.app_context():
        return pipeline.build(tenant.workspace_id, spec, **options)

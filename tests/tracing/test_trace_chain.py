"""One trace from a request to the run it caused: the request's span, its SQL (SQLAlchemy's and
the driver fast path's), the job's deferral, the job's run in a worker (its ``traceparent``
read back from the job row), the bot's LLM call through the gateway and the plugin call."""

from __future__ import annotations

from types import SimpleNamespace

import psycopg
from opentelemetry.trace import SpanKind

from codex32 import runtime
from codex32.execution import process, queue
from tests.conftest import sign_up
from tests.execution.conftest import bot_with, run

ASKS = """\
def main(event, context):
    return context.llm.chat("Say hello")["text"]
"""


def _claim_job(dsn: str, execution_id: str) -> tuple[int, dict]:
    """The execution's run job, marked taken (no worker of another test may run it)."""
    with psycopg.connect(dsn, autocommit=True) as connection:
        return connection.execute(
            "UPDATE procrastinate_jobs SET status = 'doing' WHERE task_name = %s AND "
            "args->>'execution_id' = %s AND status = 'todo' RETURNING id, args",
            (queue.RUN_TASK, execution_id)).fetchone()


def _run_job(app, job_id: int, args: dict) -> None:
    """Run the job as the worker does: the body registered for the task, with its args."""
    assert process.worker  # the worker process's module registers the bodies
    job = SimpleNamespace(id=job_id, attempts=0, task_name=queue.RUN_TASK)
    context = SimpleNamespace(job=job, additional_context={"runtime": runtime.of(app)},
                              should_abort=lambda: False, abort_reason=lambda: None)
    queue.app.tasks[queue.RUN_TASK](context, **args)


def test_a_request_and_the_run_it_queued_are_one_trace(traced, traced_client, spans, database):
    app, _ = traced
    tenant = sign_up(traced_client)
    bot = bot_with(tenant, ASKS)
    spans.clear()
    execution_id = run(tenant, bot["id"])["id"]

    request = spans.one("POST /api/v1/bots/")
    assert request.kind is SpanKind.SERVER and request.parent is None
    assert request.attributes["http.response.status_code"] == 202
    assert request.attributes["codex32.workspace_id"] == tenant.workspace_id
    trace_id = request.context.trace_id
    statements = [s for s in spans.all() if s.attributes.get("db.system.name") == "postgresql"]
    assert statements and all(s.context.trace_id == trace_id for s in statements)
    assert all(spans.descends(s, request) for s in statements)
    # The authentication lookup runs on the driver fast path (in a batch after the request's
    # BEGIN), beside SQLAlchemy's statements.
    assert any("SELECT set_config(" in s.attributes["db.query.text"]
               and "AS found" in s.attributes["db.query.text"] for s in statements)
    assert any(s.attributes["db.query.text"].startswith("INSERT INTO bot_executions")
               for s in statements)
    sent = spans.one("send codex32.run_execution")
    assert sent.kind is SpanKind.PRODUCER and spans.descends(sent, request)

    job_id, args = _claim_job(database.superuser_dsn, execution_id)
    version, trace, parent, flags = args["traceparent"].split("-")
    assert (version, trace, parent) == ("00", f"{trace_id:032x}", f"{sent.context.span_id:016x}")
    assert int(flags, 16) & 1  # sampled
    spans.clear()
    _run_job(app, job_id, args)

    processed = spans.one("process codex32.run_execution")
    assert processed.kind is SpanKind.CONSUMER
    assert processed.context.trace_id == trace_id
    assert processed.parent.span_id == sent.context.span_id and processed.parent.is_remote
    assert processed.attributes["codex32.execution_id"] == execution_id
    executed = spans.one("execute bot")
    assert executed.parent.span_id == processed.context.span_id
    assert executed.attributes["codex32.execution.status"] == "succeeded"
    call = spans.one("bot call llm.chat")
    attempt = spans.one("chat ")
    plugin = spans.one("plugin llm.complete")
    assert spans.descends(call, executed) and spans.descends(attempt, call)
    assert plugin.parent.span_id == attempt.context.span_id
    assert attempt.kind is SpanKind.CLIENT
    assert attempt.attributes["gen_ai.provider.name"] == "builtin"
    assert "gen_ai.request.model" in attempt.attributes
    assert "gen_ai.usage.input_tokens" in attempt.attributes
    assert all(s.context.trace_id == trace_id for s in spans.all())
    # The worker's statements (loading, marking running, storing) are in the trace too.
    assert any(spans.descends(s, processed) for s in spans.all()
               if s.attributes.get("db.system.name") == "postgresql")
    # No prompt, completion or code leaves in a span.
    for span in spans.all():
        for value in (span.attributes or {}).values():
            assert "Say hello" not in str(value) and "context.llm" not in str(value)

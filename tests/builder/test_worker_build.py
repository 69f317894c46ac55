"""End to end with a real ``codex32 worker`` process: a conversation, its generation run by the
worker from the ``builder`` queue (the generated tests in the sandbox), accept, and the bot
run by the same worker."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.builder.conftest import detail, say, start
from tests.execution.conftest import WorkerStarter, finished, run, wait_for

CSV = "region,amount\nEU,2.5\nUS,3\nEU,1.5\n"


@pytest.fixture()
def worker(database, tmp_path) -> Iterator[None]:
    starter = WorkerStarter(database, tmp_path)
    try:
        starter()
        yield
    finally:
        starter.kill_all()


def test_a_worker_process_builds_the_conversations_bot_and_runs_it_once_accepted(
        tenant, superuser, worker):
    first = start(tenant, message="Make a report of the CSV I pass in: group the rows by "
                                  "region with the sum of amount.")
    conversation = first["conversation_id"]
    if first["state"] != "ready":
        assert say(tenant, conversation, "use defaults").json["state"] == "ready"
    queued = tenant.call("POST", f"/api/v1/builder/conversations/{conversation}/generate")
    assert queued.status_code == 202, queued.json
    job = superuser.execute("SELECT task_name, queue_name FROM procrastinate_jobs WHERE id = %s",
                            (queued.json["job_id"],)).fetchone()
    assert job == ("codex32.build_bot", "builder")

    built = wait_for(lambda: (found := detail(tenant, conversation))["state"] == "generated"
                     and not found["running"] and found, timeout=180, interval=0.2,
                     message="the worker to build the bot")
    report = built["report"]
    assert report["passed"] and report["source"] == "heuristics", report.get("stopped")
    tests = report["rounds"][-1]["validation"]["tests"]
    assert tests["passed"] >= 1 and tests["failed"] == 0 and tests["errors"] == 0
    steps = {(p["name"], p["status"]) for p in built["progress"] if p["event"] == "step"}
    assert {("syntax", "passed"), ("lint", "passed"), ("security", "passed"),
            ("requirements", "passed"), ("contract", "passed"), ("tests", "passed")} <= steps
    left = superuser.execute("SELECT status::text FROM procrastinate_jobs WHERE id = %s",
                             (queued.json["job_id"],)).fetchone()
    assert left in (None, ("succeeded",))  # the worker finished it (a finished job may go)

    accepted = tenant.call("POST", f"/api/v1/builder/conversations/{conversation}/accept",
                           json={"name": "region-report"})
    assert accepted.status_code == 201, accepted.json
    execution = run(tenant, accepted.json["bot_id"], {"input": {"csv": CSV}})
    done = finished(tenant, execution["id"], timeout=60)
    assert done["status"] == "succeeded", done
    result = done["result"]
    assert (result["group_by"], result["sum_column"], result["rows"]) == ("region", "amount", 3)
    assert [(g["key"], g["count"], g["sum"]) for g in result["groups"]] == [
        ("EU", 2, 4.0), ("US", 1, 3.0)]

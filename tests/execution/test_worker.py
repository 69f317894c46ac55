"""Executions end to end: the API queues, two real worker processes run the bots in the
sandbox, and the API reports outcomes, logs, cancellations, retries and notifications."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.execution.conftest import (
    SLEEPER,
    TRIVIAL,
    bot_with,
    execution,
    finished,
    jobs,
    processes_mentioning,
    run,
    wait_for,
)

# xdist (make test: --dist loadgroup) runs this module on one worker, so its module-scoped
# worker processes start once per run.
pytestmark = [pytest.mark.usefixtures("workers"), pytest.mark.xdist_group("worker")]

GREETER = ("def main(event, context):\n    print('hello', event['n'])\n"
           "    context.logger.info('computing')\n    return {'doubled': event['n'] * 2}\n")
RAISER = ("def main(event, context):\n    return helper(event)\n\n\n"
          "def helper(event):\n    raise ValueError('boom: ' + str(event.get('why')))\n")


def test_a_run_succeeds_with_its_result_logs_and_usage(tenant):
    bot = bot_with(tenant, GREETER)
    queued = run(tenant, bot["id"], {"input": {"n": 21}})
    done = finished(tenant, queued["id"])
    assert done["status"] == "succeeded", done
    assert done["result"] == {"doubled": 42} and done["error"] is None
    assert "hello 21" in done["logs"] and "computing" in done["logs"]
    assert not done["logs_truncated"]
    assert done["started_at"] and done["completed_at"] >= done["started_at"]
    assert done["duration_seconds"] > 0 and done["cpu_seconds"] > 0
    assert done["peak_memory_bytes"] > 0 and done["attempt"] == 1


def test_a_bot_that_raises_fails_with_its_own_traceback(tenant):
    bot = bot_with(tenant, RAISER)
    done = finished(tenant, run(tenant, bot["id"], {"input": {"why": "bad data"}})["id"])
    assert done["status"] == "failed"
    error = done["error"]
    assert error["type"] == "ValueError" and error["message"] == "boom: bad data"
    assert "helper" in error["traceback"] and "bot.py" in error["traceback"]
    assert "runner.py" not in error["traceback"] and "codex32" not in error["traceback"]


def test_a_run_past_its_wall_clock_or_cpu_time_ends_timed_out(tenant):
    sleepy = bot_with(tenant, SLEEPER, timeout_seconds=1)
    spinner = bot_with(tenant, "def main(event, context):\n    while True:\n        pass\n",
                       timeout_seconds=20, cpu_seconds=1)
    slept = run(tenant, sleepy["id"], {"input": {"seconds": 30}})
    spun = run(tenant, spinner["id"])
    slept, spun = finished(tenant, slept["id"]), finished(tenant, spun["id"])
    assert slept["status"] == "timed_out" and slept["error"]["type"] == "WallTimeExceeded"
    assert 0.9 < slept["duration_seconds"] < 5
    assert "sleeping" in slept["logs"]
    assert spun["status"] == "timed_out" and spun["error"]["type"] == "CpuTimeExceeded"
    assert spun["cpu_seconds"] > 0.5


def test_logs_are_capped_with_a_truncation_marker(tenant):
    bot = bot_with(tenant, "def main(event, context):\n    for i in range(2000):\n"
                           "        print('line', i)\n    return 'done'\n")
    done = finished(tenant, run(tenant, bot["id"])["id"])
    assert done["status"] == "succeeded" and done["result"] == "done"
    assert done["logs_truncated"]
    assert len(done["logs"].encode()) < 4096 + 200  # MAX_LOG_BYTES=4096 plus the marker
    assert "output truncated" in done["logs"] and done["logs"].startswith("line 0\n")


UNSTORABLE = r"""
def main(event, context):
    print('nul:\x00 end')
    if event.get('fail'):
        raise ValueError('bad \ud800 value')
    return {'x': '\ud800', 'k\x00': ['a\udfffb']}
"""


def test_a_bot_returning_or_raising_unstorable_text_keeps_its_record(tenant):
    bot = bot_with(tenant, UNSTORABLE)
    returned = finished(tenant, run(tenant, bot["id"])["id"])
    raised = finished(tenant, run(tenant, bot["id"], {"input": {"fail": True}})["id"])
    assert returned["status"] == "succeeded", returned
    assert returned["result"] == {"x": "\ufffd", "k\ufffd": ["a\ufffdb"]}
    assert returned["logs"] == "nul:\ufffd end\n"
    assert raised["status"] == "failed", raised
    assert raised["error"]["type"] == "ValueError"
    assert raised["error"]["message"] == "bad \ufffd value"
    assert raised["logs"] == "nul:\ufffd end\n"


def test_cancelling_a_running_execution_stops_it_within_two_seconds(tenant):
    bot = bot_with(tenant, SLEEPER, timeout_seconds=60)
    queued = run(tenant, bot["id"])
    wait_for(lambda: execution(tenant, queued["id"])["status"] == "running",
             message="the run to start")
    wait_for(lambda: processes_mentioning(queued["id"]), message="the bot's process")
    # Its first line shown (live logs): a cancel before the print ends a run that said nothing.
    wait_for(lambda: "sleeping" in (execution(tenant, queued["id"])["logs"] or ""),
             message="the bot's first line")
    asked = time.monotonic()
    response = tenant.call("POST", f"/api/v1/executions/{queued['id']}/cancel")
    assert response.status_code == 202
    assert response.json["status"] == "running" and response.json["cancel_requested"]
    done = finished(tenant, queued["id"], timeout=2.0)
    assert time.monotonic() - asked < 2.0
    assert done["status"] == "cancelled" and "sleeping" in done["logs"]
    wait_for(lambda: not processes_mentioning(queued["id"]), timeout=1.0,
             message="no process of the run to be left")
    assert tenant.call("POST", f"/api/v1/executions/{queued['id']}/cancel").status_code == 409


def test_deleting_a_bot_stops_its_running_execution(tenant):
    # The execution goes with the bot: nobody could see or cancel the run any more, so it
    # must not go on to its timeout with the bot's secrets and services.
    bot = bot_with(tenant, SLEEPER, timeout_seconds=60)
    queued = run(tenant, bot["id"])
    wait_for(lambda: execution(tenant, queued["id"])["status"] == "running",
             message="the run to start")
    wait_for(lambda: processes_mentioning(queued["id"]), message="the bot's process")
    assert tenant.call("DELETE", f"/api/v1/bots/{bot['id']}").status_code == 204
    wait_for(lambda: not processes_mentioning(queued["id"]), timeout=3.0,
             message="the deleted bot's run to stop")


def _notices(workers, execution_id: str) -> list[str]:
    """The log notifier's lines about one execution, from every worker's output."""
    return [line for worker in workers for line in worker.output().splitlines()
            if "codex32.notify" in line and execution_id in line]


def test_a_failed_run_is_retried_up_to_max_retries_then_notifies_once(tenant, workers):
    bot = bot_with(tenant, RAISER, max_retries=1, retry_backoff_seconds=0,
                   notifications=[{"notifier": "log", "on": ["failed"]}])
    first = finished(tenant, run(tenant, bot["id"])["id"])
    assert first["status"] == "failed" and first["retried_by"]
    second = finished(tenant, first["retried_by"])
    assert second["status"] == "failed" and second["trigger"] == "retry"
    assert second["attempt"] == 2 and second["retry_of"] == first["id"]
    assert second["retried_by"] is None
    listed = tenant.call("GET", f"/api/v1/bots/{bot['id']}/executions").json
    assert listed["total"] == 2
    notices = wait_for(lambda: _notices(workers, second["id"]), message="the notification")
    assert len(notices) == 1 and "execution.failed" in notices[0]
    assert not _notices(workers, first["id"])  # a failure that is retried notifies nobody


# --- notifications ---------------------------------------------------------------------------


class Receiver:
    """A local webhook receiver answering ``status`` and recording what it got."""

    def __init__(self, status: int) -> None:
        self.status = status
        self.received: list[dict[str, Any]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.received.append({"body": json.loads(body), "headers": dict(self.headers)})
                self.send_response(outer.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, args=(0.01,),
                         daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"


@pytest.fixture()
def receiver() -> Iterator[Any]:
    made: list[Receiver] = []

    def make(status: int = 204) -> Receiver:
        made.append(Receiver(status))
        return made[-1]

    yield make
    for item in made:
        item.server.shutdown()


@pytest.fixture()
def use_webhook(tenant) -> Iterator[Any]:
    """Configure the tenant's webhook notifier; removed afterwards, so no secret sealed with
    this run's key outlives the test (the CLI's key rotation test reads every one)."""

    def configure(url: str) -> None:
        response = tenant.call("PUT", "/api/v1/providers/notifier/webhook", json={
            "config": {"url": url, "max_attempts": 1, "timeout_seconds": 2},
            "secrets": {"signing_secret": "whsec-test-0123456789"}})
        assert response.status_code == 200, response.json

    yield configure
    tenant.call("DELETE", "/api/v1/providers/notifier/webhook")


def test_matching_notification_rules_fire_through_their_notifiers(tenant, receiver, workers,
                                                                   use_webhook):
    hook = receiver(204)
    use_webhook(hook.url)
    bot = bot_with(tenant, GREETER, notifications=[
        {"notifier": "webhook", "on": ["succeeded"]}, {"notifier": "log", "on": ["succeeded"]},
        {"notifier": "webhook", "on": ["failed", "timed_out"]}])
    done = finished(tenant, run(tenant, bot["id"], {"input": {"n": 1}})["id"])
    assert done["status"] == "succeeded"
    wait_for(lambda: hook.received, message="the webhook delivery")
    delivery = hook.received[0]
    assert delivery["body"]["event"] == "execution.succeeded"
    assert delivery["body"]["workspace_id"] == tenant.workspace_id
    payload = delivery["body"]["payload"]
    assert payload["execution_id"] == done["id"] and payload["result"] == {"doubled": 2}
    assert "X-Codex32-Signature" in delivery["headers"]
    wait_for(lambda: _notices(workers, done["id"]), message="the log notifier's line")
    assert len(hook.received) == 1  # the rule on failures did not fire


def test_a_failing_notifier_is_retried_and_never_changes_the_outcome(tenant, receiver,
                                                                     superuser, use_webhook):
    hook = receiver(500)
    use_webhook(hook.url)
    bot = bot_with(tenant, TRIVIAL, notifications=[{"notifier": "webhook", "on": ["succeeded"]}])
    done = finished(tenant, run(tenant, bot["id"])["id"])
    assert done["status"] == "succeeded"

    def gave_up() -> bool:
        found = jobs(superuser, execution_id=done["id"], notifier="webhook")
        return bool(found) and found[0]["status"] == "failed"

    wait_for(gave_up, timeout=15, message="the notification to exhaust its attempts")
    assert len(hook.received) == 3  # NOTIFICATION_MAX_ATTEMPTS
    assert execution(tenant, done["id"])["status"] == "succeeded"


# --- the worker process ----------------------------------------------------------------------


def test_workers_serve_probes_and_metrics_without_tenant_labels(tenant, workers):
    finished(tenant, run(tenant, bot_with(tenant, TRIVIAL)["id"])["id"])
    assert workers[0].get("/health/alive")[0] == 200
    status, body = workers[0].get("/health/ready")
    assert status == 200 and json.loads(body)["status"] == "ready"
    text = "".join(w.get("/metrics")[1].decode() for w in workers)
    for name in ("bot_executions_total", "bot_execution_duration_seconds",
                 "codex32_queue_depth", "codex32_queue_oldest_job_age_seconds",
                 "codex32_running_executions", "active_bots",
                 "codex32_worker_heartbeat_timestamp_seconds"):
        assert name in text, name
    assert 'bot_executions_total{status="succeeded"}' in text
    # Exported from import on, the gauges must also hold what the worker set.
    samples = {sample.name: sample.value for family in text_string_to_metric_families(text)
               for sample in family.samples}
    assert samples["codex32_worker_heartbeat_timestamp_seconds"] > time.time() - 60
    assert tenant.workspace_id not in text
    assert workers[0].get("/nope")[0] == 404


def test_a_worker_guards_its_metrics_with_the_metrics_token_as_the_web_does(start_worker):
    # The worker's port is reachable from every namespace (deploy/k8s/networkpolicy.yaml): an
    # operator who set METRICS_TOKEN expects every /metrics to want it, not only the web's.
    worker = start_worker(METRICS_TOKEN="scrape-me")
    assert worker.get("/metrics")[0] == 401
    wrong = urllib.request.Request(f"http://127.0.0.1:{worker.port}/metrics",
                                   headers={"Authorization": "Bearer scrape-you"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(wrong, timeout=2)
    assert refused.value.code == 401
    right = urllib.request.Request(f"http://127.0.0.1:{worker.port}/metrics",
                                   headers={"Authorization": "Bearer scrape-me"})
    with urllib.request.urlopen(right, timeout=2) as response:
        assert response.status == 200 and b"codex32_queue_depth" in response.read()
    assert worker.get("/health/ready")[0] == 200  # the kubelet's probes carry no token


LIVE_LOGGER = (
    "import sys, time\n\n\n"
    "def main(event, context):\n"
    "    print('first line, secret', context.secrets.get('LIVE_TOKEN'), flush=True)\n"
    "    print('half a line, then the secret', context.secrets.get('LIVE_TOKEN'), end='',\n"
    "          flush=True)\n"
    "    time.sleep(event['seconds'])\n"
    "    print(' and its end', flush=True)\n"
    "    return 'done'\n")


def test_logs_show_while_the_run_is_going_whole_lines_and_redacted(tenant):
    token = "live-token-0123456789"
    bot = bot_with(tenant, LIVE_LOGGER)
    stored = tenant.call("PUT", f"/api/v1/bots/{bot['id']}/secrets/LIVE_TOKEN",
                         json={"value": token})
    assert stored.status_code in (200, 201), stored.json
    queued = run(tenant, bot["id"], {"input": {"seconds": 4}})

    running = wait_for(lambda: (lambda e: e if e["status"] == "running" and e["logs"] else None)(
        execution(tenant, queued["id"])), timeout=20, message="logs of the running execution")
    assert "first line, secret" in running["logs"] and token not in running["logs"]
    assert "half a line" not in running["logs"]  # not a whole line yet
    done = finished(tenant, queued["id"])
    assert done["status"] == "succeeded"
    assert "half a line, then the secret" in done["logs"] and token not in done["logs"]

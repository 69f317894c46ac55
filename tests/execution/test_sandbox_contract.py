"""The bot contract of the subprocess sandbox, each run as a real bot in a real process: the
JSON result, everything printed or logged captured, the bot's own frames in an error, secrets
redacted from the logs, a contract broken failing clearly, concurrent runs kept apart. The
attacks on the sandbox are in test_sandbox.py.
"""

from __future__ import annotations

import functools
import threading

import pytest

from codex32.plugins.defaults.subprocess_executor import SubprocessExecutor
from tests.execution.sandbox_support import RunBot, make_request, run_checked


@pytest.fixture(scope="module")
def executor() -> SubprocessExecutor:
    """The default executor, as a workspace with no configuration gets it."""
    return SubprocessExecutor()


@pytest.fixture()
def run_bot(executor: SubprocessExecutor) -> RunBot:
    """Run ``code`` once; checks afterwards that none of the run's processes are left."""
    return functools.partial(run_checked, executor)


def test_a_bot_returns_json_and_everything_it_prints_or_logs_is_captured(run_bot: RunBot):
    code = """\
import sys

def main(event, context):
    print("hello", event["name"])
    print("to stderr", file=sys.stderr)
    context.logger.info("logged at info")
    return {"greeting": f"hi {event['name']}", "ids": [context.execution_id, context.bot_id,
            context.workspace_id], "nested": {"pi": 3.5, "ok": True, "none": None}}
"""
    outcome = run_bot(code, event={"name": "Zoë"})
    assert outcome.status == "succeeded", outcome.error
    assert outcome.result["greeting"] == "hi Zoë"
    assert outcome.result["ids"][1:] == ["bot-1", "ws-1"]
    assert outcome.result["nested"] == {"pi": 3.5, "ok": True, "none": None}
    assert outcome.logs == "hello Zoë\nto stderr\nINFO bot: logged at info\n"
    assert not outcome.logs_truncated
    assert outcome.duration_seconds > 0 and outcome.cpu_seconds > 0
    assert outcome.peak_memory_bytes > 1024 * 1024


def test_a_bots_own_logging_at_info_is_captured(run_bot: RunBot):
    code = ("import logging\nlog = logging.getLogger('mine')\n\n"
            "def main(event, context):\n    log.info('from my logger')\n    return None\n")
    outcome = run_bot(code)
    assert outcome.status == "succeeded"
    assert "INFO mine: from my logger" in outcome.logs


def test_a_bot_exception_shows_only_the_bots_own_frames(run_bot: RunBot):
    code = ("def divide(x):\n    return 1 / x\n\n\ndef main(event, context):\n"
            "    print('before')\n    return divide(0)\n")
    outcome = run_bot(code)
    assert outcome.status == "failed"
    assert outcome.error["type"] == "ZeroDivisionError"
    assert outcome.error["message"] == "division by zero"
    assert outcome.error["traceback"] == (
        "Traceback (most recent call last):\n"
        '  File "bot.py", line 7, in main\n    return divide(0)\n'
        '  File "bot.py", line 2, in divide\n    return 1 / x\n'
        "ZeroDivisionError: division by zero\n")
    assert outcome.logs == "before\n"


def test_a_chained_exception_keeps_its_cause(run_bot: RunBot):
    code = ("class BotError(Exception):\n    pass\n\n\ndef main(event, context):\n    try:\n"
            "        {}['missing']\n    except KeyError as exc:\n"
            "        raise BotError('lookup failed') from exc\n")
    outcome = run_bot(code)
    assert outcome.error["type"] == "bot.BotError"
    assert "KeyError: 'missing'" in outcome.error["traceback"]
    assert "direct cause" in outcome.error["traceback"]
    assert "runner" not in outcome.error["traceback"]


@pytest.mark.parametrize(("value", "kind", "message"), [
    ("{1, 2}", "TypeError", "Object of type set is not JSON serializable"),
    ("float('nan')", "ValueError", "Out of range float values are not JSON compliant: nan"),
    ("object()", "TypeError", "Object of type object is not JSON serializable"),
])
def test_a_result_that_is_not_json_fails_clearly(run_bot: RunBot, value, kind, message):
    outcome = run_bot(f"def main(event, context):\n    return {{'value': {value}}}\n")
    assert outcome.status == "failed"
    assert (outcome.error["type"], outcome.error["message"]) == (kind, message)


FORGED_DEEP_RECORD = """import os, sys


def main(event, context):
    print('before the forged record', flush=True)
    frame = sys._getframe()
    while 'result_fd' not in frame.f_locals:
        frame = frame.f_back
    os.write(frame.f_locals['result_fd'],
             b'{"ok": true, "result": ' + b'[' * 100000 + b']' * 100000 + b'}')
    os._exit(0)
"""


def test_a_record_nested_past_the_decoders_depth_fails_as_invalid_keeping_its_logs(
        run_bot: RunBot):
    # The bot writes its own record, bypassing the runner's depth check.
    outcome = run_bot(FORGED_DEEP_RECORD)
    assert outcome.status == "failed", outcome
    assert outcome.error["type"] == "InvalidResult"
    assert "before the forged record" in outcome.logs
    # The deepest result the runner lets through (100 levels) still comes back whole.
    deepest = run_bot("def main(event, context):\n    value = 1\n    for _ in range(100):\n"
                      "        value = [value]\n    return value\n")
    assert deepest.status == "succeeded", deepest.error


def test_a_result_larger_than_its_limit_fails(run_bot: RunBot):
    outcome = run_bot("def main(event, context):\n    return 'x' * 5000\n",
                      max_result_bytes=1000)
    assert outcome.status == "failed"
    assert outcome.error["type"] == "ResultTooLarge"


def test_granted_secrets_are_visible_to_the_bot_and_redacted_from_its_logs(run_bot: RunBot):
    code = ("def main(event, context):\n    print('token is', context.secrets['API_TOKEN'])\n"
            "    print(repr(context))\n    return context.secrets\n")
    outcome = run_bot(code, secrets={"API_TOKEN": "tok-0123456789"})
    assert outcome.status == "succeeded"
    assert outcome.result == {"API_TOKEN": "tok-0123456789"}
    assert "tok-0123456789" not in outcome.logs
    assert "token is [REDACTED]" in outcome.logs


def test_a_secret_cut_by_the_output_cap_leaves_no_part_of_it_in_the_logs(run_bot: RunBot):
    token = "tok-" + "0123456789abcdef" * 4
    # A careless bot printing its token over and over: the cap cuts the output mid-token.
    outcome = run_bot("def main(event, context):\n    for _ in range(100):\n"
                      "        print('token', context.secrets['API_TOKEN'])\n",
                      secrets={"API_TOKEN": token}, max_output_bytes=1000)
    assert outcome.status == "succeeded" and outcome.logs_truncated
    assert token[:8] not in outcome.logs, outcome.logs[-200:]
    assert "token [REDACTED]\n" in outcome.logs


def test_a_secret_cut_with_a_long_error_message_leaves_no_part_of_it(run_bot: RunBot):
    token = "tok-" + "0123456789abcdef" * 4
    outcome = run_bot("def main(event, context):\n"
                      "    raise ValueError('x' * 3980 + context.secrets['API_TOKEN'])\n",
                      secrets={"API_TOKEN": token})
    assert outcome.status == "failed" and outcome.error["message"].endswith("[REDACTED]...")
    assert token[:8] not in outcome.error["message"]
    assert token[:8] not in outcome.error["traceback"]


def test_a_syntax_error_fails_with_syntax_error(run_bot: RunBot):
    outcome = run_bot("def main(event, context)\n    return 1\n")
    assert outcome.status == "failed"
    assert outcome.error["type"] == "SyntaxError"
    assert 'File "bot.py", line 1' in outcome.error["traceback"]
    assert "def main(event, context)" in outcome.error["traceback"]


@pytest.mark.parametrize(("code", "kind"), [
    ("def handler(event, context):\n    return 1\n", "AttributeError"),
    ("import sys\n\ndef main(event, context):\n    sys.exit(3)\n", "SystemExit"),
    ("import os\n\ndef main(event, context):\n    os._exit(5)\n", "NoResult"),
], ids=["no main", "sys.exit", "os._exit"])
def test_a_bot_that_breaks_the_contract_fails(run_bot: RunBot, code: str, kind: str):
    outcome = run_bot(code)
    assert outcome.status == "failed"
    assert outcome.error["type"] == kind


def test_concurrent_runs_from_worker_threads_stay_apart(executor):
    code = "def main(event, context):\n    return event['n'] * 2\n"
    requests = [make_request(code, event={"n": n}) for n in range(4)]
    outcomes: dict[int, object] = {}

    def work(n: int) -> None:
        outcomes[n] = executor.run(requests[n], threading.Event())

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert {n: outcome.result for n, outcome in outcomes.items()} == {0: 0, 1: 2, 2: 4, 3: 6}



def test_a_large_event_reaches_the_bot_whole(run_bot: RunBot):
    event = {"items": ["x" * 1000] * 5000}  # about 5 MB, far more than a pipe holds
    outcome = run_bot("def main(event, context):\n    return sum(map(len, event['items']))\n",
                      event=event)
    assert outcome.status == "succeeded"
    assert outcome.result == 5_000_000

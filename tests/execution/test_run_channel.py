"""The run's channel to the platform, through the real sandbox at every isolation level: a bot's
``context.llm`` calls reach the handler the worker gave, within the bounds, and nothing else.

The handlers here are plain functions (the worker's own is tested end to end in
test_bot_llm.py); the bots, the sandbox and the channel are real.
"""

from __future__ import annotations

import dataclasses
import os
import threading
import time
from typing import Any

import pytest

from codex32.execution import sandbox
from codex32.plugins.interfaces import BotServices, ExecutionOutcome
from tests.execution.sandbox_support import Recorder, make_request

USER_LEVEL_PYTHON = "/usr/bin/python3"  # ours may live where a run's uid cannot read


def _policy(level: str) -> sandbox.SandboxPolicy:
    """The platform's policy at ``level``; skips when this host cannot give it."""
    policy = dataclasses.replace(sandbox.SandboxPolicy(), isolation=level)
    if level == "user":
        if os.geteuid() != 0 or sandbox.interpreter_problem(USER_LEVEL_PYTHON):
            pytest.skip("the user level needs root and a root-owned /usr/bin/python3")
        policy = dataclasses.replace(policy, python=USER_LEVEL_PYTHON)
    found = sandbox.availability(policy)
    if not found.ok:
        pytest.skip(f"this host does not give the {level} level: {found.detail}")
    return policy


@pytest.fixture(params=["namespace", "user", "process"])
def policy(request) -> sandbox.SandboxPolicy:
    return _policy(request.param)


@pytest.fixture()
def strongest() -> sandbox.SandboxPolicy:
    return _policy(sandbox.SandboxPolicy().isolation)


def run_with(policy: sandbox.SandboxPolicy, code: str, services: BotServices | None,
             **limits: Any) -> ExecutionOutcome:
    request = dataclasses.replace(make_request(code, **limits), services=services)
    return sandbox.run_sandboxed(request, None, policy)


def open_fds() -> int:
    """This process's open descriptors (a channel left open would add two)."""
    return len(os.listdir("/proc/self/fd"))


CHATS = """\
import threading


def main(event, context):
    answers, clients = [], set()

    def ask(n):
        clients.add(id(context.llm))  # the threads are the first to touch it
        answers.append(context.llm.chat([{"role": "user", "content": str(n)}])["text"])

    threads = [threading.Thread(target=ask, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    last = context.llm.chat("hello", model="m-1", temperature=0.5)
    try:
        context.llm.embed(["a"])
    except context.llm.Error as exc:
        refused = [exc.type, str(exc)]
    return {"last": last, "answers": sorted(answers), "refused": refused,
            "clients": len(clients)}
"""


def test_a_bots_calls_reach_the_handler_and_come_back_at_every_level(policy):
    handler = Recorder(delay=0.05)
    before = open_fds()
    outcome = run_with(policy, CHATS, BotServices(call=handler, max_concurrent=2))
    assert outcome.status == "succeeded", outcome.error
    assert outcome.result == {"last": {"text": "echo: hello"},
                              "answers": [f"echo: {n}" for n in range(6)],
                              "refused": ["UnknownMethod", "no llm.embed"], "clients": 1}
    method, params, timeout = handler.calls[6]
    assert (method, params) == ("llm.chat", {
        "messages": [{"role": "user", "content": "hello"}], "model": "m-1", "temperature": 0.5})
    assert 0 < timeout <= 30
    # The bot's six threads waited their turn: never more than two calls at once.
    assert len(handler.calls) == 8 and handler.most_at_once == 2
    assert open_fds() <= before, "the channel outlived its run"


def test_a_run_without_services_gets_a_clear_error_from_context_llm(policy):
    code = ("def main(event, context):\n"
            "    try:\n        context.llm.chat('hello')\n"
            "    except context.llm.Error as exc:\n        return [exc.type, str(exc)]\n")
    outcome = run_with(policy, code, None)
    assert outcome.status == "succeeded", outcome.error
    assert outcome.result[0] == "Unavailable"
    assert "no channel to the platform" in outcome.result[1]
    assert "context.llm" in outcome.result[1]


def test_an_uncaught_channel_error_names_context_llm_error(strongest):
    outcome = run_with(strongest, "def main(event, context):\n    context.llm.chat('x')\n",
                       None)
    assert outcome.status == "failed"
    assert outcome.error["type"] == "context.llm.Error"


def test_an_oversized_request_is_refused_before_it_is_sent(strongest):
    handler = Recorder()
    code = ("def main(event, context):\n"
            "    try:\n        context.llm.chat('x' * 5000)\n"
            "    except context.llm.Error as exc:\n        refused = [exc.type, str(exc)]\n"
            "    return [refused, context.llm.chat('small')['text']]\n")
    outcome = run_with(strongest, code, BotServices(call=handler, max_message_bytes=2048))
    assert outcome.status == "succeeded", outcome.error
    refused, after = outcome.result
    assert refused[0] == "RequestTooLarge" and "at most 2048" in refused[1]
    assert after == "echo: small" and len(handler.calls) == 1


RAW = """\
import json
import os
import socket


def send(fd, message):
    body = message if isinstance(message, bytes) else json.dumps(message).encode()
    os.write(fd, len(body).to_bytes(4, "big") + body)


def receive(fd):
    size = int.from_bytes(os.read(fd, 4), "big")
    data = b""
    while len(data) < size:
        data += os.read(fd, size - len(data))
    return json.loads(data)


def main(event, context):
    fd = context.llm._channel._fd
    return run(fd, context)
"""


def test_a_frame_over_the_cap_closes_the_channel_with_an_error(strongest):
    handler = Recorder()
    code = RAW + (
        "def run(fd, context):\n"
        "    os.write(fd, (64 * 1024 * 1024).to_bytes(4, 'big') + b'{' * 1000)\n"
        "    reply = receive(fd)\n"
        "    closed = os.read(fd, 10)\n"
        "    try:\n        context.llm.chat('after')\n"
        "    except context.llm.Error as exc:\n        after = exc.type\n"
        "    return [reply, closed.decode(), after]\n")
    outcome = run_with(strongest, code, BotServices(call=handler, max_message_bytes=4096))
    assert outcome.status == "succeeded", outcome.error
    reply, closed, after = outcome.result
    assert reply["id"] is None and reply["error"]["type"] == "ProtocolError"
    assert after == "ChannelClosed"
    assert "67108864 bytes is over the 4096-byte cap" in reply["error"]["message"]
    assert closed == "" and handler.calls == []


@pytest.mark.parametrize("frame", [b"not json", b"[1, 2]", b'{"id": "1", "method": "llm.chat"}'])
def test_a_frame_that_is_not_a_call_closes_the_channel(strongest, frame):
    handler = Recorder()
    code = RAW + (f"def run(fd, context):\n    send(fd, {frame!r})\n"
                  "    return [receive(fd), os.read(fd, 10).decode()]\n")
    outcome = run_with(strongest, code, BotServices(call=handler))
    assert outcome.status == "succeeded", outcome.error
    reply, closed = outcome.result
    assert reply["error"]["type"] == "ProtocolError" and closed == ""
    assert handler.calls == []


def test_calls_past_the_runs_bound_are_refused(strongest):
    handler = Recorder()
    code = ("def main(event, context):\n    seen = []\n    for n in range(6):\n"
            "        try:\n            seen.append(context.llm.chat(str(n))['text'])\n"
            "        except context.llm.Error as exc:\n            seen.append(exc.type)\n"
            "    return seen\n")
    outcome = run_with(strongest, code, BotServices(call=handler, max_calls=3))
    assert outcome.status == "succeeded", outcome.error
    assert outcome.result == ["echo: 0", "echo: 1", "echo: 2"] + ["LimitExceeded"] * 3
    assert len(handler.calls) == 3


def test_raw_calls_past_the_concurrency_bound_are_refused_at_once(strongest):
    release = threading.Event()

    def blocking(method: str, params: dict[str, Any], timeout: float) -> Any:
        release.wait(10)
        return params["n"]

    code = RAW + (
        "def run(fd, context):\n"
        "    for n in range(1, 5):\n"
        "        send(fd, {'id': n, 'method': 'llm.chat', 'params': {'n': n}})\n"
        "    return [receive(fd), receive(fd)]\n")
    threading.Timer(3.0, release.set).start()  # after the refusals have had time to come
    try:
        outcome = run_with(strongest, code, BotServices(call=blocking, max_concurrent=2))
    finally:
        release.set()
    assert outcome.status == "succeeded", outcome.error
    assert [(reply["id"], reply["error"]["type"]) for reply in outcome.result] == [
        (3, "LimitExceeded"), (4, "LimitExceeded")]
    assert "2 calls in flight" in outcome.result[0]["error"]["message"]


def test_a_call_past_its_timeout_fails_and_the_bot_carries_on(strongest):
    handler = Recorder(delay=3.0)
    code = ("import time\n\n\ndef main(event, context):\n    started = time.monotonic()\n"
            "    try:\n        context.llm.chat('slow')\n"
            "    except context.llm.Error as exc:\n"
            "        return [exc.type, str(exc), time.monotonic() - started]\n")
    outcome = run_with(strongest, code, BotServices(call=handler, call_timeout_seconds=0.5))
    assert outcome.status == "succeeded", outcome.error
    kind, message, waited = outcome.result
    assert kind == "Timeout" and "longer than 0.5 s" in message
    assert waited < 2.5
    assert handler.calls[0][2] == 0.5  # the handler was told its deadline


def test_the_runs_timeout_holds_while_a_call_is_in_flight(strongest):
    release = threading.Event()

    def hanging(method: str, params: dict[str, Any], timeout: float) -> Any:
        release.wait(60)
        return "too late"

    code = "def main(event, context):\n    return context.llm.chat('hang')\n"
    before = open_fds()
    started = time.monotonic()
    try:
        outcome = run_with(strongest, code, BotServices(call=hanging), timeout_seconds=1.5)
    finally:
        release.set()
    assert outcome.status == "timed_out", outcome.error
    assert time.monotonic() - started < 6
    assert open_fds() <= before


def test_the_channel_is_not_inherited_by_the_bots_subprocesses(strongest):
    code = ("import os\nimport subprocess\nimport sys\n\n\ndef main(event, context):\n"
            "    fd = context.llm._channel._fd\n"
            "    child = subprocess.run([sys.executable, '-c', 'import os, sys\\n'\n"
            "                            'try:\\n    os.fstat(int(sys.argv[1]))\\n'\n"
            "                            'except OSError:\\n    print(\"closed\")\\n'\n"
            "                            'else:\\n    print(\"open\")', str(fd)],\n"
            "                           capture_output=True, text=True, close_fds=False)\n"
            "    return [child.stdout.strip(), context.llm.chat('still here')['text']]\n")
    outcome = run_with(strongest, code, BotServices(call=Recorder()))
    assert outcome.status == "succeeded", outcome.error
    assert outcome.result == ["closed", "echo: still here"]


def test_a_handler_error_reaches_the_bot_as_context_llm_error(strongest):
    def failing(method: str, params: dict[str, Any], timeout: float) -> Any:
        raise RuntimeError("secret internals")

    code = ("def main(event, context):\n    try:\n        context.llm.chat('x')\n"
            "    except context.llm.Error as exc:\n        return [exc.type, str(exc)]\n")
    outcome = run_with(strongest, code, BotServices(call=failing))
    assert outcome.status == "succeeded", outcome.error
    assert outcome.result == ["ServiceError", "the platform could not answer this call"]


def test_the_channel_reaches_the_worker_and_carries_no_descriptors(strongest):
    code = RAW + (
        "import array\nimport errno\nimport socket\n\n\n"
        "def run(fd, context):\n"
        "    elsewhere = socket.socket(socket.AF_UNIX)\n"
        "    elsewhere.bind('elsewhere')\n    elsewhere.listen()\n"
        "    sock = socket.socket(fileno=os.dup(fd))\n"
        "    try:\n        sock.connect('elsewhere')\n"
        "    except OSError as exc:\n        connected = errno.errorcode[exc.errno]\n"
        "    body = json.dumps({'id': 1, 'method': 'llm.chat', 'params': {'messages': [\n"
        "        {'role': 'user', 'content': 'fd'}]}}).encode()\n"
        "    passed = [os.open('/dev/null', os.O_RDONLY) for _ in range(20)]\n"
        "    sock.sendmsg([len(body).to_bytes(4, 'big') + body], [(socket.SOL_SOCKET,\n"
        "                 socket.SCM_RIGHTS, array.array('i', passed))])\n"
        "    return [connected, receive(fd)['result']['text']]\n")
    before = len(os.listdir("/proc/self/fd"))
    outcome = run_with(strongest, code, BotServices(call=Recorder()))
    assert outcome.status == "succeeded", outcome.error
    assert outcome.result == ["EISCONN", "echo: fd"]
    assert len(os.listdir("/proc/self/fd")) <= before  # the 20 descriptors never arrived


def test_a_deeply_nested_call_closes_the_channel_and_the_run_goes_on(strongest):
    handler = Recorder()
    code = RAW + (
        "def run(fd, context):\n"
        "    send(fd, b'{\"id\": 1, \"method\": \"llm.chat\", \"params\": {\"x\": '\n"
        "         + b'[' * 200000 + b']' * 200000 + b'}}')\n"
        "    return [receive(fd), os.read(fd, 10).decode()]\n")
    outcome = run_with(strongest, code, BotServices(call=handler))
    assert outcome.status == "succeeded", outcome.error
    reply, closed = outcome.result
    assert reply["error"]["type"] == "ProtocolError" and "nested" in reply["error"]["message"]
    assert closed == "" and handler.calls == []

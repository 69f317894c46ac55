"""The worker's end of a run's channel (``sandbox.channel.ChannelServer``) against a hostile
peer speaking the frames directly, no sandbox: calls read after the deadline, refusals
without end, a peer that stops reading, a call id reused while its handler runs."""

from __future__ import annotations

import json
import socket
import threading
import time
from typing import Any

from codex32.execution import sandbox
from codex32.plugins.interfaces import BotServices
from tests.execution.sandbox_support import Recorder


def send(bot: socket.socket, message: dict[str, Any]) -> None:
    """One frame (a 4-byte length, then the JSON) from the bot's end."""
    body = json.dumps(message).encode()
    bot.sendall(len(body).to_bytes(4, "big") + body)


def receive(bot: socket.socket) -> dict[str, Any]:
    """One frame at the bot's end; a channel closed mid-frame is not JSON (a failure)."""
    size, data = int.from_bytes(bot.recv(4, socket.MSG_WAITALL), "big"), b""
    while len(data) < size:
        data += bot.recv(size - len(data)) or b"?"
    return json.loads(data)


def test_a_call_read_after_the_runs_deadline_is_refused_not_run():
    """The supervisor may read a call in the pass where the run's time runs out: it gets
    Timeout at once; the handler is never started (it would get a timeout of 0, which the
    gateway read as no deadline of the caller's at all)."""
    handler = Recorder()
    channel = sandbox.channel.ChannelServer(BotServices(call=handler), time.monotonic() - 0.01)
    bot = channel._bot
    try:
        send(bot, {"id": 7, "method": "llm.chat", "params": {"messages": []}})
        assert channel.on_readable()
        reply = receive(bot)
        time.sleep(0.2)
    finally:
        channel.close()
    assert reply["id"] == 7 and reply["error"]["type"] == "Timeout"
    assert "time is up" in reply["error"]["message"]
    assert handler.calls == []


def test_a_bot_that_keeps_asking_past_its_bounds_loses_its_channel():
    """Refused requests are not calls, so no bound counted them: a bot could make the worker
    parse and answer requests (up to the size cap each) for as long as its run lasts, its
    process's time taken from every other run of the worker. Past MAX_REFUSED refusals the
    channel closes, as for a frame that is not a call."""
    limit = sandbox.channel.MAX_REFUSED
    handler = Recorder()
    channel = sandbox.channel.ChannelServer(BotServices(call=handler, max_calls=0),
                                            time.monotonic() + 30)
    bot = channel._bot
    bot.settimeout(5)
    replies = []
    try:
        for n in range(limit + 5):
            send(bot, {"id": n, "method": "llm.chat", "params": {}})
            open_still = channel.on_readable()
            replies.append(receive(bot))
            if not open_still:
                break
        ended = bot.recv(10)
    finally:
        channel.close()
    assert [r["error"]["type"] for r in replies] == ["LimitExceeded"] * limit + ["ProtocolError"]
    assert replies[-1]["id"] is None and f"{limit} requests" in replies[-1]["error"]["message"]
    assert ended == b"" and handler.calls == []


def test_a_bot_not_reading_its_replies_never_stalls_the_supervisor():
    """A handler blocked sending a large reply to a bot that does not read holds the send
    lock for up to SEND_SECONDS; a refusal the supervisor answers meanwhile must not wait for
    it (the supervisor stalled, the run's deadline and cancel unwatched, for 5 s)."""
    channel = sandbox.channel.ChannelServer(
        BotServices(call=lambda method, params, timeout: {"text": "x" * 900_000},
                    max_calls=1), time.monotonic() + 30)
    bot = channel._bot
    bot.settimeout(5)
    try:
        send(bot, {"id": 1, "method": "llm.chat", "params": {}})
        assert channel.on_readable()
        time.sleep(0.3)  # the answer fills the socket's buffer: its sender waits for the bot
        send(bot, {"id": 2, "method": "llm.chat", "params": {}})
        started = time.monotonic()
        assert channel.on_readable()
        took = time.monotonic() - started
        assert took < 0.5, took
        replies = {reply["id"]: reply for reply in (receive(bot), receive(bot))}
    finally:
        channel.close()
    assert len(replies[1]["result"]["text"]) == 900_000
    assert replies[2]["error"]["type"] == "LimitExceeded"


def test_an_id_whose_handler_still_runs_is_not_taken_again():
    """A call answered Timeout on its deadline still runs; a request reusing its id while it
    does would get that call's late answer as its own (and its own answer would be lost):
    the channel closes as for two calls in flight with one id."""
    done = threading.Event()

    def slow(method: str, params: dict[str, Any], timeout: float) -> Any:
        done.wait(0.6)
        return {"asked": params["n"]}

    channel = sandbox.channel.ChannelServer(
        BotServices(call=slow, call_timeout_seconds=0.1), time.monotonic() + 30)
    bot = channel._bot
    bot.settimeout(3)
    try:
        send(bot, {"id": 1, "method": "llm.chat", "params": {"n": 1}})
        assert channel.on_readable()
        time.sleep(0.2)
        channel.expire()
        timed_out = receive(bot)
        send(bot, {"id": 1, "method": "llm.chat", "params": {"n": 2}})
        channel.on_readable()
        replay = receive(bot)
    finally:
        done.set()
        channel.close()
    assert timed_out["id"] == 1 and timed_out["error"]["type"] == "Timeout"
    assert replay.get("result") != {"asked": 1}, "the first call's answer came as the second's"
    assert replay["id"] is None and replay["error"]["type"] == "ProtocolError", replay

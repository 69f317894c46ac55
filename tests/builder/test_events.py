"""GET .../{id}/events: woken by the job's NOTIFY (no poll loop), bounded in time, heartbeats,
and nothing lost across reconnects (Last-Event-ID)."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from codex32 import runtime
from codex32.api import openings
from codex32.api.v1.builder import BUSY_RECONNECT_MILLISECONDS, FEED_KEY
from codex32.db import notifications, tenancy
from codex32.execution import builder_jobs
from codex32.services.builder import builds
from tests.builder.conftest import start
from tests.builder.test_generate_accept import events, ready


@pytest.fixture()
def queued(tenant) -> str:
    """A conversation whose generation is queued (no worker runs it: the test writes its
    progress as the job would)."""
    conversation = ready(tenant)
    response = tenant.call("POST", f"/api/v1/builder/conversations/{conversation}/generate")
    assert response.status_code == 202, response.json
    return conversation


def stream_settings(app, monkeypatch, **overrides) -> None:
    rt = runtime.of(app)
    monkeypatch.setattr(rt, "settings", rt.settings.with_overrides(**overrides))


def progress(app, tenant, conversation: str, name: str) -> None:
    """One progress event committed as the job commits it (NOTIFY at commit)."""
    builder_jobs.recorder(runtime.of(app), tenant.workspace_id, conversation)(
        "step", {"round": 1, "name": name, "status": "running"})


def finish(app, tenant, conversation: str) -> None:
    rt = runtime.of(app)
    with rt.sessions() as session, tenancy.bound(session, tenant.workspace_id):
        builds.store(session, conversation, None, "stopped by the test")
        session.commit()


def test_a_stream_wakes_on_the_jobs_notify_not_on_a_poll(app, tenant, queued, monkeypatch):
    # A heartbeat of 60 s: the stream reads the conversation again only when notified.
    stream_settings(app, monkeypatch, builder_events_heartbeat_seconds=60.0,
                    builder_events_max_seconds=20.0)
    response = tenant.call("GET", f"/api/v1/builder/conversations/{queued}/events",
                           buffered=False)
    sent: list[float] = []

    def notify() -> None:
        deadline = time.monotonic() + 15
        while not (app.extensions.get(FEED_KEY) and app.extensions[FEED_KEY].listening):
            if time.monotonic() > deadline:
                return  # the stream's listener did not start (asserted below)
            time.sleep(0.02)
        time.sleep(0.2)  # the stream has read the conversation and waits
        sent.append(time.monotonic())
        progress(app, tenant, queued, "validate")

    # The stream is read in this thread, as a server's worker thread reads it: Flask's
    # stream_with_context pushes the request's context in the thread that starts the stream
    # and pops it where the stream ends, so a stream read elsewhere would leave it pushed here.
    notifier = threading.Thread(target=notify, daemon=True)
    notifier.start()
    received: list[tuple[float, bytes]] = []
    for chunk in response.response:
        received.append((time.monotonic(), chunk))
        if b"validate" in chunk:
            finish(app, tenant, queued)
    notifier.join(timeout=10)
    assert sent, "the stream's listener did not start"
    woke = next(at for at, chunk in received if b"validate" in chunk) - sent[0]
    assert woke < 2.0, woke  # far below the 60 s heartbeat: the NOTIFY woke it
    found = events(b"".join(chunk for _, chunk in received))
    assert [name for _, name, _ in found] == ["step", "done"]
    assert found[-1][2]["error"] == "stopped by the test"
    assert received[0][1].startswith(b"retry: ")


def test_a_stream_ends_after_its_lifetime_and_a_reconnect_loses_nothing(
        app, tenant, queued, monkeypatch):
    stream_settings(app, monkeypatch, builder_events_max_seconds=0.5,
                    builder_events_heartbeat_seconds=0.2)
    path = f"/api/v1/builder/conversations/{queued}/events"
    progress(app, tenant, queued, "generate")
    progress(app, tenant, queued, "syntax")
    started = time.monotonic()
    raw = tenant.call("GET", path).get_data()
    assert time.monotonic() - started < 5
    first = events(raw)
    assert [(i, name) for i, name, _ in first] == [("1", "step"), ("2", "step"),
                                                    (None, "reconnect")]
    assert first[-1][2] == {"last_event_id": 2, "state": "ready", "running": True}
    assert b": heartbeat\n\n" in raw  # the idle stream kept its connection warm
    progress(app, tenant, queued, "lint")
    # The client reconnects with the last id it saw: it gets what came since, once.
    second = events(tenant.call("GET", path, headers={"Last-Event-ID": "2"}).get_data())
    assert [(i, d.get("name")) for i, _, d in second[:-1]] == [("3", "lint")]
    assert second[-1][1] == "reconnect" and second[-1][2]["last_event_id"] == 3
    finish(app, tenant, queued)
    third = events(tenant.call("GET", path, headers={"Last-Event-ID": "3"}).get_data())
    assert [name for _, name, _ in third] == ["done"]


def test_the_feed_falls_back_to_short_waits_while_it_cannot_listen():
    feed = notifications.Feed("postgresql://nobody@127.0.0.1:1/none", "builder_progress")
    with feed.watching("k"):
        mark = feed.mark("k")
        started = time.monotonic()
        feed.wait("k", mark, timeout=30.0)
        assert time.monotonic() - started <= notifications.FALLBACK_SECONDS + 1.0
        assert not feed.listening


def test_a_watcher_past_the_workers_gate_gets_the_stored_events_and_reconnects_at_once(
        app, tenant, queued, monkeypatch):
    stream_settings(app, monkeypatch, builder_events_max_seconds=5.0,
                    builder_events_heartbeat_seconds=60.0)
    monkeypatch.setitem(app.extensions, openings.WATCHING_KEY, openings.OpeningGate(1, 0.0))
    path = f"/api/v1/builder/conversations/{queued}/events"
    progress(app, tenant, queued, "generate")
    # The first watcher takes the process's only slot and waits for the build's next event
    # (its stream is started and left suspended here, in the test's own thread).
    holder = tenant.call("GET", path, buffered=False)
    chunks = iter(holder.response)
    assert next(chunks).startswith(b"retry: 1000")
    try:
        started = time.monotonic()
        raw = tenant.call("GET", path).get_data()
        assert time.monotonic() - started < 2.0  # it did not wait out the 5 s lifetime
    finally:
        holder.close()
    assert raw.startswith(f"retry: {BUSY_RECONNECT_MILLISECONDS}".encode())
    found = events(raw)
    assert [(i, name) for i, name, _ in found] == [("1", "step"), (None, "reconnect")]
    assert found[-1][2] == {"last_event_id": 1, "state": "ready", "running": True}
    # The slot came back when the first stream closed: the next watcher waits for events.
    finish(app, tenant, queued)
    again = tenant.call("GET", path, headers={"Last-Event-ID": "1"}).get_data()
    assert again.startswith(b"retry: 1000") and [n for _, n, _ in events(again)] == ["done"]


@pytest.mark.parametrize(("header", "query"), [
    ("\u00b2", ""), ("", "?after=%C2%B2"), ("\u0661", ""), ("-1", ""), ("1e3", ""),
    ("9" * 40, ""), ("abc", "?after=-5")])
def test_a_forged_last_event_id_replays_from_the_start_never_a_500(tenant, header, query):
    """Superscript two is a digit to str.isdigit that int() refuses: no id, so 0."""
    conversation = start(tenant, message="Every morning check https://example.com")
    path = f"/api/v1/builder/conversations/{conversation['conversation_id']}/events{query}"
    response = tenant.call("GET", path, headers={"Last-Event-ID": header} if header else {})
    assert response.status_code == 200, response.get_data()
    assert [name for _, name, _ in events(response.get_data())] == ["done"]


def test_a_client_that_stops_reading_cannot_hold_the_workers_thread(
        app, tenant, queued, monkeypatch):
    """Under gunicorn the stream's writes time out (openings.bound_writes), as a chat
    stream's do: a client that reads nothing would otherwise hold the thread's blocked write
    for as long as it keeps its connection open."""
    stream_settings(app, monkeypatch, builder_events_max_seconds=0.5)
    server, client = socket.socketpair()
    try:
        response = tenant.call("GET", f"/api/v1/builder/conversations/{queued}/events",
                               buffered=False, environ_overrides={"gunicorn.socket": server})
        assert response.status_code == 200
        assert server.gettimeout() == openings.WRITE_TIMEOUT_SECONDS
        response.close()
    finally:
        server.close()
        client.close()

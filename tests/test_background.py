"""Work left for after a response (codex32.runtime.background, api.transaction.after_sent):
run off the request's thread, so a keep-alive connection's next request does not wait for
it; bounded; drained at the interpreter's exit; a forked worker gets a thread of its own."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
from pathlib import Path

from flask import Flask

from codex32.api import transaction
from codex32.runtime import background

ROOT = Path(__file__).resolve().parents[1]


def test_a_response_is_closed_before_the_work_it_left_is_done():
    app = Flask(__name__)
    release, ran_on = threading.Event(), []

    def record() -> None:
        release.wait(5)
        ran_on.append(threading.current_thread().name)

    @app.post("/answer")
    def answer():
        transaction.after_sent(record)
        return {"ok": True}

    response = app.test_client().post("/answer", buffered=False)
    assert response.json == {"ok": True}
    response.close()  # the server closes it once sent; before, close ran the work itself
    response.close()
    assert ran_on == []  # the closing thread is free: the work waits on its own thread
    release.set()
    assert background.wait_idle(5)
    assert len(ran_on) == 1 and ran_on[0].startswith("codex32-after-response")


def test_work_past_the_backlog_runs_in_the_callers_thread(monkeypatch):
    monkeypatch.setattr(background, "MAX_QUEUED", 1)
    monkeypatch.setattr(background, "_current", {})  # a thread with the smaller bound
    release, threads = threading.Event(), []
    background.run_later(lambda: (release.wait(5), threads.append("first")))
    background.run_later(lambda: threads.append(threading.current_thread().name))
    assert threads == [threading.current_thread().name]  # the second ran here, at once
    release.set()
    assert background.wait_idle(5) and threads[-1] == "first"


def test_work_blocked_in_one_lane_does_not_hold_back_another_and_idle_waits_for_both():
    release, recorded, done = threading.Event(), threading.Event(), []
    background.run_later(lambda: (release.wait(5), done.append("notice")), background.NOTICES)
    background.run_later(lambda: (done.append("record"), recorded.set()))
    assert recorded.wait(2) and done == ["record"]  # while the other lane's work waited
    assert not background.wait_idle(0.1)  # the notice is not done yet
    release.set()
    assert background.wait_idle(5) and done == ["record", "notice"]


def test_a_failing_work_is_logged_and_the_next_one_still_runs(caplog):
    done = threading.Event()

    def broken() -> None:
        raise RuntimeError("no database")

    with caplog.at_level(logging.ERROR, logger="codex32.runtime.background"):
        background.run_later(broken)
        background.run_later(done.set)
        assert background.wait_idle(5)
    assert done.is_set() and "no database" in caplog.text


def test_work_queued_before_the_process_exits_is_done(tmp_path):
    # A worker's graceful stop ends its interpreter: what it queued is written first.
    marker = tmp_path / "written"
    script = (
        "import sys, time\n"
        "from pathlib import Path\n"
        "from codex32.runtime import background\n"
        "def record():\n"
        "    time.sleep(0.3)\n"
        f"    Path({str(marker)!r}).write_text('ok')\n"
        "background.run_later(record)\n"
        "sys.exit(0)\n")
    subprocess.run([sys.executable, "-c", script], cwd=ROOT, check=True, timeout=60)
    assert marker.read_text() == "ok"


def test_a_forked_process_runs_its_work_on_a_thread_of_its_own():
    # gunicorn forks its workers from a master that may have used the thread already: the
    # parent's thread does not exist in the child, whose work would wait forever on it.
    background.run_later(lambda: None)
    assert background.wait_idle(5)
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover (the child's coverage is not collected)
        try:
            background.run_later(lambda: os.write(write, b"ran"))
            os._exit(0 if background.wait_idle(5) else 1)
        finally:
            os._exit(2)
    os.close(write)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert os.read(read, 10) == b"ran"


def test_a_stopping_process_drains_its_records_first_within_its_deadline(monkeypatch):
    """A worker's graceful stop: the records are waited for first, then the notices with the
    time left; the drain ends by its deadline (before the master's SIGKILL) and says what it
    left, and housekeeping queued is dropped rather than waited for."""
    import time

    monkeypatch.setattr(background, "_current", {})
    release, done = threading.Event(), []
    background.run_later(lambda: (release.wait(5), done.append("notice")), background.NOTICES)
    background.offer(lambda: (release.wait(5), done.append("prune")), background.UPKEEP)
    background.offer(lambda: done.append("second prune"), background.UPKEEP)
    background.run_later(lambda: (time.sleep(0.3), done.append("record")))
    started = time.monotonic()
    left = background.drain(started + 1.0)
    assert time.monotonic() - started < 1.5
    assert done == ["record"] and left[background.NOTICES] == 1
    assert background.RECORDS not in left
    release.set()
    assert background.wait_idle(5) and "second prune" not in done

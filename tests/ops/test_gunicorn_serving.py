"""A real gunicorn on gunicorn.conf.py: SIGTERM lets in-flight requests finish, and a stopping
worker ends its streams and writes their records before the master's kill."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import urllib.request
from pathlib import Path

from codex32.testing.receivers import free_port
from tests.ops.conftest import wait_until

CONF = Path(__file__).resolve().parents[2] / "gunicorn.conf.py"

APP = '''
import os, time
from pathlib import Path
from prometheus_client import Counter, Gauge

REQUESTS = Counter("test_requests", "requests")
ALIVE = Gauge("test_alive", "alive workers", multiprocess_mode="livesum")
ALIVE.inc()
HERE = Path(__file__).parent

def app(environ, start_response):
    REQUESTS.inc()
    if environ["PATH_INFO"] == "/slow":
        (HERE / "slow-started").write_text(str(os.getpid()))
        time.sleep(1.0)
        body = b"done"
    else:
        body = b"ok"
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body)))])
    return [body]
'''


def _get(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.read().decode()
    except OSError:
        return None


def test_sigterm_lets_in_flight_requests_finish(tmp_path):
    (tmp_path / "slowapp.py").write_text(textwrap.dedent(APP))
    metrics = tmp_path / "metrics"
    metrics.mkdir()
    (metrics / "counter_999999.db").write_bytes(b"left by a previous run")
    port = free_port()
    env = {**os.environ, "PORT": str(port), "WEB_CONCURRENCY": "2",
           "DATABASE_URL": "postgresql://unused@127.0.0.1:9/unused",
           "GUNICORN_GRACEFUL_TIMEOUT": "10", "LOG_LEVEL": "INFO", "LOG_JSON": "true",
           "PROMETHEUS_MULTIPROC_DIR": str(metrics)}
    master = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--config", str(CONF), "--pythonpath", str(tmp_path),
         "slowapp:app"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        assert wait_until(lambda: _get(base + "/"), 15, "gunicorn to serve") == "ok"
        assert not (metrics / "counter_999999.db").exists()
        assert list(metrics.glob("counter_*.db")), "workers write metrics to the directory"

        slow: dict[str, str | None] = {}
        client = threading.Thread(target=lambda: slow.update(body=_get(base + "/slow")))
        client.start()
        wait_until(lambda: (tmp_path / "slow-started").exists(), 5, "the slow request to start")
        master.send_signal(signal.SIGTERM)
        client.join(timeout=10)
        assert slow.get("body") == "done"
        assert master.wait(timeout=10) == 0
    finally:
        if master.poll() is None:
            master.kill()
            master.wait()
    _, stderr = master.communicate()
    # child_exit marked every worker dead: no live gauge file is left behind.
    assert not list(metrics.glob("gauge_livesum_*.db"))
    records = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    assert any(r["logger"] == "gunicorn.error" and "Shutting down" in r["message"]
               for r in records), stderr[-2000:]


STREAMING_APP = '''
import time
from pathlib import Path
from codex32.runtime import background

HERE = Path(__file__).parent

def record():
    time.sleep(0.5)
    (HERE / "record").write_text("written")

def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    if environ["PATH_INFO"] != "/stream":
        return [b"ok"]
    def body():
        (HERE / "stream-started").write_text("1")
        for _ in range(300):  # 30 s, as the gateway's relay checks between pieces
            stop = background.stopping_by()
            if stop is not None and time.monotonic() > stop:
                background.run_later(record)  # its record, written after it
                return
            yield b"."
            time.sleep(0.1)
    return body()
'''


def test_a_real_worker_ends_a_stream_and_writes_its_record_before_graceful_timeout(tmp_path):
    """Under gunicorn: SIGTERM while a response streams; the stream ends before the master's
    kill (graceful_timeout after the SIGTERM) and the record it queued is written. Before,
    the stream flowed on until the worker was killed, and nothing was written."""
    (tmp_path / "streamapp.py").write_text(textwrap.dedent(STREAMING_APP))
    metrics = tmp_path / "metrics"
    metrics.mkdir()
    port = free_port()
    env = {**os.environ, "PORT": str(port), "WEB_CONCURRENCY": "1",
           "DATABASE_URL": "postgresql://unused@127.0.0.1:9/unused",
           "GUNICORN_GRACEFUL_TIMEOUT": "6", "LOG_LEVEL": "INFO", "LOG_JSON": "true",
           "PROMETHEUS_MULTIPROC_DIR": str(metrics)}
    master = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--config", str(CONF), "--pythonpath",
         str(tmp_path), "streamapp:app"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        client = threading.Thread(target=lambda: _get(base + "/stream"), daemon=True)
        assert wait_until(lambda: _get(base + "/"), 15, "gunicorn to serve") == "ok"
        client.start()
        wait_until(lambda: (tmp_path / "stream-started").exists(), 5, "the stream to start")
        time.sleep(0.3)
        sent = time.monotonic()
        master.send_signal(signal.SIGTERM)
        assert master.wait(timeout=15) == 0
        assert time.monotonic() - sent < 6  # ended before the kill
    finally:
        if master.poll() is None:
            master.kill()
            master.wait()
    assert (tmp_path / "record").read_text() == "written"

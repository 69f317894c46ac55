"""Benchmark: bot executions end to end (API -> queue -> two workers -> sandbox -> stored), and
bare interpreter starts measured in the same run.

Starts a throwaway migrated PostgreSQL (bench/harness.py), the app in-process (its test client
makes the POSTs, so no HTTP server sits in the path), and two ``codex32 worker`` processes with
``WORKER_CONCURRENCY`` each and a 60 s polling fallback, so only LISTEN/NOTIFY can wake them
fast. Then, for a trivial bot:

1. latency: ``--runs`` executions one after another; enqueue-to-start is the execution's
   ``started_at`` minus its ``queued_at`` (both written by Python on this host, before the
   queuing commit and as the worker marks it running), and also minus the moment the POST
   began. Between runs, one bare ``python -I -S -c pass`` and one ``python -c pass`` start, so
   both are measured under the same conditions; the sandbox's own wall time per run
   (``duration_seconds``: from spawning the launcher to reaping it) is compared with them.
2. throughput: ``--burst`` executions queued while the workers are frozen (SIGSTOP), then
   executions per second from their release (SIGCONT) until the last is stored, against the
   same number of bare starts run by as many parallel loops as the workers have slots.

Usage: ``python bench/execution_bench.py [--runs 100] [--burst 200] [--concurrency 2]``.
Prints ``target ... PASS|FAIL`` lines (bench/run.py collects them). Everything it starts is
stopped on exit.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
from harness import REPO, percentile, signed_up_headers, start_database, verdict

from codex32.testing.receivers import free_port

TRIVIAL_BOT = "def main(event, context):\n    return {'ok': True}\n"
PASSWORD = "correct horse battery staple"
START_P50_TARGET_MS = 50.0
OVERHEAD_TARGET = 1.5


def _worker_env(database, data_dir: Path, port: int, concurrency: int) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("CODEX32_", "WORKER_", "DATABASE_URL", "PROMETHEUS"))}
    env.update({
        "DATABASE_URL": database.urls.runtime, "MIGRATION_DATABASE_URL": database.urls.owner,
        "CODEX32_DATA_DIR": str(data_dir), "CODEX32_ENV": "test", "SECRET_KEY": "s" * 40,
        "JWT_SECRET_KEY": "j" * 40, "CODEX32_SECRETS_KEYS": "k" * 44,
        "CODEX32_LOAD_PLUGINS": "builtin", "LOG_LEVEL": "WARNING",
        "WORKER_CONCURRENCY": str(concurrency), "WORKER_POLL_SECONDS": "60",
        "CODEX32_WORKER_PORT": str(port),
    })
    return env


def _start_workers(database, folder: Path, count: int, concurrency: int,
                   stack: contextlib.ExitStack) -> list[subprocess.Popen]:
    ports = []
    for index in range(count):
        port = free_port()
        log = (folder / f"worker-{index}.log").open("wb")
        stack.callback(log.close)
        process = subprocess.Popen(
            [sys.executable, "-m", "codex32.cli", "worker"], cwd=REPO, stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True,
            env=_worker_env(database, folder / "data", port, concurrency))
        stack.callback(_stop, process)
        ports.append((port, process))
    deadline = time.monotonic() + 60
    for port, process in ports:
        while True:
            if process.poll() is not None:
                raise SystemExit(f"a worker exited: see {folder}")
            if _ready(port):
                break
            if time.monotonic() > deadline:
                raise SystemExit("the workers did not get ready in 60 s")
            time.sleep(0.1)
    return [process for _port, process in ports]


def _ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health/ready", timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _bare(argv: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, check=True)
    return time.perf_counter() - started


class Platform:
    """The in-process app, one workspace with a trivial bot, and a superuser connection."""

    def __init__(self, database, folder: Path) -> None:
        from codex32.app import create_app
        from codex32.config import Settings

        settings = Settings(env="test", data_dir=folder / "app", secret_key="s" * 40,
                            jwt_secret_key="j" * 40, secrets_keys=["k" * 44],
                            argon2_time_cost=1, argon2_memory_kib=8192,
                            rate_limit_per_minute=10_000_000, log_level="WARNING",
                            load_plugins=["builtin"])
        self.client = create_app(settings, database.urls).test_client()
        self.headers, _workspace = signed_up_headers(
            self.client, "Bench", f"bench-{uuid.uuid4().hex[:8]}", "bench@example.com", PASSWORD)
        bot = self.client.post("/api/v1/bots", headers=self.headers,
                               json={"name": "trivial", "code": TRIVIAL_BOT}).json
        self.bot_id = bot["id"]
        self.db = psycopg.connect(database.admin_dsn, autocommit=True)

    def enqueue(self) -> str:
        response = self.client.post(f"/api/v1/bots/{self.bot_id}/executions",
                                    headers=self.headers, json={})
        assert response.status_code == 202, response.json
        return response.json["id"]

    def row(self, execution_id: str) -> tuple:
        return self.db.execute(
            "SELECT status, queued_at, started_at, completed_at, duration_seconds "
            "FROM bot_executions WHERE id = %s", (execution_id,)).fetchone()

    def wait(self, execution_id: str, timeout: float = 60.0) -> tuple:
        deadline = time.monotonic() + timeout
        while True:
            row = self.row(execution_id)
            if row[0] not in ("queued", "running"):
                if row[0] != "succeeded":
                    raise SystemExit(f"execution {execution_id} ended {row[0]}")
                return row
            if time.monotonic() > deadline:
                raise SystemExit(f"execution {execution_id} did not finish in {timeout} s")
            time.sleep(0.001)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--burst", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=2, help="job slots per worker")
    args = parser.parse_args()
    workers = 2
    with contextlib.ExitStack() as stack:
        folder = Path(tempfile.mkdtemp(prefix="codex32-execution-bench-"))
        stack.callback(shutil.rmtree, folder, ignore_errors=True)
        database = start_database(folder / "db")
        stack.callback(database.close)
        platform = Platform(database, folder)
        stack.callback(platform.db.close)
        processes = _start_workers(database, folder, workers, args.concurrency, stack)
        from codex32.plugins.defaults.subprocess_executor import SubprocessExecutor

        level = SubprocessExecutor().isolation_level()
        for _ in range(4 * workers):  # each worker probes its sandbox once
            platform.wait(platform.enqueue())

        bare_isolated = [sys.executable, "-I", "-S", "-c", "pass"]
        bare_plain = [sys.executable, "-c", "pass"]
        queued_to_start, post_to_start, sandbox, isolated, plain = [], [], [], [], []
        for _ in range(args.runs):
            posted = time.time()
            execution_id = platform.enqueue()
            _, queued_at, started_at, _, duration = platform.wait(execution_id)
            queued_to_start.append((started_at - queued_at).total_seconds())
            post_to_start.append(started_at.timestamp() - posted)
            sandbox.append(duration)
            isolated.append(_bare(bare_isolated))
            plain.append(_bare(bare_plain))

        # The burst is queued while the workers are frozen, so the drain rate measures the
        # workers, not how fast this one process can POST.
        for process in processes:
            process.send_signal(signal.SIGSTOP)
        try:
            posted = time.time()
            ids = [platform.enqueue() for _ in range(args.burst)]
            posted_in = time.time() - posted
        finally:
            for process in processes:
                process.send_signal(signal.SIGCONT)
        resumed = time.time()
        rows = [platform.wait(execution_id, timeout=300) for execution_id in ids]
        elapsed = max(row[3] for row in rows).timestamp() - resumed
        rate = args.burst / elapsed
        slots = workers * args.concurrency
        bare_started = time.perf_counter()
        with ThreadPoolExecutor(slots) as pool:
            list(pool.map(lambda _: _bare(bare_isolated), range(args.burst)))
        bare_rate = args.burst / (time.perf_counter() - bare_started)

    def ms(values: list[float], pct: float) -> float:
        return percentile(values, pct) * 1000

    print(f"isolation level: {level}; {workers} workers x {args.concurrency} slots; "
          f"{args.runs} sequential runs, a burst of {args.burst}")
    print(f"{'':44}{'p50 ms':>9}{'p99 ms':>9}")
    for label, values in (("enqueue -> start (queued_at -> started_at)", queued_to_start),
                          ("POST begun -> start", post_to_start),
                          ("sandbox run of the trivial bot", sandbox),
                          ("bare python -I -S -c pass", isolated),
                          ("bare python -c pass", plain)):
        print(f"{label:44}{ms(values, 50):9.2f}{ms(values, 99):9.2f}")
    ratio = statistics.median(sandbox) / statistics.median(isolated)
    plain_ratio = statistics.median(sandbox) / statistics.median(plain)
    print(f"burst: {args.burst} POSTed in {posted_in:.2f} s (workers frozen), then all run and "
          f"stored in {elapsed:.2f} s: {rate:.1f} executions/s end to end; bare -I -S starts "
          f"with {slots} parallel loops: {bare_rate:.1f}/s ({rate / bare_rate:.0%} of it)")
    p50 = ms(queued_to_start, 50)
    print(f"target enqueue-to-start p50 < {START_P50_TARGET_MS:.0f} ms: {p50:.1f} ms "
          f"{verdict(p50 < START_P50_TARGET_MS)}")
    print(f"target sandbox run <= {OVERHEAD_TARGET}x a bare `python -c` start: "
          f"{plain_ratio:.2f}x {verdict(plain_ratio <= OVERHEAD_TARGET)}")
    print(f"(stricter, against `python -I -S -c pass`, the sandbox's own interpreter flags: "
          f"{ratio:.2f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

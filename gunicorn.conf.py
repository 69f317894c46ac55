"""Gunicorn settings for the web process, read from the environment.

``gunicorn --config gunicorn.conf.py wsgi:app`` (the Procfile's ``web``). Every value can be set
from the environment; unset ones are sized to the machine or container (CPU quota and memory
limit of the cgroup, not the host's):

=============================  ===========================================================
``PORT``                       port to listen on, on all interfaces (8000)
``WEB_CONCURRENCY``            worker processes (2 x CPUs + 1, capped by memory)
``GUNICORN_WORKER_CLASS``      ``gthread`` (default), ``gevent``, ``sync``
``GUNICORN_THREADS``           threads per gthread worker (64)
``GUNICORN_WORKER_CONNECTIONS``  requests one gevent worker serves at once (1000)
``GUNICORN_TIMEOUT``           seconds before a silent worker is killed and replaced (30)
``GUNICORN_GRACEFUL_TIMEOUT``  seconds in-flight requests get after SIGTERM (30)
``GUNICORN_KEEPALIVE``         seconds to hold an idle keep-alive connection (5)
``GUNICORN_MAX_REQUESTS``      recycle a worker after this many requests (0: never)
``GUNICORN_SWITCH_INTERVAL_MS``  how long a thread may hold the GIL while others wait (5)
``GUNICORN_WORKER_MEMORY_MB``  memory one worker is expected to use, for sizing (256)
``LOG_LEVEL``, ``LOG_JSON``    as for every Codex-32 process (INFO, true)
``PROMETHEUS_MULTIPROC_DIR``   where workers write metrics for /metrics to aggregate
=============================  ===========================================================

SIGTERM is a graceful shutdown (gunicorn's own behaviour, kept): the master closes the listening
socket, each worker finishes the requests it holds for up to ``graceful_timeout`` seconds, then
exits. Platforms must wait longer than that before SIGKILL (Kubernetes:
``terminationGracePeriodSeconds``; Heroku gives 30 s). The master kills a worker still running
at ``graceful_timeout``: so that what it served is recorded first, a stream still flowing ends
``records_reserve`` seconds before (a third of it, at most 5 s; recorded with what it produced),
and the worker's exit writes the LLM records it queued, before its notices, until just before
the kill (``watch_stop``, ``worker_exit``; docs/llm-gateway.md, "Recorded after the answer").

Serving model: gthread workers with 64 threads each. A streamed chat holds its request (and
so a thread) for its whole length; with 4 threads a worker, 200 streams of 2 s queued every
other request behind them (another workspace's GET waited up to 22 s). With 64, the streams
fit, and idle threads cost only their stacks. gunicorn bounds no write of a request's thread
(``timeout`` watches the worker, whose main loop beats on while a thread is blocked): a
streamed chat gives its socket a send timeout (codex32.api.openings.bound_writes), so a
client that stops reading frees its thread and the stream is recorded.
gevent workers (``GUNICORN_WORKER_CLASS=gevent``,
``pip install codex32[gevent]``) serve more at once per worker but, measured on the same
machine, used more CPU for the same streams and gave the GET a worse tail (bench/stream_bench.py;
figures and reasoning in docs/operations.md, "Serving model"). Either way the bounds on provider
calls and the database pool are sized to what a worker serves at once (below). The master never
imports the app (it prepares the embedded database in a child process): a gevent worker must
import it, psycopg above all, after its monkey-patching.

Metrics: prometheus_client runs in multiprocess mode. The directory is chosen here, before any
worker imports prometheus_client, created and emptied when the master starts, and a dead
worker's files are marked in ``child_exit`` so its live gauges stop counting.
"""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from gunicorn import glogging

from codex32.observability.logging import configure_logging, parse_level

MIB = 1024 * 1024
CGROUP_ROOT = Path("/sys/fs/cgroup")
BOOLEANS = {"1": True, "true": True, "yes": True, "on": True,
            "0": False, "false": False, "no": False, "off": False}


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    if not value:
        return default
    try:
        return int(value)
    except ValueError as exc:
        raise ValueError(f"{name} must be an integer, got {value!r}") from exc


def _env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name, "").strip().lower()
    if not value:
        return default
    if value not in BOOLEANS:
        raise ValueError(f"{name} must be true or false, got {value!r}")
    return BOOLEANS[value]


def cgroup_cpu_limit(root: Path = CGROUP_ROOT) -> float | None:
    """CPUs the cgroup quota allows (cgroup v2, then v1), or None when unlimited."""
    try:
        quota, period = (root / "cpu.max").read_text().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        quota_us = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period_us = int((root / "cpu" / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    return quota_us / period_us if quota_us > 0 and period_us > 0 else None


def cgroup_memory_limit(root: Path = CGROUP_ROOT) -> int | None:
    """Bytes the cgroup may use (cgroup v2, then v1), or None when unlimited."""
    for path in (root / "memory.max", root / "memory" / "memory.limit_in_bytes"):
        try:
            text = path.read_text().strip()
        except OSError:
            continue
        if text.isdigit() and int(text) < 1 << 60:  # v1 writes a huge number for "no limit"
            return int(text)
        return None
    return None


def available_cpus(root: Path = CGROUP_ROOT) -> int:
    """CPUs this process may use: its affinity mask, lowered to the cgroup quota."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    cpus = cpus or 1
    quota = cgroup_cpu_limit(root)
    if quota is not None:
        cpus = min(cpus, math.ceil(quota))
    return max(1, cpus)


def available_memory(root: Path = CGROUP_ROOT) -> int | None:
    """Bytes this process may use: the cgroup limit, else physical memory."""
    limit = cgroup_memory_limit(root)
    if limit is not None:
        return limit
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def default_workers(cpus: int, memory_bytes: int | None, worker_memory_mb: int = 256) -> int:
    """``2 x CPUs + 1`` workers, but no more than the memory holds, and at least one."""
    workers = 2 * cpus + 1
    if memory_bytes:
        workers = min(workers, memory_bytes // (worker_memory_mb * MIB))
    return max(1, workers)


def prepare_multiproc_dir(path: Path) -> None:
    """Create the metrics directory (for this user only) and delete files a previous run left
    behind.

    Only prometheus_client's ``*.db`` files are removed, so a mistaken setting cannot wipe an
    unrelated directory. A directory another user owns or may write is refused: the default
    name under /tmp is guessable, and workers open and write through whatever ``*.db`` file
    (or symlink) they find there.
    """
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    found = path.stat()
    if found.st_uid != os.geteuid() or found.st_mode & 0o022:
        raise RuntimeError(f"PROMETHEUS_MULTIPROC_DIR {path} is owned or writable by another "
                           "user: remove it, or set PROMETHEUS_MULTIPROC_DIR to a folder of "
                           "this user's")
    for stale in path.glob("*.db"):
        stale.unlink(missing_ok=True)


# --- where and how many ------------------------------------------------------------------

wsgi_app = "wsgi:app"
proc_name = "codex32-web"
port = _env_int("PORT", 8000)
bind = [f"0.0.0.0:{port}"]  # another address: GUNICORN_CMD_ARGS="--bind 127.0.0.1:8000"

# A request that waits on a provider or relays a stream holds a thread (gthread) or a greenlet
# (gevent) for seconds: the worker serves ``capacity`` requests at once. 64 threads a worker
# hold 200 streams of 2 s beside the rest of the API (bench/stream_bench.py); 4 did not.
worker_class = os.environ.get("GUNICORN_WORKER_CLASS", "").strip() or "gthread"
threads = _env_int("GUNICORN_THREADS", 64 if worker_class == "gthread" else 1)
worker_connections = _env_int("GUNICORN_WORKER_CONNECTIONS", 1000)
capacity = {"gthread": threads, "gevent": worker_connections}.get(worker_class, 1)
# The bounds protect that capacity: one workspace's provider calls may hold at most half of it
# (so never all of a worker's threads, bench/starvation_bench.py), one plugin all of it; one
# more is refused at once (429). 4 threads give the former defaults, 2 and 16.
os.environ.setdefault("PLUGIN_CALLS_PER_WORKSPACE", str(max(2, capacity // 2)))
os.environ.setdefault("PLUGIN_CALLS_PER_PLUGIN", str(max(16, capacity)))
# Chats (a stream holds its thread for its whole length) may take all but an eighth of it
# (56 of 64 threads); one more is refused at once (429) and retried by its client, so a worker
# that accepted more streams than its share still serves the rest of the API.
os.environ.setdefault("CHATS_PER_WORKER", str(max(1, capacity - max(2, capacity // 8))))
# With tens of requests at once in a worker the pool is really used: 10 (+5) connections a
# worker, so 2 x CPUs + 1 workers stay within a small server's max_connections (100) beside the
# job workers (20 + 40 ran it out: "too many clients"); a request queues for a connection.
os.environ.setdefault("DB_POOL_SIZE", "10")
os.environ.setdefault("DB_MAX_OVERFLOW", "5")
workers = _env_int(
    "WEB_CONCURRENCY",
    default_workers(available_cpus(), available_memory(),
                    _env_int("GUNICORN_WORKER_MEMORY_MB", 256)),
)
# The app reads WEB_CONCURRENCY to warn about per-process caches: tell it the real count.
os.environ["WEB_CONCURRENCY"] = str(workers)

# Each worker builds its own app, database pool and Sentry client after the fork.
preload_app = False

# --- time ---------------------------------------------------------------------------------

timeout = _env_int("GUNICORN_TIMEOUT", 30)
graceful_timeout = _env_int("GUNICORN_GRACEFUL_TIMEOUT", 30)
keepalive = _env_int("GUNICORN_KEEPALIVE", 5)
# The last seconds of graceful_timeout are the records': streams still flowing end this long
# before the master's SIGKILL, and the worker's exit waits for its queued records until just
# before it (watch_stop, worker_exit).
records_reserve = min(5.0, graceful_timeout / 3)
KILL_MARGIN = 0.5  # seconds: the master's SIGKILL, timed from its SIGTERM, may come this early
max_requests = _env_int("GUNICORN_MAX_REQUESTS", 0)
max_requests_jitter = _env_int("GUNICORN_MAX_REQUESTS_JITTER", max_requests // 10)
# How long a busy thread keeps the GIL while another waits for it (Python's default: 5 ms).
# A request waiting on the database gives the GIL up at each round trip and waits this long
# to get it back whenever another thread is computing.
switch_interval_ms = float(os.environ.get("GUNICORN_SWITCH_INTERVAL_MS", "").strip() or 5)

# Worker heartbeats on tmpfs: a container's disk-backed /tmp can stall them into timeouts.
worker_tmp_dir = "/dev/shm" if os.access("/dev/shm", os.W_OK) else None
# No runtime control socket: nothing in a container uses it, and it needs a writable $HOME.
control_socket_disable = True

# --- logs ---------------------------------------------------------------------------------

log_level = os.environ.get("LOG_LEVEL", "INFO").strip().upper() or "INFO"
parse_level(log_level)  # fail at start-up on a typo, not at the first log line
log_json = _env_bool("LOG_JSON", True)
loglevel = log_level.lower()
# The app logs each request itself (with the route template, workspace and latency).
accesslog = None
errorlog = "-"


class JsonLogger(glogging.Logger):
    """Gunicorn's own messages through the platform's handler: one JSON line each."""

    def setup(self, cfg):
        super().setup(cfg)
        configure_logging(log_level, json=log_json)
        for log in (self.error_log, self.access_log):
            for handler in list(log.handlers):
                log.removeHandler(handler)
            log.propagate = True


logger_class = JsonLogger

# --- metrics ------------------------------------------------------------------------------

# Set before any worker imports prometheus_client; workers inherit the master's environment.
# One directory per port, so two servers on one machine do not clear each other's files.
multiproc_dir = Path(os.environ.setdefault(
    "PROMETHEUS_MULTIPROC_DIR",
    str(Path(tempfile.gettempdir()) / f"codex32-metrics-{port}"),
))


def on_starting(server) -> None:
    """Master start: an empty metrics directory, so counters do not resume a dead run's, and
    the embedded database ready before any worker forks."""
    prepare_multiproc_dir(multiproc_dir)
    server.log.info("metrics directory %s emptied; %s %s worker(s) x %s thread(s)",
                    multiproc_dir, workers, worker_class, threads)
    prepare_embedded_database(server)


PREPARE_EMBEDDED = """
from codex32.config import Settings
from codex32.db.urls import resolve

settings = Settings.from_env()
resolve(settings)
print(settings.data_dir)
"""


def prepare_embedded_database(server) -> None:
    """Without DATABASE_URL, start the embedded PostgreSQL and create its roles here, once:
    workers that start at once then only find it prepared (each preparing it raced).

    In a child process: the master must not import the app's modules (psycopg, SQLAlchemy),
    which a gevent worker has to import after its monkey-patching, not inherit from before it.
    """
    if os.environ.get("DATABASE_URL"):  # checked first: other settings are the app's to read
        return
    done = subprocess.run([sys.executable, "-c", PREPARE_EMBEDDED], stdout=subprocess.PIPE,
                          text=True, check=True)
    server.log.info("embedded PostgreSQL ready under %s", done.stdout.strip().splitlines()[-1])


def child_exit(server, worker) -> None:
    """A worker died (or was recycled): drop its live gauges from the aggregate."""
    from prometheus_client import multiprocess  # imported late: after the directory is set

    multiprocess.mark_process_dead(worker.pid, str(multiproc_dir))


def on_exit(server) -> None:
    """Master exit, after the graceful shutdown completed."""
    server.log.info("codex32-web stopped")


def post_worker_init(worker) -> None:
    """Check gevent's patching reached the database driver; freeze the objects the app loaded
    (plugins, SDKs, schemas) out of the cyclic GC.

    A worker holds a few hundred MiB of long-lived objects after start-up; without this every
    full collection walks all of them, costing CPU and tail latency on ordinary requests.
    """
    from codex32.runtime import heap

    if worker_class == "gevent":
        from psycopg import waiting

        if waiting.wait is getattr(waiting, "wait_c", None):  # imported before the patching
            worker.log.warning("psycopg waits without yielding to gevent: every query blocks "
                               "this worker's other requests")
    sys.setswitchinterval(switch_interval_ms / 1000)
    watch_stop()
    heap.freeze()  # and what plugins import on first use, once (codex32.runtime.heap)


_killed_at: float | None = None  # in a stopping worker: when the master kills it (monotonic)


def watch_stop() -> None:
    """In a worker: on SIGTERM (a graceful stop; the master kills the worker graceful_timeout
    later), have streams end ``records_reserve`` seconds before that, recorded
    (codex32.runtime.background.stop_by), then let gunicorn's own handler stop the worker."""
    from codex32.runtime import background

    previous = signal.getsignal(signal.SIGTERM)

    def stopping(signum, frame) -> None:
        global _killed_at
        _killed_at = time.monotonic() + graceful_timeout
        background.stop_by(_killed_at - records_reserve)
        if callable(previous):
            previous(signum, frame)

    signal.signal(signal.SIGTERM, stopping)
    signal.siginterrupt(signal.SIGTERM, False)  # as gunicorn: no active request disturbed


def worker_exit(server, worker) -> None:
    """In the worker, once it stopped serving: write its queued records first (then its
    notices) until just before the master kills it; what is left is logged (a record's
    pending ledger row is settled by the maintenance sweep at its reserved maximum)."""
    from codex32.runtime import background

    killed_at = _killed_at or time.monotonic() + graceful_timeout
    left = background.drain(killed_at - KILL_MARGIN)
    if left:
        worker.log.warning("worker stopped with background work left undone: %s", left)

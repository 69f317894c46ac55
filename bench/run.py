"""Codex-32 benchmarks: one entry point that prints its figures and the targets.

    python bench/run.py [--duration 10] [--connections 32] [--large]
                        [--only api|providers|gateway|sandbox|execution|starvation]

``api``: a throwaway PostgreSQL (embedded in a temporary folder, or a fresh database on the
server named by ``BENCH_DATABASE_URL``), migrated; the product served as deployed
(``gunicorn --config gunicorn.conf.py wsgi:app``, production settings, 4 workers of
``--worker-class``: gthread with gunicorn.conf.py's threads, as deployed, or sync; request
log at INFO captured to a file) and the bare reference (bench/reference_app.py: Flask + psycopg,
the same SQL, same gunicorn settings) side by side; wrk drives each (GET the bot list, POST a
bot), sampling the RSS of each server's workers and the CPU each server, PostgreSQL and the
rest of the machine use (CPU per request is the figure least disturbed by other load; "other
CPUs" says how disturbed a run was). ``--large`` then loads 1,000,000 bots over 1,000
workspaces, measures the list again, and times the list SQL alone before and after the load
(table size vs workspace size).
``providers``: bench/provider_bench.py (the provider layer's overhead over the bare SDK).
``gateway``: bench/gateway_bench.py (the gateway's overhead through gunicorn over the bare SDK,
cache hits server-side).
``sandbox``, ``execution``: bench/sandbox_bench.py and bench/execution_bench.py when present.
``starvation``: bench/starvation_bench.py (another workspace's GET /bots while one workspace's
provider tests hang on a slow provider, sync workers vs the deployed gthread model).

Everything it starts (database, servers, wrk) is stopped, and its temporary folders removed,
on exit, on an error and on Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import functools
import json
import os
import platform
import re
import resource
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import psutil
import psycopg
from harness import (  # the servers' start-up lives in harness.py; re-exported here
    RATE_LIMIT,
    REPO,
    BenchDatabase,
    BenchError,
    Server,
    base_environment,
    free_port,
    gunicorn_command,
    http_json,
    percentile,
    product_environment,
    sibling_database,
    start_database,
    start_server,
    verdict,
)

BENCH = REPO / "bench"
SECTIONS = ("api", "providers", "gateway", "sandbox", "execution", "starvation")
WARMUP_SECONDS = 2
LIST_BOTS = 60
PAGE_SIZE = 50
LARGE_WORKSPACES = 1000
LARGE_BOTS_PER_WORKSPACE = 1000
BOT_CODE = "def main(event, context):\n    return {'ok': True}\n"
# Targets (docs/performance.md).
LIST_RPS_SHARE = 0.60
P99_LIMIT_MS = 100.0
LARGE_TOLERANCE = 1.20


# --- wrk ----------------------------------------------------------------------------------


@dataclass
class Figures:
    """One measured run."""

    label: str
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int
    rss_mib: float
    cpu_ms: float
    db_cpu_ms: float | None
    other_cpus: float
    reference: Figures | None = None
    paired_ratio: float | None = None

    @property
    def ratio(self) -> float | None:
        """Requests/s over the reference's: the median of same-round ratios when paired."""
        if self.paired_ratio is not None:
            return self.paired_ratio
        return self.rps / self.reference.rps if self.reference and self.reference.rps else None


class RssSampler:
    """Peak resident memory of each worker of a gunicorn master, sampled every 0.2 s."""

    def __init__(self, server: Server, interval: float = 0.2) -> None:
        self.server, self.interval = server, interval
        self.peaks: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> RssSampler:
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def _sample(self) -> None:
        for worker in self.server.workers():
            with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                rss = worker.memory_info().rss
                self.peaks[worker.pid] = max(self.peaks.get(worker.pid, 0), rss)

    @property
    def peak_mib(self) -> float:
        return max(self.peaks.values(), default=0) / (1024 * 1024)


def _cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


def _busy_cpu_seconds() -> float:
    """CPU seconds the whole machine spent busy (not idle, not waiting for I/O) since boot."""
    times = psutil.cpu_times()
    return sum(times) - times.idle - getattr(times, "iowait", 0.0) - getattr(
        times, "guest", 0.0) - getattr(times, "guest_nice", 0.0)


def _children_cpu_seconds() -> float:
    """CPU seconds of this process and the children it has waited for (wrk)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


class CpuMeter:
    """CPU used during a run: by a server's processes, by PostgreSQL, and by everything else.

    The server's CPU per request is what the code costs whatever else runs on the machine.
    "Other" is the machine's busy time minus the server, PostgreSQL, wrk and this process:
    CPU taken by anything outside the benchmark (a test suite, the kernel), i.e. noise.
    """

    def __init__(self, server: Server, db_pid: int | None) -> None:
        self.server, self.db_pid = server, db_pid
        self.server_seconds = 0.0
        self.db_seconds: float | None = None
        self.other_cpus = 0.0

    def _server_cpu(self) -> dict[int, float]:
        found = {}
        with contextlib.suppress(psutil.NoSuchProcess):
            for process in (psutil.Process(self.server.process.pid), *self.server.workers()):
                with contextlib.suppress(psutil.Error):
                    found[process.pid] = _cpu_seconds(process)
        return found

    def _db_cpu(self) -> dict[int, float]:
        found: dict[int, float] = {}
        if self.db_pid is None:
            return found
        with contextlib.suppress(psutil.Error):
            postmaster = psutil.Process(self.db_pid)
            for process in (postmaster, *postmaster.children(recursive=True)):
                with contextlib.suppress(psutil.Error):
                    found[process.pid] = _cpu_seconds(process)
        return found

    def __enter__(self) -> CpuMeter:
        self._started = time.monotonic()
        self._busy, self._mine = _busy_cpu_seconds(), _children_cpu_seconds()
        self._server, self._db = self._server_cpu(), self._db_cpu()
        return self

    def __exit__(self, *exc_info: object) -> None:
        elapsed = time.monotonic() - self._started
        busy = _busy_cpu_seconds() - self._busy
        mine = _children_cpu_seconds() - self._mine
        server, database = self._server_cpu(), self._db_cpu()
        self.server_seconds = sum(server.get(pid, used) - used
                                  for pid, used in self._server.items())
        db_seconds = sum(used - self._db.get(pid, 0.0) for pid, used in database.items())
        self.db_seconds = db_seconds if self.db_pid is not None else None
        other = busy - self.server_seconds - db_seconds - mine
        self.other_cpus = max(0.0, other / elapsed) if elapsed else 0.0


UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _latency_ms(output: str, percent: int) -> float:
    found = re.search(rf"^\s*{percent}(?:\.0+)?%\s+([\d.]+)(us|ms|s|m)\s*$", output, re.M)
    if not found:
        raise BenchError(f"no {percent}% latency in the wrk output:\n{output}")
    return float(found.group(1)) * UNITS_MS[found.group(2)]


def parse_wrk(output: str) -> dict[str, float]:
    """Requests/s, p50 and p99 (ms), request and error counts from ``wrk --latency``."""
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", output, re.M)
    total = re.search(r"^\s*(\d+) requests in", output, re.M)
    if not rps or not total:
        raise BenchError(f"unexpected wrk output:\n{output}")
    errors = 0
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    if non_2xx:
        errors += int(non_2xx.group(1))
    sockets = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
                        output)
    if sockets:
        errors += sum(int(value) for value in sockets.groups())
    return {"rps": float(rps.group(1)), "p50": _latency_ms(output, 50),
            "p99": _latency_ms(output, 99), "requests": int(total.group(1)), "errors": errors}


def wrk(url: str, seconds: int, connections: int, token: str | None = None,
        script: Path | None = None, script_args: tuple[str, ...] = ()) -> str:
    command = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "5s"]
    if token:
        command += ["-H", f"Authorization: Bearer {token}"]
    if script:
        command += ["-s", str(script)]
    command.append(url)
    if script_args:
        command += ["--", *script_args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60,
                          check=False)
    if done.returncode != 0:
        raise BenchError(f"wrk failed ({done.returncode}): {done.stderr}{done.stdout}")
    return done.stdout


@dataclass
class Target:
    """One endpoint of one server to measure."""

    label: str
    server: Server
    path: str
    token: str | None = None
    post: bool = False

    def run(self, args: argparse.Namespace, seconds: int) -> str:
        script = BENCH / "post_bots.lua" if self.post else None
        prefix = f"b{uuid.uuid4().hex[:10]}"  # bot names unique to this run
        return wrk(self.server.base + self.path, seconds, args.connections, self.token, script,
                   (prefix,) if self.post else ())


def measure(targets: list[Target], args: argparse.Namespace) -> list[list[Figures]]:
    """Warm each target up, then ``--repeat`` rounds of one measured run per target, in turn.

    Taking turns puts the runs being compared minutes apart at most, so a slow spell of the
    shared machine falls on both sides of a ratio. Returns each target's runs.
    """
    for target in targets:
        target.run(args, WARMUP_SECONDS)
    runs: list[list[Figures]] = [[] for _ in targets]
    for _ in range(args.repeat):
        for target, mine in zip(targets, runs, strict=True):
            mine.append(_measured_run(target, args))
    for target, mine in zip(targets, runs, strict=True):
        errors = sum(r.errors for r in mine)
        if errors:
            print(f"  ! {target.label}: {errors} of {sum(r.requests for r in mine)} requests "
                  f"failed (non-2xx or socket errors); see {target.server.log_path}", flush=True)
        print(f"  runs of {target.label}: " + ", ".join(
            f"{r.rps:.0f} req/s p50 {r.p50_ms:.1f} p99 {r.p99_ms:.1f} (other CPUs "
            f"{r.other_cpus:.2f})" for r in mine), flush=True)
    return runs


def median_of(runs: list[Figures], reference: list[Figures] | None = None) -> Figures:
    """One row of medians; against ``reference`` (taken in the same rounds), the ratio is the
    median of the rounds' ratios."""
    result = Figures(
        label=runs[0].label, rps=statistics.median(r.rps for r in runs),
        p50_ms=statistics.median(r.p50_ms for r in runs),
        p99_ms=statistics.median(r.p99_ms for r in runs),
        requests=sum(r.requests for r in runs), errors=sum(r.errors for r in runs),
        rss_mib=max(r.rss_mib for r in runs),
        cpu_ms=statistics.median(r.cpu_ms for r in runs),
        db_cpu_ms=None if runs[0].db_cpu_ms is None
        else statistics.median(r.db_cpu_ms or 0.0 for r in runs),
        other_cpus=statistics.median(r.other_cpus for r in runs))
    if reference is not None:
        result.reference = median_of(reference)
        result.paired_ratio = statistics.median(
            mine.rps / theirs.rps for mine, theirs in zip(runs, reference, strict=True))
    return result


def paired(runs: list[Figures], base: list[Figures], field: str) -> float:
    """The median over rounds of ``field`` of ``runs`` over the same round's ``base``."""
    return statistics.median(getattr(mine, field) / getattr(theirs, field)
                             for mine, theirs in zip(runs, base, strict=True))


def _measured_run(target: Target, args: argparse.Namespace) -> Figures:
    """One measured wrk run from a settled database, sampling the workers' RSS and CPU."""
    if args.settle is not None:
        args.settle()
    with CpuMeter(target.server, args.db_pid) as cpu, RssSampler(target.server) as sampler:
        output = target.run(args, args.duration)
    figures = parse_wrk(output)
    requests = max(1, int(figures["requests"]))
    return Figures(label=target.label, rps=figures["rps"], p50_ms=figures["p50"],
                   p99_ms=figures["p99"], requests=int(figures["requests"]),
                   errors=int(figures["errors"]), rss_mib=sampler.peak_mib,
                   cpu_ms=cpu.server_seconds * 1000 / requests,
                   db_cpu_ms=None if cpu.db_seconds is None
                   else cpu.db_seconds * 1000 / requests,
                   other_cpus=cpu.other_cpus)


# --- the API benchmark --------------------------------------------------------------------


@dataclass
class Tenant:
    """A workspace signed up through the product's API, with its admin's tokens."""

    workspace_id: str
    user_id: str
    access_token: str
    refresh_token: str

    def refresh(self, server: Server) -> str:
        """A fresh access token (they live 15 minutes; a long run outlives the first)."""
        status, body = http_json("POST", server.base + "/api/v1/auth/refresh",
                                 token=self.refresh_token)
        if status != 200:
            raise BenchError(f"token refresh failed: {status} {body}")
        self.access_token, self.refresh_token = body["access_token"], body["refresh_token"]
        return self.access_token


def sign_up(server: Server, label: str) -> Tenant:
    """Sign up, verify the address with the token the server logged (no SMTP here), sign in."""
    suffix = uuid.uuid4().hex[:10]
    email, password = f"bench-{label}-{suffix}@example.com", secrets.token_urlsafe(24)
    status, body = http_json("POST", server.base + "/api/v1/workspaces", {
        "name": f"Bench {label} {suffix}", "slug": f"bench-{label}-{suffix}",
        "admin_email": email, "admin_password": password})
    if status != 202:
        raise BenchError(f"sign-up failed: {status} {body}")
    status, verified = http_json("POST", server.base + "/api/v1/auth/verify",
                                 {"token": _mailed_token(server, email), "password": password})
    if status != 200:
        raise BenchError(f"verification failed: {status} {verified}")
    status, pair = http_json("POST", server.base + "/api/v1/auth/token",
                             {"email": email, "password": password})
    if status != 200:
        raise BenchError(f"sign-in failed: {status} {pair}")
    return Tenant(workspace_id=body["workspace"]["id"], user_id=verified["user"]["id"],
                  access_token=pair["access_token"], refresh_token=pair["refresh_token"])


def _mailed_token(server: Server, email: str, deadline: float = 10.0) -> str:
    """The verification token the server's log shows for ``email`` (JSON lines)."""
    until = time.monotonic() + deadline
    while time.monotonic() < until:
        for line in server.log_path.read_text(errors="replace").splitlines():
            if f'"mail_to":"{email}"' in line:
                return json.loads(line)["mail_token"]
        time.sleep(0.1)
    raise BenchError(f"no verification mail for {email} in {server.log_path}")


def create_bots(server: Server, tenant: Tenant, count: int) -> None:
    for number in range(count):
        status, body = http_json("POST", server.base + "/api/v1/bots",
                                 {"name": f"listed-{number:03d}", "code": BOT_CODE},
                                 token=tenant.access_token)
        if status != 201:
            raise BenchError(f"creating bot {number} failed: {status} {body}")


def check_list(server: Server, path: str, token: str | None, expected: int) -> None:
    status, body = http_json("GET", server.base + path, token=token)
    if status != 200 or len(body.get("items", [])) != expected:
        raise BenchError(f"GET {path} on {server.name}: {status}, expected {expected} items: "
                         f"{str(body)[:300]}")


def reference_environment(database: BenchDatabase, port: int, folder: Path,
                          worker_class: str = "gthread") -> dict[str, str]:
    return {
        **base_environment(),
        "BENCH_REFERENCE_DSN": database.runtime_dsn,
        # The shared gunicorn.conf.py starts the embedded PostgreSQL in its master when no
        # DATABASE_URL is set; the reference does not use it, but must not start one either.
        "DATABASE_URL": database.urls.runtime,
        "WEB_CONCURRENCY": "4",
        "GUNICORN_WORKER_CLASS": worker_class,
        "PORT": str(port),
        "LOG_LEVEL": "INFO",
        "PROMETHEUS_MULTIPROC_DIR": str(folder / "metrics-reference"),
    }


def settle(databases: list[BenchDatabase]) -> None:
    """Start each measured run from the same database state: vacuum and analyze what earlier
    runs wrote, then checkpoint, so no run pays for another's autovacuum or checkpoint."""
    for database in databases:
        with psycopg.connect(database.owner_dsn, autocommit=True) as conn:
            conn.execute("VACUUM (ANALYZE) bots, bot_versions, audit_logs")
    with psycopg.connect(databases[0].admin_dsn, autocommit=True) as conn, \
            contextlib.suppress(psycopg.Error):  # CHECKPOINT needs a superuser (or pg_checkpoint)
        conn.execute("CHECKPOINT")


def create_probe_workspace(database: BenchDatabase, bots: int) -> str:
    """A workspace with ``bots`` bots made in SQL as the owner (it stays small under --large)."""
    workspace_id = str(uuid.uuid4())
    with psycopg.connect(database.owner_dsn) as conn:
        conn.execute("SELECT set_config('app.workspace_id', %s, true)", (workspace_id,))
        conn.execute("INSERT INTO workspaces (id, name, slug) VALUES (%s, 'Probe', %s)",
                     (workspace_id, f"probe-{workspace_id[:8]}"))
        conn.execute("""
            INSERT INTO bots (workspace_id, id, name, description, status, current_version,
                              created_at, updated_at)
            SELECT %s, gen_random_uuid(), 'probe-' || g, 'a benchmark bot', 'draft', 0,
                   now() - g * interval '1 second', now() - g * interval '1 second'
            FROM generate_series(1, %s) AS g""", (workspace_id, bots))
    return workspace_id


def time_list_sql(database: BenchDatabase, workspace_id: str, runs: int = 1000) -> list[float]:
    """Latencies (ms) of the list SQL alone, as the reference runs it, one client, no HTTP."""
    from reference_app import LIST_SQL, PAGE_SIZE, SET_TENANT

    timings = []
    with psycopg.connect(database.runtime_dsn) as conn:
        for number in range(runs + 100):
            started = time.perf_counter()
            with conn.transaction():
                conn.execute(SET_TENANT, (workspace_id,))
                conn.execute(LIST_SQL, (PAGE_SIZE, 0)).fetchall()
            if number >= 100:
                timings.append((time.perf_counter() - started) * 1000)
    return timings


def load_large(database: BenchDatabase, tenant: Tenant) -> str:
    """1,000 bots in each of 1,000 workspaces (the bench one included), as the owner role.

    The owner is subject to the forced row-level security like everyone else, so one DO block
    binds each new workspace transaction-locally before its inserts, in one transaction.
    """
    started = time.monotonic()
    extra = LARGE_WORKSPACES - 1
    with psycopg.connect(database.owner_dsn) as conn:
        conn.execute("SET synchronous_commit = off")
        conn.execute("SELECT set_config('app.workspace_id', %s, true)",
                     (tenant.workspace_id,))
        existing = conn.execute("SELECT count(*) FROM bots").fetchone()[0]
        conn.execute("""
            INSERT INTO bots (workspace_id, id, name, description, status, current_version,
                              created_at, updated_at)
            SELECT %(ws)s, gen_random_uuid(), 'large-' || g, 'a benchmark bot', 'draft', 0,
                   now() - interval '1 day' - g * interval '1 second',
                   now() - interval '1 day' - g * interval '1 second'
            FROM generate_series(1, %(count)s) AS g""",
                     {"ws": tenant.workspace_id,
                      "count": max(0, LARGE_BOTS_PER_WORKSPACE - existing)})
        conn.execute(f"""
            DO $$
            DECLARE ws uuid;
            BEGIN
              FOR i IN 1..{extra} LOOP
                ws := gen_random_uuid();
                PERFORM set_config('app.workspace_id', ws::text, true);
                INSERT INTO workspaces (id, name, slug) VALUES (ws, 'Large ' || i, 'large-' || i);
                INSERT INTO bots (workspace_id, id, name, description, status, current_version,
                                  created_at, updated_at)
                SELECT ws, gen_random_uuid(), 'bot-' || g, 'a benchmark bot', 'draft', 0,
                       now() - g * interval '1 second', now() - g * interval '1 second'
                FROM generate_series(1, {LARGE_BOTS_PER_WORKSPACE}) AS g;
              END LOOP;
            END $$""")
        conn.commit()
        conn.autocommit = True
        conn.execute("ANALYZE bots")
        conn.execute("ANALYZE workspaces")
    with psycopg.connect(database.admin_dsn) as conn:
        total, workspaces = conn.execute(
            "SELECT (SELECT count(*) FROM bots), (SELECT count(*) FROM workspaces)").fetchone()
    return (f"loaded in {time.monotonic() - started:.0f}s: {total:,} bots in {workspaces:,} "
            f"workspaces ({LARGE_BOTS_PER_WORKSPACE:,} in the bench workspace; the POST "
            f"workspace and a {LIST_BOTS}-bot probe workspace come on top)")


def api_section(args: argparse.Namespace, folder: Path, stack: contextlib.ExitStack,
                database: BenchDatabase) -> list[str]:
    """The product against the bare reference under wrk; returns the target lines."""
    product_port, reference_port = free_port(), free_port()
    product = start_server(
        "product", gunicorn_command("wsgi:app"),
        product_environment(database, product_port, folder,
                            worker_class=args.worker_class), product_port,
        folder / "product.log", "/health/ready", stack)
    lister = sign_up(product, "list")
    writer = sign_up(product, "write")
    reference = start_server(
        "reference", gunicorn_command("reference_app:app", "--pythonpath", str(BENCH)),
        reference_environment(database, reference_port, folder, args.worker_class),
        reference_port, folder / "reference.log", f"/bots?ws={lister.workspace_id}", stack)
    create_bots(product, lister, LIST_BOTS)
    product_list = f"/api/v1/bots?page_size={PAGE_SIZE}"
    reference_list = f"/bots?ws={lister.workspace_id}"
    reference_post = f"/bots?ws={writer.workspace_id}&user={writer.user_id}"
    check_list(product, product_list, lister.access_token, PAGE_SIZE)
    check_list(reference, reference_list, None, PAGE_SIZE)
    print(f"product: gunicorn --config gunicorn.conf.py wsgi:app, CODEX32_ENV=production, "
          f"4 {args.worker_class} workers, LOG_LEVEL=INFO (request log captured to "
          f"{product.log_path.name})")
    print(f"  RATE_LIMIT_PER_MINUTE={RATE_LIMIT} so the in-process rate limiter does not "
          f"refuse the load (it still counts every request)")
    print("reference: bench/reference_app.py (Flask + psycopg_pool, no auth, no schemas), "
          "same gunicorn config, same runtime role, same SQL")
    print(f"wrk -t2 -c{args.connections} -d{args.duration}s --latency, after a "
          f"{WARMUP_SECONDS}s warm-up; list workspace has {LIST_BOTS} bots (page of "
          f"{PAGE_SIZE}); POSTs go to a second workspace", flush=True)

    bare_get_runs, get_runs = measure([
        Target("reference GET /bots", reference, reference_list),
        Target(f"product GET {product_list}", product, product_list,
               lister.refresh(product))], args)
    bare_post_runs, post_runs = measure([
        Target("reference POST /bots", reference, reference_post, post=True),
        Target("product POST /api/v1/bots", product, "/api/v1/bots", writer.refresh(product),
               post=True)], args)
    get, bare_get = median_of(get_runs, bare_get_runs), median_of(bare_get_runs)
    post, bare_post = median_of(post_runs, bare_post_runs), median_of(bare_post_runs)
    rows = [get, bare_get, post, bare_post]

    large_rows: list[Figures] = []
    scale: tuple[float, float] | None = None
    if args.large:
        large_db = sibling_database(database, "large")
        stack.callback(large_db.close)
        args.databases.append(large_db)
        large_port = free_port()
        large_product = start_server(
            "product on the large database", gunicorn_command("wsgi:app"),
            product_environment(large_db, large_port, folder, "product-large",
                                args.worker_class), large_port,
            folder / "product-large.log", "/health/ready", stack)
        large_lister = sign_up(large_product, "list")
        create_bots(large_product, large_lister, LIST_BOTS)
        probes = (create_probe_workspace(database, LIST_BOTS),
                  create_probe_workspace(large_db, LIST_BOTS))
        print(f"loading {LARGE_WORKSPACES * LARGE_BOTS_PER_WORKSPACE:,} bots into a second "
              f"database, served by a second product server ...", flush=True)
        print("  " + load_large(large_db, large_lister), flush=True)
        sql_small = {"bench": time_list_sql(database, lister.workspace_id),
                     "probe": time_list_sql(database, probes[0])}
        sql_large = {"bench": time_list_sql(large_db, large_lister.workspace_id),
                     "probe": time_list_sql(large_db, probes[1])}
        small_runs, large_runs = measure([
            Target(f"product GET {product_list} (small database)", product, product_list,
                   lister.refresh(product)),
            Target(f"product GET {product_list} (1M rows)", large_product, product_list,
                   large_lister.refresh(large_product))], args)
        large_rows = [median_of(large_runs), median_of(small_runs)]
        scale = (paired(large_runs, small_runs, "p50_ms"),
                 paired(large_runs, small_runs, "p99_ms"))

    print()
    print_table(rows + large_rows)
    print("capacity estimated from CPU per request (server + PostgreSQL; less sensitive to "
          f"other load): product GET {_cpu_share(get)}, POST {_cpu_share(post)} of the bare "
          "endpoint's")
    targets = [
        f"GET list >= {LIST_RPS_SHARE:.0%} of the bare endpoint's req/s: "
        f"{get.ratio:.0%} {verdict(get.ratio >= LIST_RPS_SHARE and not get.errors)}",
        f"GET list p99 < {P99_LIMIT_MS:g} ms: {get.p99_ms:.1f} ms "
        f"{verdict(get.p99_ms < P99_LIMIT_MS and not get.errors)}",
        f"POST p99 < {P99_LIMIT_MS:g} ms: {post.p99_ms:.1f} ms "
        f"{verdict(post.p99_ms < P99_LIMIT_MS and not post.errors)}",
    ]
    if scale is not None:
        p50, p99 = scale
        ok = p50 <= LARGE_TOLERANCE and p99 <= LARGE_TOLERANCE and not large_rows[0].errors
        targets.append(f"GET list at 1M bots within {LARGE_TOLERANCE - 1:.0%} of the small "
                       f"database (medians of the rounds' ratios): p50 x{p50:.2f}, "
                       f"p99 x{p99:.2f} {verdict(ok)}")
        print_sql_table(sql_small, sql_large)
    for line in targets:
        print("  target " + line)
    return targets


def print_sql_table(small: dict[str, list[float]], large: dict[str, list[float]]) -> None:
    """The list SQL alone before and after the load: table size vs workspace size."""
    print("list SQL alone (psycopg as the runtime role: BEGIN, set_config, list, COMMIT; one "
          "client, 1,000 runs):")
    print(f"  {'':52}{'p50 ms':>8}{'p99 ms':>8}")
    rows = (
        (f"bench workspace, {LIST_BOTS} bots, small table", small["bench"]),
        (f"probe workspace, {LIST_BOTS} bots, small table", small["probe"]),
        (f"probe workspace, {LIST_BOTS} bots, 1M-row table", large["probe"]),
        (f"bench workspace, {LARGE_BOTS_PER_WORKSPACE:,} bots, 1M-row table", large["bench"]),
    )
    for label, values in rows:
        print(f"  {label:52}{percentile(values, 50):8.3f}{percentile(values, 99):8.3f}")


def _cpu_share(row: Figures) -> str:
    """The reference's CPU per request over the product's, as a share of its capacity."""
    if row.reference is None:
        return "-"
    mine = row.cpu_ms + (row.db_cpu_ms or 0.0)
    bare = row.reference.cpu_ms + (row.reference.db_cpu_ms or 0.0)
    return f"{bare / mine:.0%}" if mine else "-"


def print_table(rows: list[Figures]) -> None:
    width = max(len(row.label) for row in rows) + 2
    print(f"{'endpoint':{width}}{'req/s':>8}{'p50 ms':>8}{'p99 ms':>8}{'vs bare':>8}"
          f"{'RSS/worker MiB':>15}{'CPU ms/req':>11}{'DB CPU ms/req':>14}{'errors':>7}"
          f"{'other CPUs':>11}")
    for row in rows:
        ratio = f"{row.ratio:.2f}" if row.ratio is not None else "1.00"
        db_cpu = f"{row.db_cpu_ms:.2f}" if row.db_cpu_ms is not None else "-"
        print(f"{row.label:{width}}{row.rps:8.0f}{row.p50_ms:8.2f}{row.p99_ms:8.2f}{ratio:>8}"
              f"{row.rss_mib:15.0f}{row.cpu_ms:11.2f}{db_cpu:>14}{row.errors:7d}"
              f"{row.other_cpus:11.2f}")
    print("CPU ms/req: CPU time of the server's gunicorn processes per request; DB CPU: of "
          "PostgreSQL (embedded only); other CPUs: CPUs busy outside the benchmark (noise; "
          "includes PostgreSQL when it is not the embedded one)")


# --- the other sections -------------------------------------------------------------------


def run_script(script: Path, *arguments: str, stack: contextlib.ExitStack) -> list[str]:
    """Run a benchmark script, echo its output; its PASS/FAIL lines are the targets."""
    env = base_environment()
    env["PYTHONUNBUFFERED"] = "1"
    process = subprocess.Popen([sys.executable, str(script), *arguments], cwd=REPO, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    stack.callback(_stop_child, process)
    targets = []
    assert process.stdout is not None
    for line in process.stdout:
        print("  " + line.rstrip(), flush=True)
        if re.search(r"\b(PASS|FAIL)\b", line):
            targets.append(line.strip().removeprefix("target ").strip())
    if process.wait() != 0:
        raise BenchError(f"{script.name} exited with {process.returncode}")
    return targets


def _stop_child(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()


def describe_machine() -> str:
    model = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    cpus = len(os.sched_getaffinity(0))
    memory = psutil.virtual_memory().total / 1024**3
    return (f"{cpus} CPUs ({model}), {memory:.0f} GiB RAM, {platform.system()} "
            f"{platform.release()}, Python {platform.python_version()}")


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per measured run")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections")
    parser.add_argument("--repeat", type=int, default=3,
                        help="measured runs per endpoint; figures are the medians (run-to-run "
                             "noise on a shared machine is larger than the 20%% scale band)")
    parser.add_argument("--large", action="store_true",
                        help="also measure the list with 1,000,000 bots in the database")
    parser.add_argument("--only", choices=SECTIONS, help="run one section")
    parser.add_argument("--worker-class", choices=("gthread", "sync"), default="gthread",
                        help="gunicorn worker class of both servers (gthread: as deployed)")
    parser.add_argument("--provider-calls", type=int, default=300)
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target fails")
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None and args.only in (None, "api"):
        parser.error("wrk is not installed (Debian: apt-get install wrk)")
    sections = [args.only] if args.only else list(SECTIONS)
    args.db_pid = None
    args.settle = None
    # SIGTERM unwinds like Ctrl-C, so every cleanup below runs.
    signal.signal(signal.SIGTERM, _interrupt)

    print(f"Codex-32 benchmarks, {dt.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}")
    print(f"machine: {describe_machine()}")
    targets: dict[str, list[str]] = {}
    with contextlib.ExitStack() as stack:
        folder = Path(tempfile.mkdtemp(prefix="codex32-bench-"))
        stack.callback(shutil.rmtree, folder, ignore_errors=True)
        database: BenchDatabase | None = None
        if {"api", "providers"} & set(sections):
            database = start_database(folder)
            stack.callback(database.close)
            args.db_pid = database.server_pid
            args.databases = [database]
            args.settle = functools.partial(settle, args.databases)
            with psycopg.connect(database.admin_dsn) as conn:
                version = conn.execute("SHOW server_version").fetchone()[0]
            print(f"database: PostgreSQL {version}, {database.description}", flush=True)
        for section in sections:
            print(f"\n== {section} ==", flush=True)
            if section == "api":
                assert database is not None
                targets[section] = api_section(args, folder, stack, database)
            elif section == "providers":
                assert database is not None
                targets[section] = run_script(
                    BENCH / "provider_bench.py", "--calls", str(args.provider_calls),
                    "--runtime-url", database.urls.runtime, "--owner-url", database.urls.owner,
                    stack=stack)
            else:
                script = BENCH / f"{section}_bench.py"
                if not script.exists():
                    print(f"  {script.relative_to(REPO)} does not exist yet: skipped")
                    continue
                targets[section] = run_script(script, stack=stack)

    print("\n== targets ==")
    failed = 0
    for section, lines in targets.items():
        for line in lines:
            failed += "FAIL" in line
            print(f"  {section}: {line}")
    if not any(targets.values()):
        print("  (none measured)")
    return 1 if failed and args.strict else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as error:
        print(f"\nbenchmark failed: {error}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print("\ninterrupted; everything started was stopped", file=sys.stderr)
        sys.exit(130)

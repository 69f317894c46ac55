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
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import psutil
import psycopg
from api_bench import api_section, settle
from harness import (
    REPO,
    BenchDatabase,
    BenchError,
    base_environment,
    interrupt,
    start_database,
)

BENCH = REPO / "bench"
SECTIONS = ("api", "providers", "gateway", "sandbox", "execution", "starvation")


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
    signal.signal(signal.SIGTERM, interrupt)

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

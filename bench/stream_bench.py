"""Benchmark: do long streaming chats starve the rest of the API?

Starts a migrated database (bench/harness.py), a FakeOpenAI on 127.0.0.1 in a process of its
own whose streamed answers take ``--seconds`` to finish, and the product under gunicorn
(production settings, 4 workers) once per serving model named in ``--models``:

* before: gthread workers x 4 threads, the model deployed until the gateway (a stream holds a
  thread), with its database pool (20 + 40 a worker);
* gevent: gevent workers (a stream holds a greenlet), with the bounds and pool gunicorn.conf.py
  sizes to them;
* threads: gthread workers x 64 threads, no gate on streams;
* switch1: the same with a 1 ms GIL switch interval (``GUNICORN_SWITCH_INTERVAL_MS``);
* procs8: 8 workers x 32 threads;
* gate1, gate2: 64 threads with 1 or 2 stream openings and settlements at once a worker
  (``STREAM_OPENINGS_PER_WORKER``, codex32.api.openings); gate2s1: gate2 with the 1 ms switch;
* capped, gate2capped: a worker accepts no more connections than its threads
  (``GUNICORN_WORKER_CONNECTIONS=64``), ungated or gate2;
* after: gunicorn.conf.py's and the settings' defaults (gthread x 64, gates of 2);
* baseline: the defaults of another checkout (``--baseline``, e.g. main before a change).

The servers start through bench/harness.py (:class:`ServingModels`), as
bench/starvation_bench.py starts them; the fake and the stream client are bench/stream_load.py.
For each, ``--streams`` streaming chats are opened at once through the OpenAI-compatible
endpoint with the ``openai`` SDK (asyncio, in a process of its own, spread over ``--workspaces``
workspaces, each with a budget; a chat refused with 429 waits Retry-After and is sent again, as
a client should), while another workspace's ``GET /api/v1/bots`` (a page of 50) is timed
sequentially from this process, idle first, then until the last stream ends; meanwhile a paced
prober also sends that GET every ``--every`` seconds and times each from when it was due, so a
stall weighs as much as the GETs it delays. Every stream must return the fake's exact text with
its usage, every one must leave an ``ok`` ledger row, no budget may keep a reservation, and the
database connections the web process holds in a transaction, and those of them waiting for a
lock, are sampled meanwhile (streams must not hold one each). Target: on the chosen model, the
GET's p99 under the streams stays under 100 ms. Usage::

    python bench/stream_bench.py [--streams 200] [--seconds 2] [--models threads,gate2]
    python bench/stream_bench.py --models baseline,after --baseline /tmp/before

``CODEX32_ALLOW_PRIVATE_URLS=1`` on the servers: the fake listens on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import signal
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path

import psycopg
from harness import (
    BenchError,
    ServingModels,
    http_json,
    interrupt,
    percentile,
    serving_models,
    verdict,
)
from signups import create_bots, sign_up
from stream_load import API_KEY, run_streams, serve_fake

from codex32.db import embedded

PAGE = "/api/v1/bots?page_size=50"
LISTED_BOTS = 60
TARGET_P99_MS = 100.0
EVENTS_APART = 6  # the fake's stream: role, 3 pieces, finish, usage, [DONE]: 6 intervals
UNGATED = {"STREAM_OPENINGS_PER_WORKER": "0"}
MODELS = {
    "before": ("gthread 4 workers x 4 threads (before)",
               {"GUNICORN_WORKER_CLASS": "gthread", "GUNICORN_THREADS": "4",
                "DB_POOL_SIZE": "20", "DB_MAX_OVERFLOW": "40", **UNGATED}),
    "gevent": ("gevent 4 workers x 1000 connections",
               {"GUNICORN_WORKER_CLASS": "gevent", **UNGATED}),
    "threads": ("gthread 4 x 64, ungated", UNGATED),
    "switch1": ("gthread 4 x 64, ungated, GIL 1 ms", {**UNGATED,
                                                     "GUNICORN_SWITCH_INTERVAL_MS": "1"}),
    "procs8": ("gthread 8 x 32, ungated", {**UNGATED, "WEB_CONCURRENCY": "8",
                                           "GUNICORN_THREADS": "32"}),
    "gate1": ("gthread 4 x 64, 1 opening a worker", {"STREAM_OPENINGS_PER_WORKER": "1"}),
    "gate2": ("gthread 4 x 64, 2 openings a worker", {"STREAM_OPENINGS_PER_WORKER": "2"}),
    "gate2s1": ("gthread 4 x 64, 2 openings, GIL 1 ms", {"STREAM_OPENINGS_PER_WORKER": "2",
                                                        "GUNICORN_SWITCH_INTERVAL_MS": "1"}),
    "capped": ("gthread 4 x 64, ungated, 64 connections", {**UNGATED,
                                                          "GUNICORN_WORKER_CONNECTIONS": "64"}),
    "gate2capped": ("gthread 4 x 64, 2 openings, 64 connections", {
        "STREAM_OPENINGS_PER_WORKER": "2", "GUNICORN_WORKER_CONNECTIONS": "64"}),
    "after": ("gunicorn.conf.py's defaults (after)", {}),
    # --baseline's checkout under its own defaults, measured in the same run
    "baseline": ("baseline checkout, its defaults", {}),
}


# --- measuring ------------------------------------------------------------------------------


def time_get(base: str, token: str, failures: Counter | None = None) -> float:
    """Milliseconds one GET of the page took; a wrong answer is counted in ``failures`` (or
    raised without it)."""
    started = time.perf_counter()
    status, body = http_json("GET", base + PAGE, token=token, timeout=300)
    elapsed = (time.perf_counter() - started) * 1000
    if status != 200 or len(body.get("items", [])) != 50:
        if failures is None:
            raise BenchError(f"GET {PAGE} answered {status}: {str(body)[:200]}")
        failures[f"GET answered {status}"] += 1
    return elapsed


def paced_gets(base: str, token: str, stop: threading.Event, every: float,
               latencies: list[float], failures: Counter) -> None:
    """A GET every ``every`` seconds whether or not the last one answered, each timed from
    when it was due: a stall then counts once per GET it delays (no coordinated omission)."""
    def timed_from(due: float) -> None:
        time_get(base, token, failures)
        latencies.append((time.perf_counter() - due) * 1000)

    with ThreadPoolExecutor(max_workers=64, thread_name_prefix="paced") as pool:
        due = time.perf_counter()
        while not stop.is_set():
            pool.submit(timed_from, due)
            due += every
            stop.wait(max(0.0, due - time.perf_counter()))


def sample_connections(dsn: str, stop: threading.Event, busy: list[int],
                       locked: list[int]) -> None:
    """Every 50 ms, how many runtime-role connections are busy (in a transaction or a query),
    and how many of them wait for a lock: a stream that held one would keep it busy for its
    whole length."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        while not stop.wait(0.05):
            counts = conn.execute(
                "SELECT count(*), count(*) FILTER (WHERE wait_event_type = 'Lock') "
                "FROM pg_stat_activity WHERE usename = %s AND state <> 'idle'",
                (embedded.RUNTIME,)).fetchone()
            busy.append(counts[0])
            locked.append(counts[1])


def ledger_state(dsn: str, workspaces: list[str]) -> tuple[int, Decimal]:
    """``ok`` chat rows of the workspaces, and what their budgets still hold reserved."""
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT count(*) FROM llm_usage WHERE workspace_id = ANY(%s) "
                            "AND status = 'ok'", (workspaces,)).fetchone()[0]
        reserved = conn.execute("SELECT coalesce(sum(reserved_usd), 0) FROM llm_budgets "
                                "WHERE workspace_id = ANY(%s)", (workspaces,)).fetchone()[0]
    return rows, reserved


def prepare_tenants(server, args, tenants: dict) -> None:
    """The quiet workspace with its bots; the chatty ones with the fake, a budget, a key."""
    tenants["quiet"] = sign_up(server, "quiet")
    create_bots(server, tenants["quiet"], LISTED_BOTS)
    tenants["chatty"], tenants["keys"] = [], []
    for number in range(args.workspaces):
        tenant = sign_up(server, f"chatty{number}")
        token = tenant.access_token
        for method, path, body in (
                ("PUT", "/api/v1/providers/llm/openai", {
                    "config": {"base_url": args.fake_url, "model": "gpt-4o-mini",
                               "timeout": 60},
                    "secrets": {"api_key": API_KEY}}),
                ("PUT", "/api/v1/budgets", {"budgets": [
                    {"scope": "workspace", "period": "day", "hard_limit_usd": "1000"}]}),
                ("POST", "/api/v1/api-keys", {"name": "bench", "role": "api_user"})):
            status, answer = http_json(method, server.base + path, body, token=token)
            if status not in (200, 201):
                raise BenchError(f"{method} {path} failed: {status} {answer}")
        tenants["chatty"].append(tenant)
        tenants["keys"].append(answer["key"])


def measure_model(number: int, label: str, overrides: dict[str, str], models: ServingModels,
                  tenants: dict, args) -> dict:
    """Serve the product with ``overrides``; the GETs idle and under the streams, and what
    the streams answered and recorded."""
    server = models.serve(number, label, overrides,
                          args.baseline if label == MODELS["baseline"][0] else None)
    database = models.database
    try:
        if not tenants:
            prepare_tenants(server, args, tenants)
        quiet = tenants["quiet"].refresh(server)
        chatty = [str(t.workspace_id) for t in tenants["chatty"]]
        rows_before, _ = ledger_state(database.admin_dsn, chatty)
        for _ in range(20):  # warm-up
            time_get(server.base, quiet)
        idle = [time_get(server.base, quiet) for _ in range(args.idle)]

        context = multiprocessing.get_context("spawn")
        ours, theirs = context.Pipe()
        load = context.Process(target=run_streams, args=(
            server.base, tenants["keys"], args.streams, theirs), daemon=True)
        load.start()
        if ours.recv() != "ready":
            raise BenchError("the stream client did not start")
        seen: list[int] = []
        locked: list[int] = []
        stop, paced = threading.Event(), []
        sampler = threading.Thread(target=sample_connections,
                                   args=(database.admin_dsn, stop, seen, locked), daemon=True)
        sampler.start()
        workers = server.workers()
        cpu_before = sum(_cpu(worker) for worker in workers)
        ours.send("go")
        started, went, loaded, failures = time.perf_counter(), time.time(), [], Counter()
        pacer = threading.Thread(target=paced_gets, args=(
            server.base, quiet, stop, args.every, paced, failures), daemon=True)
        pacer.start()
        while not ours.poll():
            loaded.append((time.time(), time_get(server.base, quiet, failures)))
        results = ours.recv()
        # Opening: until every stream sent its first piece; streaming: the rest.
        opened_at = max((r["first"] or went) for r in results)
        opening = [ms for at, ms in loaded if at < opened_at]  # ``at``: when the GET left
        streaming = [ms for at, ms in loaded if at >= opened_at]
        loaded = [ms for _, ms in loaded]
        wall = time.perf_counter() - started
        cpu = sum(_cpu(worker) for worker in workers) - cpu_before
        stop.set()
        sampler.join(5)
        pacer.join(300)  # the GETs in flight answer
        load.join(10)
        rows_after, reserved = ledger_state(database.admin_dsn, chatty)
    finally:
        server.stop()
    return {"label": label, "idle": idle, "loaded": loaded, "results": results,
            "opening": opening, "streaming": streaming, "opened": opened_at - went,
            "paced": paced,
            "wall": wall, "rows": rows_after - rows_before, "reserved": reserved,
            "connections": seen, "locked": locked, "cpu": cpu, "failures": failures}


def _cpu(process) -> float:
    try:
        times = process.cpu_times()
    except Exception:  # a worker that exited: its time is lost, not the run
        return 0.0
    return times.user + times.system


def report(rows: list[dict], args, target: bool = True) -> None:
    print(f"\n{'serving model':40} {'idle p50':>9} {'idle p99':>9} {'load p50':>9} "
          f"{'load p99':>9} {'load max':>9} {'GETs':>5} {'streams ok':>10} {'429s':>5} "
          f"{'stream p50':>10} "
          f"{'all done':>8} {'usage rows':>10} {'DB busy p50/max':>15} {'reserved':>8} "
          f"{'web CPU':>8}")
    for row in rows:
        results = row["results"]
        ok = sum(r["ok"] for r in results)
        seconds = [r["seconds"] for r in results if r["ok"]] or [0.0]
        busy = row["connections"] or [0]
        print(f"{row['label']:40} {percentile(row['idle'], 50):7.1f}ms "
              f"{percentile(row['idle'], 99):7.1f}ms {percentile(row['loaded'], 50):7.1f}ms "
              f"{percentile(row['loaded'], 99):7.1f}ms {max(row['loaded']):7.1f}ms "
              f"{len(row['loaded']):5d} "
              f"{ok:4d}/{len(results):<5d} {sum(r['refused'] for r in results):5d} "
              f"{percentile(seconds, 50):9.2f}s {row['wall']:7.1f}s {row['rows']:10d} "
              f"{percentile(busy, 50):7.0f} /{max(busy):6d} {row['reserved']:8.2f} "
              f"{row['cpu']:7.1f}s")
        if row["paced"]:
            print(f"    paced     (a GET every {args.every * 1000:g} ms, timed from when due): "
                  f"{len(row['paced'])} GETs, p50 {percentile(row['paced'], 50):.1f} ms, "
                  f"p99 {percentile(row['paced'], 99):.1f} ms, max {max(row['paced']):.1f} ms")
        print(f"    database  connections busy p50 {percentile(busy, 50):.0f}, max {max(busy)}; "
              f"waiting for a lock max {max(row['locked'] or [0])}")
        for phase, values in (("opening", row["opening"]), ("streaming", row["streaming"])):
            if values:
                print(f"    {phase:9} ({row['opened']:.1f}s to open every stream): "
                      f"{len(values)} GETs, p50 {percentile(values, 50):.1f} ms, "
                      f"p99 {percentile(values, 99):.1f} ms, max {max(values):.1f} ms")
        errors = Counter(r["error"] for r in results if r["error"]) + row["failures"]
        for error, count in errors.most_common(3):
            print(f"    {count} x {error}")
    if not target:
        return
    last = rows[-1]
    p99 = percentile(last["loaded"], 99)
    complete = (all(r["ok"] for r in last["results"]) and last["rows"] == args.streams
                and last["reserved"] == 0 and not last["failures"])
    print(f"target ({last['label']}): GET {PAGE} p99 under {args.streams} streams of "
          f"{args.seconds:g}s < {TARGET_P99_MS:g} ms: {p99:.1f} ms {verdict(p99 < TARGET_P99_MS)}; "
          f"all streams correct, {args.streams} ok usage rows, nothing reserved: "
          f"{verdict(complete)}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--streams", type=int, default=200, help="concurrent streaming chats")
    parser.add_argument("--seconds", type=float, default=2.0, help="how long a stream takes")
    parser.add_argument("--workspaces", type=int, default=4, help="workspaces streaming")
    parser.add_argument("--idle", type=int, default=200, help="GETs timed idle")
    parser.add_argument("--every", type=float, default=0.1,
                        help="seconds between the paced GETs under the streams")
    parser.add_argument("--models", default="before,gevent,after",
                        help=f"comma-separated, in order, of {', '.join(MODELS)}")
    parser.add_argument("--baseline", type=Path,
                        help="another checkout (same schema), served as the model 'baseline'")
    args = parser.parse_args()
    if "baseline" in args.models and args.baseline is None:
        parser.error("the model 'baseline' needs --baseline")
    chosen = [name.strip() for name in args.models.split(",") if name.strip()]
    if not chosen or any(name not in MODELS for name in chosen):
        parser.error(f"--models takes names among {', '.join(MODELS)}")
    rows = []
    with contextlib.ExitStack() as stack:
        models = serving_models(stack, "streams", keep_logs=True)
        context = multiprocessing.get_context("spawn")
        ours, theirs = context.Pipe()
        fake = context.Process(target=serve_fake, args=(args.seconds / EVENTS_APART, theirs),
                               daemon=True)
        fake.start()
        stack.callback(fake.join, 5)
        stack.callback(ours.send, "stop")
        args.fake_url = ours.recv()
        print(f"{args.streams} streaming chats at once (openai SDK, {args.workspaces} "
              f"workspaces) against a fake whose streams take {args.seconds:g}s; another "
              f"workspace's GET {PAGE} timed sequentially, idle ({args.idle} GETs) then until "
              f"the last stream ends; servers' logs in {models.logs}", flush=True)
        tenants: dict = {}
        for number, name in enumerate(chosen):
            label, overrides = MODELS[name]
            rows.append(measure_model(number, label, overrides, models, tenants, args))
            report(rows[-1:], args, target=False)
    print("\nall models, in one run:")
    report(rows, args)
    return 0


if __name__ == "__main__":
    # SIGTERM (bench/run.py stopping it) unwinds like Ctrl-C, so the servers are stopped.
    signal.signal(signal.SIGTERM, interrupt)
    sys.exit(main())

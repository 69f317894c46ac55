"""Benchmark: do one workspace's slow provider calls starve another workspace's API calls?

Starts a migrated database (bench/harness.py), a FakeOpenAI on 127.0.0.1 that holds every
answer ``--delay`` seconds (a hung provider), and the product under gunicorn twice, as
bench/run.py starts it (production settings, 4 workers, request log at INFO), with two serving
models:

* before: 4 sync workers, no bound on a workspace's provider calls (``PLUGIN_CALLS_PER_WORKSPACE
  =0``), the model under which ten provider tests made another workspace's list take 18 s;
* threads alone: gthread workers with ``GUNICORN_THREADS`` threads, no bound (enough until the
  slow calls outnumber the threads);
* bound: gthread workers with 4 threads and the per-workspace bound (2), the model this
  benchmark chose first;
* after: gunicorn.conf.py's default, gthread workers with 64 threads (chosen for streams,
  bench/stream_bench.py) and the per-workspace bound sized to them (32).

For each, workspace B's ``GET /api/v1/bots`` (a page of 50) is timed idle, then while workspace
A runs ``--slow`` concurrent ``POST /api/v1/providers/llm/openai/test`` loops against the slow
fake (a loop waits out ``Retry-After`` when refused with 429, as a client should). Prints p50
and p99 of B's GET idle and under load, and how A's tests were answered. Target: under load on
the deployed model, B's p99 stays within max(5 x its idle p99, 250 ms). Usage::

    python bench/starvation_bench.py [--slow 10] [--delay 5] [--seconds 15]

``CODEX32_ALLOW_PRIVATE_URLS=1`` on the servers: the fake listens on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
import time
from collections import Counter

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

from codex32.testing.fake_openai import FakeOpenAI

API_KEY = "sk-bench-starvation"
LISTED_BOTS = 60
PAGE = "/api/v1/bots?page_size=50"
TEST_PATH = "/api/v1/providers/llm/openai/test"
LOAD_FACTOR = 5.0
FLOOR_MS = 250.0
MODELS = (
    ("4 sync workers, calls unbounded (before)", {"GUNICORN_WORKER_CLASS": "sync",
                                                  "PLUGIN_CALLS_PER_WORKSPACE": "0"}),
    ("4 gthread workers x 4 threads, unbounded", {"GUNICORN_WORKER_CLASS": "gthread",
                                                  "GUNICORN_THREADS": "4",
                                                  "PLUGIN_CALLS_PER_WORKSPACE": "0"}),
    ("4 gthread workers x 4 threads, bound 2", {"GUNICORN_WORKER_CLASS": "gthread",
                                                "GUNICORN_THREADS": "4"}),
    # gunicorn.conf.py's defaults since bench/stream_bench.py: 64 threads, bound 32
    ("4 gthread workers x 64 threads, bound 32 (after)", {"GUNICORN_WORKER_CLASS": "gthread"}),
)


def time_gets(base: str, token: str, seconds: float, minimum: int = 5) -> list[float]:
    """Latencies (ms) of sequential GETs of the list for ``seconds`` (at least ``minimum``)."""
    latencies: list[float] = []
    until = time.monotonic() + seconds
    while time.monotonic() < until or len(latencies) < minimum:
        started = time.perf_counter()
        status, body = http_json("GET", base + PAGE, token=token, timeout=120)
        latencies.append((time.perf_counter() - started) * 1000)
        if status != 200:
            raise BenchError(f"GET {PAGE} answered {status}: {str(body)[:200]}")
    return latencies


def slow_tests(base: str, token: str, stop: threading.Event, answers: Counter) -> None:
    """POST the provider test until ``stop``; wait out Retry-After when refused."""
    while not stop.is_set():
        status, _ = http_json("POST", base + TEST_PATH, token=token, timeout=120)
        answers[status] += 1
        if status == 429:
            stop.wait(1.0)


def measure_model(number: int, label: str, overrides: dict[str, str], models: ServingModels,
                  tenants: dict, args: argparse.Namespace) -> dict:
    """Serve the product with ``overrides``; B's GET latencies idle and under A's slow tests."""
    server = models.serve(number, label, overrides)
    try:
        if not tenants:
            tenants["a"], tenants["b"] = sign_up(server, "noisy"), sign_up(server, "quiet")
            create_bots(server, tenants["b"], LISTED_BOTS)
            status, body = http_json("PUT", server.base + "/api/v1/providers/llm/openai", {
                "config": {"base_url": args.fake_url, "model": "gpt-4o-mini", "timeout": 30},
                "secrets": {"api_key": API_KEY}}, token=tenants["a"].access_token)
            if status != 200:
                raise BenchError(f"configuring openai failed: {status} {body}")
        noisy, quiet = tenants["a"].refresh(server), tenants["b"].refresh(server)
        time_gets(server.base, quiet, 1.0)  # warm-up
        idle = time_gets(server.base, quiet, args.seconds / 3)
        stop, answers = threading.Event(), Counter()
        loops = [threading.Thread(target=slow_tests, args=(server.base, noisy, stop, answers),
                                  daemon=True) for _ in range(args.slow)]
        for loop in loops:
            loop.start()
        time.sleep(1.0)  # let the slow tests take their threads first
        loaded = time_gets(server.base, quiet, args.seconds)
        stop.set()
        for loop in loops:
            loop.join(args.delay + 30)
    finally:
        server.stop()
    return {"label": label, "idle": idle, "loaded": loaded, "answers": answers}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--slow", type=int, default=10, help="concurrent slow provider tests")
    parser.add_argument("--delay", type=float, default=5.0, help="seconds the fake holds back")
    parser.add_argument("--seconds", type=float, default=15.0, help="timed GETs under load")
    args = parser.parse_args()
    rows = []
    with contextlib.ExitStack() as stack:
        models = serving_models(stack, "starvation")
        fake = stack.enter_context(FakeOpenAI(api_key=API_KEY, delay=args.delay))
        args.fake_url = fake.url
        tenants: dict = {}
        print(f"{args.slow} concurrent provider tests of workspace A against a fake holding "
              f"every answer {args.delay:g}s; workspace B's GET {PAGE} timed sequentially, "
              f"idle ({args.seconds / 3:g}s) then under that load ({args.seconds:g}s)",
              flush=True)
        for number, (label, overrides) in enumerate(MODELS):
            rows.append(measure_model(number, label, overrides, models, tenants, args))

    print(f"\n{'serving model':48} {'idle p50':>9} {'idle p99':>9} {'load p50':>9} "
          f"{'load p99':>9} {'GETs':>5}  A's tests answered")
    for row in rows:
        answered = ", ".join(f"{count} x {status}" for status, count in
                             sorted(row["answers"].items()))
        print(f"{row['label']:48} {percentile(row['idle'], 50):8.1f}ms "
              f"{percentile(row['idle'], 99):8.1f}ms {percentile(row['loaded'], 50):8.1f}ms "
              f"{percentile(row['loaded'], 99):8.1f}ms {len(row['loaded']):5d}  {answered}")
    after = rows[-1]
    limit = max(LOAD_FACTOR * percentile(after["idle"], 99), FLOOR_MS)
    p99 = percentile(after["loaded"], 99)
    print(f"target: another workspace's GET p99 under {args.slow} slow provider tests "
          f"<= {limit:.0f} ms (max of {LOAD_FACTOR:g} x idle p99, {FLOOR_MS:g} ms): "
          f"{p99:.1f} ms {verdict(p99 <= limit)}")
    return 0


if __name__ == "__main__":
    # SIGTERM (bench/run.py stopping it) unwinds like Ctrl-C, so the servers are stopped.
    signal.signal(signal.SIGTERM, interrupt)
    sys.exit(main())

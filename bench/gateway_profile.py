"""Profile the gateway's HTTP paths in process, one request at a time.

Builds the app with production settings (request log at INFO, to a file) on a throwaway
migrated database, a workspace configured as bench/gateway_bench.py configures its own
(openai plugin at a local FakeOpenAI, rate limits per workspace and per key, two budgets, the
cache on) and an ``api_user`` API key, then sends requests through Flask's test client:

* ``miss``: ``POST /api/v1/openai/chat/completions``, a new prompt each time;
* ``hit``: the same prompt again and again;
* ``llm``: ``POST /api/v1/llm/chat``, a new prompt each time.

After each path's warm-up the process freezes its objects out of the cyclic GC, as a gunicorn
worker does after start-up (``codex32.runtime.heap.freeze``): without it every request paid
full collections over the app's ~300,000 objects, about 40 % of its wall time here.

Prints each path's wall time per request (p50, mean) and, with ``--profile``, cProfile's
top functions by cumulative and own time (``--pyinstrument``: its call tree). Usage::

    python bench/gateway_profile.py [--requests 300] [--profile] [--pyinstrument] [--only hit]
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import logging
import multiprocessing
import pstats
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

from gateway_sides import setup_steps
from harness import percentile, signed_up_headers, start_database

from codex32.config import Settings
from codex32.testing.fake_openai import FakeOpenAI

API_KEY = "sk-bench-profile"
MODEL = "gpt-4o-mini"
PROMPT = "Describe a bot that checks a website every hour"
WARMUP = 30


def _settings(data_dir: Path, redis_url: str | None) -> Settings:
    """Production settings, with cheap password hashing (only the sign-up uses it)."""
    return Settings(env="production", data_dir=data_dir, redis_url=redis_url, secret_key="s" * 48,
                    jwt_secret_key="j" * 48, secrets_keys=["k" * 44],
                    argon2_time_cost=1, argon2_memory_kib=8192, allow_private_urls=True,
                    log_level="INFO", signups_per_hour=1000, rate_limit_per_minute=10**7)


@contextlib.contextmanager
def _fake_in_child() -> Iterator[str]:
    """A FakeOpenAI served by a child process (its CPU is not the app's); its URL."""
    parent, child = multiprocessing.Pipe()
    process = multiprocessing.Process(target=_serve_fake, args=(child,), daemon=True)
    process.start()
    try:
        yield parent.recv()
    finally:
        parent.send("stop")
        process.join(10)


def _serve_fake(connection) -> None:
    with FakeOpenAI(api_key=API_KEY) as fake:
        connection.send(fake.url)
        connection.recv()


def _configure(client, fake_url: str) -> str:
    """A configured workspace (as bench/gateway_bench.py sets it up); its API key."""
    suffix = uuid.uuid4().hex[:10]
    headers, _ = signed_up_headers(client, f"Profile {suffix}", f"profile-{suffix}",
                                   f"profile-{suffix}@example.com", "profile password 123")
    minted = client.post("/api/v1/api-keys", json={"name": "profile", "role": "api_user"},
                         headers=headers)
    for method, path, body in setup_steps(fake_url, API_KEY, minted.json["id"]):
        answer = client.open(path, method=method, json=body, headers=headers)
        if answer.status_code not in (200, 201):
            raise SystemExit(f"{method} {path} failed: {answer.status_code} {answer.json}")
    return minted.json["key"]


def _sender(client, key: str, path: str, same_prompt: bool) -> Callable[[int], None]:
    headers = {"Authorization": f"Bearer {key}"}
    run = uuid.uuid4().hex[:8]

    def send(index: int) -> None:
        prompt = f"{PROMPT} ({run}{'' if same_prompt else f'-{index}'})"
        body = {"model": MODEL, "messages": [{"role": "user", "content": prompt}],
                "max_tokens": 256, "temperature": 0}
        answer = client.post(path, json=body, headers=headers)
        if answer.status_code != 200:
            raise SystemExit(f"{path}: {answer.status_code} {answer.json}")
    return send


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--profile", action="store_true", help="cProfile each path")
    parser.add_argument("--pyinstrument", action="store_true", help="pyinstrument each path")
    parser.add_argument("--only", choices=["miss", "hit", "llm"], action="append")
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--redis", metavar="URL", help="REDIS_URL (rate limits and cooldowns "
                        "in Redis, as deployed)")
    args = parser.parse_args(argv)
    folder = Path(tempfile.mkdtemp(prefix="codex32-gateway-profile-"))
    with contextlib.ExitStack() as stack:
        stack.callback(shutil.rmtree, folder, ignore_errors=True)
        database = start_database(folder)
        stack.callback(database.close)
        from codex32.app import create_app
        from codex32.db import db
        from codex32.runtime import heap

        app = create_app(_settings(folder / "data", args.redis), database.urls)
        for handler in logging.getLogger().handlers:  # the request log, as a PaaS keeps it
            if isinstance(handler, logging.StreamHandler):
                handler.setStream(stack.enter_context(open(folder / "app.log", "w")))
        fake_url = stack.enter_context(_fake_in_child())
        client = app.test_client()
        key = _configure(client, fake_url)
        paths = {"miss": ("/api/v1/openai/chat/completions", False),
                 "hit": ("/api/v1/openai/chat/completions", True),
                 "llm": ("/api/v1/llm/chat", False)}
        for name in args.only or list(paths):
            send = _sender(client, key, *paths[name])
            for index in range(WARMUP):
                send(index)
            heap.freeze()  # as a gunicorn worker does after start-up (post_worker_init)
            profiler = cProfile.Profile(time.thread_time) if args.profile else None
            instrument = None
            if args.pyinstrument:
                from pyinstrument import Profiler
                instrument = Profiler(interval=0.0002)
            times, cpu = [], time.process_time()
            for index in range(WARMUP, WARMUP + args.requests):
                started = time.perf_counter()
                if profiler:
                    profiler.enable()
                if instrument:
                    instrument.start()
                send(index)
                if instrument:
                    instrument.stop()
                if profiler:
                    profiler.disable()
                times.append((time.perf_counter() - started) * 1000)
            cpu_ms = (time.process_time() - cpu) * 1000 / len(times)
            print(f"== {name} {paths[name][0]}: p50 {percentile(times, 50):.2f} ms, "
                  f"mean {statistics.fmean(times):.2f} ms, CPU {cpu_ms:.2f} ms per request "
                  f"over {len(times)} requests")
            if profiler:
                for order in ("cumulative", "tottime"):
                    out = io.StringIO()
                    pstats.Stats(profiler, stream=out).sort_stats(order).print_stats(args.top)
                    print(out.getvalue())
            if instrument:
                print(instrument.output_text(unicode=False, show_all=False))
        with app.app_context():
            db.engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark: the overhead of the core's provider layer over calling the SDK directly.

Both sides make the same chat completion against the same local FakeOpenAI server
(``codex32.testing.fake_openai``), interleaved call by call so that load from other processes
hits both alike:

* core: ``codex32.services.gateway.chat`` for a workspace whose LLM is the ``openai`` plugin
  pointed at the fake: the workspace's settings and provider config read from PostgreSQL
  through a tenant-bound session, the instance cache of ``provider_instances.build``, the
  bounded call through ``plugins.calls.invoke`` (a thread pool with a deadline), metrics,
  error mapping;
* direct: ``openai.OpenAI(base_url=fake.url, api_key=...).chat.completions.create`` with the
  parameters the plugin sends.

Prints p50 and p99 of each side and of the per-pair difference, and the targets (overhead
p50 < 2 ms, p99 < 5 ms). Usage::

    python bench/provider_bench.py [--calls 300] [--runtime-url URL --owner-url URL]

Without URLs it starts its own embedded PostgreSQL in a temporary folder (or uses
``BENCH_DATABASE_URL``, see bench/harness.py). bench/run.py runs it with its database.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import openai
from harness import percentile, signed_up_headers, start_database, verdict

from codex32.config import Settings
from codex32.db import db
from codex32.db.urls import DatabaseUrls
from codex32.plugins.interfaces import ChatRequest, Message
from codex32.services import gateway
from codex32.testing.fake_openai import FakeOpenAI

API_KEY = "sk-bench-" + uuid.uuid4().hex
PROMPT = "Describe a bot that checks a website every hour"
WARMUP = 20
TARGET_P50_MS = 2.0
TARGET_P99_MS = 5.0


def _settings(data_dir: Path) -> Settings:
    """Production settings, with cheap password hashing (only the sign-up uses it)."""
    return Settings(env="production", data_dir=data_dir, secret_key="s" * 48,
                    jwt_secret_key="j" * 48, secrets_keys=["k" * 44],
                    argon2_time_cost=1, argon2_memory_kib=8192, allow_private_urls=True,
                    log_level="WARNING", signups_per_hour=1000, rate_limit_per_minute=10**7)


def _configure_workspace(app, fake: FakeOpenAI) -> str:
    """Sign up a workspace through the API; make the openai plugin (at the fake) its LLM."""
    client = app.test_client()
    suffix = uuid.uuid4().hex[:10]
    headers, workspace_id = signed_up_headers(
        client, f"Provider bench {suffix}", f"provider-bench-{suffix}",
        f"bench-{suffix}@example.com", "bench password " + uuid.uuid4().hex)
    for method, path, body in (
        ("PUT", "/api/v1/providers/llm/openai",
         {"config": {"base_url": fake.url, "timeout": 10}, "secrets": {"api_key": API_KEY}}),
        ("PATCH", "/api/v1/workspace", {"settings": {"llm_fallback": ["openai"]}}),
    ):
        answer = client.open(path, method=method, json=body, headers=headers)
        if answer.status_code != 200:
            raise SystemExit(f"{method} {path} failed: {answer.status_code} {answer.json}")
    return workspace_id


def measure(urls: DatabaseUrls, calls: int, data_dir: Path) -> dict[str, list[float]]:
    """Interleaved timings in ms: ``core``, ``direct`` and their per-pair ``difference``."""
    from codex32.app import create_app

    app = create_app(_settings(data_dir), urls)
    logging.getLogger("codex32").setLevel(logging.WARNING)
    request = ChatRequest(messages=(Message("user", PROMPT),), timeout=10)
    timings: dict[str, list[float]] = {"core": [], "direct": [], "difference": []}
    with FakeOpenAI(api_key=API_KEY) as fake:
        workspace_id = _configure_workspace(app, fake)
        sdk = openai.OpenAI(base_url=fake.url, api_key=API_KEY, timeout=10, max_retries=0)

        def direct() -> None:
            answer = sdk.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": PROMPT}],
                max_tokens=request.max_tokens, temperature=request.temperature, timeout=10)
            if not answer.choices:
                raise SystemExit("the fake answered without a choice")

        def core() -> None:
            # The gateway works in a session of its own (route, budget, ledger, cache).
            result = gateway.chat(workspace_id, request, purpose="test")
            if not result.text:
                raise SystemExit("gateway.chat answered without text")

        sides: dict[str, Callable[[], None]] = {"core": core, "direct": direct}
        with app.app_context():
            for index in range(WARMUP + calls):
                order = ("core", "direct") if index % 2 == 0 else ("direct", "core")
                pair: dict[str, float] = {}
                for name in order:
                    started = time.perf_counter()
                    sides[name]()
                    pair[name] = (time.perf_counter() - started) * 1000
                if index >= WARMUP:
                    timings["core"].append(pair["core"])
                    timings["direct"].append(pair["direct"])
                    timings["difference"].append(pair["core"] - pair["direct"])
            db.session.remove()
        sdk.close()
    with app.app_context():
        db.engine.dispose()
    return timings


def report(timings: dict[str, list[float]]) -> bool:
    """Print the table and the targets; True when both pass."""
    calls = len(timings["core"])
    print(f"provider layer: services.gateway.chat (openai plugin) vs the openai SDK directly, "
          f"same local FakeOpenAI, {calls} interleaved calls each (after {WARMUP} warm-up)")
    print(f"  {'':34}{'p50 ms':>9}{'p99 ms':>9}{'mean ms':>9}")
    labels = {"core": "core gateway.chat", "direct": "openai SDK direct",
              "difference": "overhead (core - direct, per pair)"}
    for name, label in labels.items():
        values = timings[name]
        print(f"  {label:34}{percentile(values, 50):9.2f}{percentile(values, 99):9.2f}"
              f"{sum(values) / len(values):9.2f}")
    p50 = percentile(timings["difference"], 50)
    p99 = percentile(timings["difference"], 99)
    spread = percentile(timings["core"], 99) - percentile(timings["direct"], 99)
    print(f"  (p99 core - p99 direct: {spread:.2f} ms)")
    p50_ok, p99_ok = p50 < TARGET_P50_MS, p99 < TARGET_P99_MS
    print(f"  target provider overhead p50 < {TARGET_P50_MS:g} ms: {p50:.2f} ms "
          f"{verdict(p50_ok)}")
    print(f"  target provider overhead p99 < {TARGET_P99_MS:g} ms: {p99:.2f} ms "
          f"{verdict(p99_ok)}")
    return p50_ok and p99_ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--runtime-url", help="SQLAlchemy URL of the runtime role")
    parser.add_argument("--owner-url", help="SQLAlchemy URL of the owner role (migrated)")
    args = parser.parse_args(argv)
    folder = Path(tempfile.mkdtemp(prefix="codex32-provider-bench-"))
    database = None
    try:
        if args.runtime_url and args.owner_url:
            urls = DatabaseUrls(runtime=args.runtime_url, owner=args.owner_url)
        else:
            database = start_database(folder)
            urls = database.urls
        report(measure(urls, args.calls, folder / "data"))
    finally:
        if database is not None:
            database.close()
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

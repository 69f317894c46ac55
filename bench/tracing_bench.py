"""Benchmark: what tracing costs on a hot endpoint, off (the default) and on, in process.

A migrated throwaway database (bench/harness.py); two apps built in this process on it, one
with tracing off and one after tracing was turned on with an exporter that drops every span
(no network: the figure is the instrumentation's own cost). One workspace with 20 bots; the
client authenticates with a workspace API key (the driver fast path's lookup) and GETs
``/api/v1/bots`` through Flask's test client. Rounds alternate off and on (so other load on
the machine hits both alike); each round's mean per request, then the median over rounds.

The off path runs no tracing hook, listener or middleware; what is left of it is a few
``tracing.enabled()`` checks (the driver fast path, log records, plugin calls) and no-op
``tracing.span`` context managers. Their count per request is measured by counting calls,
their unit cost with timeit, and the product is quoted as a share of the request.

    python bench/tracing_bench.py [--rounds 15] [--requests 200]
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import tempfile
import time
import timeit
import uuid
from pathlib import Path
from typing import Any

from harness import start_database
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from codex32.app import create_app
from codex32.config import Settings
from codex32.observability import tracing

PASSWORD = "bench-password-123"


class Drop(SpanExporter):
    """Exports nowhere: the cost measured is the spans' creation, not a network."""

    def export(self, spans: Any) -> SpanExportResult:
        return SpanExportResult.SUCCESS


class MailTokens(logging.Handler):
    """Keeps the verification tokens the app logs (no SMTP here)."""

    def __init__(self) -> None:
        super().__init__()
        self.tokens: dict[str, str] = {}

    def emit(self, record: logging.LogRecord) -> None:
        if hasattr(record, "mail_token"):
            self.tokens[record.mail_to] = record.mail_token  # type: ignore[attr-defined]


def api_key(client: Any, mail: MailTokens) -> str:
    """Sign up a workspace with 20 bots; a workspace API key."""
    suffix = uuid.uuid4().hex[:10]
    email = f"bench-{suffix}@example.com"
    client.post("/api/v1/workspaces", json={"name": f"Bench {suffix}", "slug": f"b-{suffix}",
                                            "admin_email": email, "admin_password": PASSWORD})
    client.post("/api/v1/auth/verify", json={"token": mail.tokens[email], "password": PASSWORD})
    token = client.post("/api/v1/auth/token",
                        json={"email": email, "password": PASSWORD}).json["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    for number in range(20):
        created = client.post("/api/v1/bots", headers=headers, json={
            "name": f"bot-{number}", "code": "def main(event, context):\n    return 1\n"})
        assert created.status_code == 201, created.json
    key = client.post("/api/v1/api-keys", headers=headers,
                      json={"name": "bench", "role": "api_user"}).json["key"]
    return key


def per_request_us(client: Any, headers: dict[str, str], requests: int) -> float:
    started = time.perf_counter()
    for _ in range(requests):
        response = client.get("/api/v1/bots", headers=headers)
        assert response.status_code == 200
    return (time.perf_counter() - started) / requests * 1e6


def guard_calls(client: Any, headers: dict[str, str]) -> int:
    """How many times one request (tracing off) asks whether tracing is on."""
    calls = 0
    original = tracing.enabled

    def counting() -> bool:
        nonlocal calls
        calls += 1
        return original()

    tracing.enabled = counting  # type: ignore[assignment]
    try:
        client.get("/api/v1/bots", headers=headers)
    finally:
        tracing.enabled = original  # type: ignore[assignment]
    return calls


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args(argv)
    folder = Path(tempfile.mkdtemp(prefix="codex32-tracing-bench-"))
    database = start_database(folder / "pg")
    try:
        settings = Settings(env="test", data_dir=folder / "data", secret_key="s" * 40,
                            jwt_secret_key="j" * 40, secrets_keys=["k" * 44],
                            argon2_time_cost=1, argon2_memory_kib=8192,
                            rate_limit_per_minute=10**9, log_json=True, log_level="WARNING")
        mail = MailTokens()
        logging.getLogger("codex32.services.mail").addHandler(mail)
        off_app = create_app(settings, database.urls)
        tracing.configure(settings, "web", exporter=Drop())
        on_app = create_app(settings, database.urls)
        tracer = tracing._tracer
        off, on = off_app.test_client(), on_app.test_client()
        headers = {"Authorization": f"Bearer {api_key(on, mail)}"}
        off_rounds: list[float] = []
        on_rounds: list[float] = []
        for _ in range(args.rounds):
            tracing._tracer = None  # the off path, as in a process that never turned it on
            off_rounds.append(per_request_us(off, headers, args.requests))
            tracing._tracer = tracer
            on_rounds.append(per_request_us(on, headers, args.requests))
        tracing._tracer = None
        calls = guard_calls(off, headers)
        unit_ns = min(timeit.repeat(tracing.enabled, number=100_000, repeat=5)) / 100_000 * 1e9
        span_ns = min(timeit.repeat(lambda: tracing.span("x").__enter__(), number=100_000,
                                    repeat=5)) / 100_000 * 1e9
        tracing._tracer = tracer
        tracing.shutdown()
    finally:
        database.close()
    off_us, on_us = statistics.median(off_rounds), statistics.median(on_rounds)
    guard_us = calls * max(unit_ns, span_ns) / 1000
    print(f"load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} "
          f"{os.getloadavg()[2]:.2f}; {args.rounds} rounds x {args.requests} "
          "GET /api/v1/bots (20 bots, API key), in process")
    print(f"tracing off: {off_us:8.1f} us/request (median of rounds; "
          f"spread {min(off_rounds):.0f}-{max(off_rounds):.0f})")
    print(f"tracing on:  {on_us:8.1f} us/request (spans dropped, not sent; "
          f"spread {min(on_rounds):.0f}-{max(on_rounds):.0f})")
    print(f"on / off: {on_us / off_us:.3f}")
    print(f"off path: {calls} tracing checks per request x <= {max(unit_ns, span_ns):.0f} ns "
          f"= {guard_us:.2f} us, {guard_us / off_us * 100:.3f} % of the request")
    return 0


if __name__ == "__main__":
    sys.exit(main())

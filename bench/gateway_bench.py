"""Benchmark: the LLM gateway's overhead, through the running server, over the bare SDK.

Starts a migrated database (bench/harness.py), a FakeOpenAI on 127.0.0.1 and the product
under gunicorn as bench/run.py starts it (``gunicorn --config gunicorn.conf.py wsgi:app``,
production settings, 4 workers, request log at INFO). One workspace has the ``openai``
plugin pointed at the fake, a workspace and an API-key budget (hard and soft limits), rate
limits per workspace and per key, and the cache on; the client authenticates with a workspace
API key. With the same ``openai`` SDK, interleaved call by call (so other load on the machine
hits both alike):

* direct: ``OpenAI(base_url=fake).chat.completions.create(...)``;
* gateway: ``OpenAI(base_url=server/api/v1/openai, api_key=c32_...)`` with the same request:
  authentication, rate limits, route, cooldown, cache lookup (temperature 0, each prompt
  new, so every call misses, looks up and stores), budget reservation, the plugin's call to
  the fake, ledger row, budget settlement.

Then the same prompt again and again: cache hits, timed server-side by the ``Server-Timing:
app;dur=`` header the app sets (before-request hooks to after-request hooks: auth, view,
gateway, JSON body; not gunicorn's HTTP parsing and socket writes) and client-side.

A floor is timed in the same rounds: ``GET /health/alive`` of the same server (the HTTP hop
through gunicorn and the request hooks, no authentication, no database).

And the bare references (bench/reference_gateway.py, under the same gunicorn config with as
many workers), in the same rounds with the same prompt: ``proxy``, Flask + the SDK forwarding
the body to the fake (the stack's floor for any gateway), and ``ledgered``, the same plus the
product's SQL of a cache miss in bare psycopg, round trip for round trip, for a second
workspace configured like the gateway's (its own API key, budgets, cache). The gateway's
overhead over theirs is its framework and Python cost; their CPU per request is timed apart
after the rounds (the gateway's workers serve neither).

Last, misses back to back: each product side asked new prompts one after another on one
connection, and the direct side as many calls in a row, in blocks of 20 with the sides in
turn (a script looping over prompts: whatever a request leaves to do after its response
delays the next one on that connection).

Prints p50/p99 of each side, of the per-pair difference (the overhead), the targets:
overhead p50 < 3 ms and p99 < 8 ms, a cache hit < 2 ms p50 server-side, and (no targets)
the gateway's overhead as a ratio of each reference's and its difference per round. Usage::

    python bench/gateway_bench.py [--calls 300] [--hits 300] [--in-a-row 200] [--workers 4]
                                  [--baseline DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import signal
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx2
import openai
import psutil
import psycopg
from gateway_sides import API_KEY, MODEL, check_ledger, serve, serve_references
from harness import (
    REPO,
    BenchError,
    Server,
    interrupt,
    percentile,
    start_database,
    verdict,
)

from codex32.testing.fake_openai import FakeOpenAI

PROMPT = "Describe a bot that checks a website every hour"
MAX_TOKENS = 256
WARMUP = 30
ROW_BLOCK = 20  # misses back to back per side in turn (--in-a-row)
TARGET_P50_MS = 3.0
TARGET_P99_MS = 8.0
TARGET_HIT_P50_MS = 2.0
# The bare references (bench/reference_gateway.py; gateway_sides.serve_references): labels.
REFERENCES = {"proxy": "proxy reference", "ledgered": "ledgered reference"}


def server_ms(headers: Any) -> float:
    """The app's time from ``Server-Timing: app;dur=<ms>``."""
    value = headers.get("server-timing", "")
    for metric in value.split(","):
        name, _, rest = metric.strip().partition(";")
        if name == "app" and rest.startswith("dur="):
            return float(rest[4:])
    raise BenchError(f"no Server-Timing app;dur in the answer ({value!r})")


def ask(client: openai.OpenAI, prompt: str) -> tuple[float, Any]:
    """One chat completion at temperature 0: the client-side ms and the answer's headers."""
    started = time.perf_counter()
    raw = client.chat.completions.with_raw_response.create(
        model=MODEL, messages=[{"role": "user", "content": prompt}],
        max_tokens=MAX_TOKENS, temperature=0)
    elapsed = (time.perf_counter() - started) * 1000
    if not raw.parse().choices:
        raise BenchError("an answer without a choice")
    return elapsed, raw.headers


def hop(client: httpx2.Client, url: str) -> tuple[float, Any]:
    """One ``GET /health/alive`` (Flask and every request hook, no authentication, no
    database): the client-side ms and the answer's headers."""
    started = time.perf_counter()
    answer = client.get(url)
    elapsed = (time.perf_counter() - started) * 1000
    if answer.status_code != 200:
        raise BenchError(f"GET {url}: {answer.status_code}")
    return elapsed, answer.headers


def worker_cpu_ms(server: Server) -> float:
    """CPU time (user + system, ms) the server's gunicorn workers used so far."""
    total = 0.0
    for worker in server.workers():
        with contextlib.suppress(psutil.NoSuchProcess):
            times = worker.cpu_times()
            total += (times.user + times.system) * 1000
    return total


def measure(sides: dict[str, tuple[openai.OpenAI, Server]], direct: openai.OpenAI,
            calls: int, hits: int, floor: httpx2.Client | None = None,
            references: tuple[dict[str, openai.OpenAI], Server] | None = None,
            in_a_row: int = 0) -> dict[str, dict[str, list[float]]]:
    """Timings in ms per server (``client``, ``overhead`` over the direct call of the same
    round, ``server``, then cache hits ``hit_client``, ``hit_server``; ``cpu`` and
    ``hit_cpu``: its workers' CPU ms per request) and ``direct``'s; with ``floor``, the
    ``floor`` side: the gateway server's ``GET /health/alive`` in the same rounds
    (``client``, ``server``), the HTTP hop and hooks every answer pays, and ``cpu``: its
    workers' CPU per GET, timed apart and taken off the gateway's ``cpu``. ``references``:
    the bare references' clients by name and their server: each is a side of the rounds
    (``client``, ``overhead``, ``server``; ``cpu`` timed apart after them, as many calls).
    ``in_a_row``: then that many misses back to back per product side (``row_client``) and
    direct calls (``direct``'s ``row_client``).

    Each round asks every side the same new prompt (so every gateway call misses the cache,
    looks up, reserves, stores), in an order that rotates from round to round. CPU per
    request is the figure least disturbed by other load on the machine.
    """
    servers = {name: client for name, (client, _) in sides.items()}
    bare = references[0] if references is not None else {}
    timings: dict[str, dict[str, list[float]]] = {
        name: {"client": [], "overhead": [], "server": [], "hit_client": [], "hit_server": [],
               "cpu": [], "hit_cpu": []}
        for name in servers}
    timings.update({name: {"client": [], "overhead": [], "server": [], "cpu": []}
                    for name in bare})
    timings["direct"] = {"client": []}
    timings["floor"] = {"client": [], "server": []}
    clients = {**servers, **bare, "direct": direct}
    order = [*servers, "direct", *bare, *(["floor"] if floor is not None else [])]
    alive = sides["gateway"][1].base + "/health/alive"
    run = uuid.uuid4().hex[:8]
    cpu: dict[str, float] = {}
    for index in range(WARMUP + calls):
        if index == WARMUP:
            cpu = {name: worker_cpu_ms(server) for name, (_, server) in sides.items()}
        prompt = f"{PROMPT} ({run}-{index})"
        shift = index % len(order)
        measured: dict[str, tuple[float, Any]] = {}
        for side in order[shift:] + order[:shift]:
            if side == "floor":
                assert floor is not None
                measured[side] = hop(floor, alive)
            else:
                measured[side] = ask(clients[side], prompt)
        if index < WARMUP:
            continue
        direct_ms = measured["direct"][0]
        timings["direct"]["client"].append(direct_ms)
        if floor is not None:
            timings["floor"]["client"].append(measured["floor"][0])
            timings["floor"]["server"].append(server_ms(measured["floor"][1]))
        for name in [*servers, *bare]:
            elapsed, headers = measured[name]
            if name in servers and headers.get("x-ratelimit-limit-requests") is None:
                raise BenchError(f"{name}: the answer has no x-ratelimit-* headers")
            timings[name]["client"].append(elapsed)
            timings[name]["overhead"].append(elapsed - direct_ms)
            timings[name]["server"].append(server_ms(headers))
    for name, (_, server) in sides.items():
        timings[name]["cpu"].append((worker_cpu_ms(server) - cpu[name]) / calls)
    if references is not None:
        # Both references run on one server: each one's CPU is timed apart, as many calls.
        for name, client in bare.items():
            before = worker_cpu_ms(references[1])
            for index in range(calls):
                ask(client, f"{PROMPT} ({run}-{name}-apart-{index})")
            timings[name]["cpu"] = [(worker_cpu_ms(references[1]) - before) / calls]
    if floor is not None:
        # The rounds' floor GETs ran on the gateway's workers: their CPU, timed apart (as
        # many again), is taken off the gateway's miss CPU, so both sides count their
        # chats only.
        server = sides["gateway"][1]
        before = worker_cpu_ms(server)
        for _ in range(calls):
            hop(floor, alive)
        timings["floor"]["cpu"] = [(worker_cpu_ms(server) - before) / calls]
        timings["gateway"]["cpu"][0] -= timings["floor"]["cpu"][0]
    cached = f"{PROMPT} ({run}-cached)"
    for client in servers.values():
        ask(client, cached)  # stores it
    for index in range(WARMUP + hits):
        if index == WARMUP:
            cpu = {name: worker_cpu_ms(server) for name, (_, server) in sides.items()}
        for name, client in servers.items():
            elapsed, headers = ask(client, cached)
            if index >= WARMUP:
                timings[name]["hit_client"].append(elapsed)
                timings[name]["hit_server"].append(server_ms(headers))
    for name, (_, server) in sides.items():
        timings[name]["hit_cpu"].append((worker_cpu_ms(server) - cpu[name]) / hits)
    # In blocks of ROW_BLOCK calls per side, the sides in turn (so drift in the machine's
    # speed hits every side alike); a block's first call follows another side's, so only the
    # others count.
    sides_in_a_row = [*servers.items(), ("direct", direct)]
    for name, _ in sides_in_a_row:
        timings[name]["row_client"] = []
    for block in range(-(-in_a_row // (ROW_BLOCK - 1))):
        shift = block % len(sides_in_a_row)
        for name, client in sides_in_a_row[shift:] + sides_in_a_row[:shift]:
            timings[name]["row_client"] += [
                ask(client, f"{PROMPT} ({run}-{name}-row-{block}-{index})")[0]
                for index in range(ROW_BLOCK)][1:]
    return timings


def commit_floor(dsn: str, rounds: int = 200) -> list[float]:
    """ms of one durable commit of a one-row write on the same database (the WAL flush every
    acknowledged ledger row waits for): the floor under a request's server-side time."""
    times = []
    with psycopg.connect(dsn) as connection:
        # A plain table: a temporary one writes no WAL, so its commit waits for nothing.
        connection.execute("CREATE TABLE bench_commit_floor (n int)")
        connection.commit()
        for number in range(rounds):
            connection.execute("INSERT INTO bench_commit_floor VALUES (%s)", (number,))
            started = time.perf_counter()
            connection.commit()
            times.append((time.perf_counter() - started) * 1000)
        connection.execute("DROP TABLE bench_commit_floor")
        connection.commit()
    return times


def row(label: str, values: list[float]) -> None:
    print(f"  {label:48}{percentile(values, 50):9.2f}{percentile(values, 99):9.2f}"
          f"{sum(values) / len(values):9.2f}")


def ratio(ours: float, theirs: float) -> str:
    return f"{ours / theirs:.2f}x" if theirs > 0 else "n/a"


def compare(timings: dict[str, dict[str, list[float]]]) -> None:
    """Each product side against each bare reference of the same rounds (no targets): its
    time minus the reference's per round (its own cost over the reference's), and the ratios
    of their overheads over direct and of their CPU per miss."""
    print(f"against the bare references (bench/reference_gateway.py), same rounds, no targets"
          f"\n  {'':48}{'p50 ms':>9}{'p99 ms':>9}{'mean ms':>9}")
    for product in ("gateway", "baseline"):
        for name in (name for name in REFERENCES if name in timings and product in timings):
            ours, theirs = timings[product], timings[name]
            row(f"{product} - {name} reference, same round",
                [a - b for a, b in zip(ours["client"], theirs["client"], strict=True)])
            p50s = [percentile(side["overhead"], 50) for side in (ours, theirs)]
            p99s = [percentile(side["overhead"], 99) for side in (ours, theirs)]
            cpus = ours["cpu"][0], theirs["cpu"][0]
            print(f"  ratio {product} overhead / {name} reference's: p50 {ratio(*p50s)} "
                  f"({p50s[0]:.2f} / {p50s[1]:.2f} ms), p99 {ratio(*p99s)} "
                  f"({p99s[0]:.2f} / {p99s[1]:.2f} ms)\n"
                  f"  ratio {product} workers' CPU per miss / {name} reference's: "
                  f"{ratio(*cpus)} ({cpus[0]:.2f} / {cpus[1]:.2f} ms)")


def report(timings: dict[str, dict[str, list[float]]], totals: dict[str, Any],
           floor: list[float], reference_rows: int | None = None) -> bool:
    """Print the table and the targets (for ``gateway``), then the comparison with the bare
    references; True when all targets pass."""
    ours = timings["gateway"]
    calls, hits = len(ours["client"]), len(ours["hit_server"])

    print(f"gateway through gunicorn vs the openai SDK directly, same local FakeOpenAI, "
          f"{calls} interleaved rounds (after {WARMUP} warm-up), then {hits} cache hits")
    print(f"  {'':48}{'p50 ms':>9}{'p99 ms':>9}{'mean ms':>9}")
    row("openai SDK -> fake (direct)", timings["direct"]["client"])
    for name, label in (("gateway", "gateway"), ("baseline", "baseline")):
        if name not in timings:
            continue
        found = timings[name]
        row(f"openai SDK -> {label} -> fake (cache miss)", found["client"])
        row(f"  overhead ({label} - direct, same round)", found["overhead"])
        row("  server-side time of a miss (Server-Timing)", found["server"])
        row(f"{label}: cache hit, client-side", found["hit_client"])
        row(f"{label}: cache hit, server-side (Server-Timing)", found["hit_server"])
        print(f"  {label}: workers' CPU per request: miss {found['cpu'][0]:.2f} ms, "
              f"cache hit {found['hit_cpu'][0]:.2f} ms")
    for name, label in REFERENCES.items():
        if name in timings:
            found = timings[name]
            row(f"openai SDK -> {label} -> fake", found["client"])
            row(f"  overhead ({name} - direct, same round)", found["overhead"])
            row("  server-side time (Server-Timing)", found["server"])
            print(f"  {name} reference: workers' CPU per request {found['cpu'][0]:.2f} ms "
                  f"(timed apart, {calls} calls)")
    if timings["floor"]["client"]:
        hop = timings["floor"]
        row("floor: GET /health/alive via gunicorn, client", hop["client"])
        row("floor: GET /health/alive, server-side", hop["server"])
        if hop.get("cpu"):
            print(f"  floor: workers' CPU per GET /health/alive {hop['cpu'][0]:.2f} ms (taken "
                  f"off the gateway's miss CPU above: the rounds' floor GETs ran on its workers)")
        overhead, hop_p50 = percentile(ours["overhead"], 50), percentile(hop["client"], 50)
        ratio = percentile(ours["hit_server"], 50) / max(percentile(hop["server"], 50), 0.01)
        print(f"  (overhead p50 {overhead:.2f} ms: the floor's HTTP hop and hooks {hop_p50:.2f} "
              f"ms + {overhead - hop_p50:.2f} ms; a hit server-side is {ratio:.1f}x the floor's)")
    if ours.get("row_client"):
        direct_row = percentile(timings["direct"]["row_client"], 50)
        row("direct calls back to back, client", timings["direct"]["row_client"])
        for name in ("gateway", "baseline"):
            if timings.get(name, {}).get("row_client"):
                row(f"{name}: misses back to back (one connection)", timings[name]["row_client"])
                print(f"  ({name} back to back p50 - direct back to back p50: "
                      f"{percentile(timings[name]['row_client'], 50) - direct_row:.2f} ms)")
    row("one durable commit on this database (floor)", floor)
    print(f"  ledger (gateway): {totals['requests']} rows, {totals['cache_hits']} cache hits, "
          f"cost {totals['cost_usd']} USD")
    if reference_rows is not None:
        print(f"  ledger (ledgered reference's workspace): {reference_rows} rows")
    p50, p99 = percentile(ours["overhead"], 50), percentile(ours["overhead"], 99)
    hit = percentile(ours["hit_server"], 50)
    checks = ((f"overhead p50 < {TARGET_P50_MS:g} ms", p50, p50 < TARGET_P50_MS),
              (f"overhead p99 < {TARGET_P99_MS:g} ms", p99, p99 < TARGET_P99_MS),
              (f"cache hit p50 server-side < {TARGET_HIT_P50_MS:g} ms", hit,
               hit < TARGET_HIT_P50_MS))
    for label, value, ok in checks:
        print(f"  target {label}: {value:.2f} ms {verdict(ok)}")
    if any(name in timings for name in REFERENCES):
        compare(timings)
    return all(ok for _, _, ok in checks)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=300, help="interleaved rounds (misses)")
    parser.add_argument("--hits", type=int, default=300, help="cache hits")
    parser.add_argument("--in-a-row", type=int, default=200,
                        help="misses back to back on one connection, after the hits")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers")
    parser.add_argument("--baseline", type=Path, help="another checkout of the product (e.g. "
                        "`git worktree add /tmp/before <commit>`; same schema) served beside "
                        "this one and measured in the same rounds")
    parser.add_argument("--redis", metavar="URL", help="the servers' REDIS_URL (limits and "
                        "rests in Redis, as deployed; by default per process)")
    args = parser.parse_args(argv)
    with contextlib.ExitStack() as stack:
        folder = Path(tempfile.mkdtemp(prefix="codex32-gateway-bench-"))
        stack.callback(shutil.rmtree, folder, ignore_errors=True)
        database = start_database(folder)
        stack.callback(database.close)
        fake = stack.enter_context(FakeOpenAI(api_key=API_KEY))
        checkouts = {"gateway": REPO}
        if args.baseline:
            checkouts["baseline"] = args.baseline.resolve()
        sides, tenants = {}, {}
        for name, checkout in checkouts.items():
            client, server, tenant = serve(name, checkout, database, folder, args.workers,
                                           fake.url, stack, redis_url=args.redis)
            sides[name], tenants[name] = (client, server), tenant
        server, tenant = sides["gateway"][1], tenants["gateway"]
        bare, reference, reference_tenant = serve_references(
            server, database, folder, args.workers, fake.url, stack)
        direct = stack.enter_context(openai.OpenAI(
            base_url=fake.url, api_key=API_KEY, max_retries=0, timeout=30))
        floor_client = stack.enter_context(httpx2.Client(timeout=30))
        timings = measure(sides, direct, args.calls, args.hits, floor_client,
                          (bare, reference), args.in_a_row)
        in_a_row = -(-args.in_a_row // (ROW_BLOCK - 1)) * ROW_BLOCK
        totals = check_ledger(server.base, tenant.refresh(server),
                              2 * WARMUP + args.calls + args.hits + 1 + in_a_row)
        # The ledgered reference's rounds and its calls timed apart each left a row.
        reference_rows = check_ledger(server.base, reference_tenant.refresh(server),
                                      WARMUP + 2 * args.calls)["requests"]
        floor = commit_floor(database.admin_dsn)
    report(timings, totals, floor, reference_rows)
    return 0


if __name__ == "__main__":
    # SIGTERM unwinds like Ctrl-C, so the servers and the database are stopped.
    signal.signal(signal.SIGTERM, interrupt)
    sys.exit(main())

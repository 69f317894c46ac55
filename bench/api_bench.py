"""The ``api`` section of bench/run.py (documented there): the product's bot list and create
through gunicorn against the bare Flask + psycopg reference (bench/reference_app.py), driven by
wrk (bench/load.py); with ``--large``, again over 1,000,000 bots, and the list SQL alone.
"""

from __future__ import annotations

import argparse
import contextlib
import time
import uuid
from pathlib import Path

import psycopg
from harness import (
    RATE_LIMIT,
    BenchDatabase,
    BenchError,
    Server,
    base_environment,
    gunicorn_command,
    http_json,
    percentile,
    product_environment,
    sibling_database,
    start_server,
    verdict,
)
from load import BENCH, WARMUP_SECONDS, Figures, Target, measure, median_of, paired
from signups import Tenant, create_bots, sign_up

from codex32.testing.receivers import free_port

LIST_BOTS = 60
PAGE_SIZE = 50
LARGE_WORKSPACES = 1000
LARGE_BOTS_PER_WORKSPACE = 1000
# Targets (docs/performance.md).
LIST_RPS_SHARE = 0.60
P99_LIMIT_MS = 100.0
LARGE_TOLERANCE = 1.20


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

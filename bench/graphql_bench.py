"""Benchmark: one GraphQL request for bots with their versions and executions, against the
REST calls a client makes for the same data (the bot list, then each bot's versions and
executions), measured in the same run.

Starts a throwaway migrated PostgreSQL (bench/harness.py) and the app in-process (its test
client makes the requests: no HTTP server in the path, so the figures are the app's and the
database's work). Loads ``--bots`` bots with three versions and three queued executions each,
then times ``--rounds`` rounds of: the GraphQL query; the REST sequence (1 + 2 x bots
requests); the REST bot list alone. Also counts the SQL statements each sends.

Usage: ``python bench/graphql_bench.py [--bots 50] [--rounds 20]``. Prints the medians, the
ratios and the load average; everything it starts is stopped on exit.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import psycopg
from harness import signed_up_headers, start_database

CODE = "def main(event, context):\n    return {'ok': True}\n"
PASSWORD = "correct horse battery staple"
QUERY = """query($n: Int) { bots(first: $n) { nodes { id name
  versions(first: 3) { nodes { number message } }
  executions(first: 3) { nodes { id status } } } } }"""


class Counted:
    """Counts the statements psycopg sends while active."""

    def __init__(self) -> None:
        self.sent = 0
        self._original = psycopg.Cursor.execute

    def __enter__(self) -> Counted:
        original, counter = self._original, self

        def counting(cursor, query, *args, **kwargs):
            counter.sent += 1
            return original(cursor, query, *args, **kwargs)

        psycopg.Cursor.execute = counting  # type: ignore[method-assign]
        return self

    def __exit__(self, *exc: object) -> None:
        psycopg.Cursor.execute = self._original  # type: ignore[method-assign]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--bots", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    with contextlib.ExitStack() as stack:
        folder = Path(tempfile.mkdtemp(prefix="codex32-graphql-bench-"))
        stack.callback(shutil.rmtree, folder, ignore_errors=True)
        database = start_database(folder / "db")
        stack.callback(database.close)
        from codex32.app import create_app
        from codex32.config import Settings

        settings = Settings(env="test", data_dir=folder / "app", secret_key="s" * 40,
                            jwt_secret_key="j" * 40, secrets_keys=["k" * 44],
                            argon2_time_cost=1, argon2_memory_kib=8192,
                            rate_limit_per_minute=10_000_000, log_level="WARNING",
                            load_plugins=["builtin"])
        client = create_app(settings, database.urls).test_client()
        headers, _ = signed_up_headers(client, "Bench", f"bench-{uuid.uuid4().hex[:8]}",
                                       "bench@example.com", PASSWORD)
        for index in range(args.bots):
            bot = client.post("/api/v1/bots", headers=headers,
                              json={"name": f"bot-{index}", "code": CODE}).json
            for _ in range(2):
                client.post(f"/api/v1/bots/{bot['id']}/versions", headers=headers,
                            json={"code": CODE})
            for _ in range(3):
                client.post(f"/api/v1/bots/{bot['id']}/executions", headers=headers, json={})

        def graphql() -> None:
            answer = client.post("/api/graphql", headers=headers,
                                 json={"query": QUERY, "variables": {"n": args.bots}})
            assert answer.status_code == 200 and "errors" not in answer.json, answer.json
            assert len(answer.json["data"]["bots"]["nodes"]) == args.bots

        def rest() -> None:
            listed = client.get(f"/api/v1/bots?page_size={args.bots}", headers=headers).json
            for bot in listed["items"]:
                client.get(f"/api/v1/bots/{bot['id']}/versions?page_size=3", headers=headers)
                client.get(f"/api/v1/bots/{bot['id']}/executions?page_size=3",
                           headers=headers)

        def rest_list() -> None:
            client.get(f"/api/v1/bots?page_size={args.bots}", headers=headers)

        timings: dict[str, list[float]] = {"graphql": [], "rest": [], "rest_list": []}
        calls: dict[str, Callable[[], None]] = {"graphql": graphql, "rest": rest,
                                                "rest_list": rest_list}
        statements = {}
        for name, call in calls.items():
            call()  # warm
            with Counted() as counted:
                call()
            statements[name] = counted.sent
        for _ in range(args.rounds):  # interleaved: the machine's noise hits all three alike
            for name, call in calls.items():
                started = time.perf_counter()
                call()
                timings[name].append((time.perf_counter() - started) * 1000)
        medians = {name: statistics.median(values) for name, values in timings.items()}
        load = os.getloadavg()
        print(f"bots={args.bots} (3 versions, 3 executions each), rounds={args.rounds}, "
              f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
        for name in calls:
            print(f"{name:10s} median {medians[name]:8.2f} ms  statements {statements[name]}")
        print(f"rest / graphql        {medians['rest'] / medians['graphql']:.2f}x")
        print(f"graphql / rest_list   {medians['graphql'] / medians['rest_list']:.2f}x")


if __name__ == "__main__":
    main()

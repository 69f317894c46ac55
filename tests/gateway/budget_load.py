"""One process of the budget concurrency test: ``threads`` gateway calls at one moment.

Run by tests/gateway/test_budgets.py as ``python -m tests.gateway.budget_load ARGS_JSON``.
Once its app is built and every thread holds its bound session, it prints ``ready`` and reads
the moment to start at (a Unix time) from stdin: the test sends the same moment to every
process once all of them are ready, so the calls of all processes start together without a
start-up allowance guessed in advance. Prints the outcomes as JSON on its last line.
"""

from __future__ import annotations

import gc
import json
import sys
import threading
import time
from pathlib import Path

from codex32.app import create_app
from codex32.db import db, tenancy
from codex32.db.urls import DatabaseUrls
from codex32.errors import RateLimited
from codex32.services import gateway
from tests.conftest import make_settings
from tests.gateway.conftest import ask


def main() -> None:
    args = json.loads(sys.argv[1])
    app = create_app(make_settings(Path(args["data_dir"]), startup_checks=False),
                     DatabaseUrls(runtime=args["runtime"], owner=args["owner"]))
    gateway.setup.tokens.warm()  # what the app's start-up thread does, finished first
    gateway.setup.prices.warm()
    outcomes: list[str] = []
    lock = threading.Lock()
    bound = threading.Barrier(args["threads"] + 1, timeout=120)
    start_at: list[float] = []

    def one() -> None:
        with app.app_context():
            tenancy.bind(db.session, args["workspace_id"])
            bound.wait()  # every thread bound, then the main thread learns the moment
            bound.wait()
            time.sleep(max(0.0, start_at[0] - time.time()))
            began = time.monotonic()
            try:
                gateway.chat(args["workspace_id"],
                             ask(model="openai/gpt-4o-mini", max_tokens=args["max_tokens"]),
                             purpose="test", deadline_seconds=30)
                outcome = "ok"
            except RateLimited:
                outcome = "refused"
            except Exception as exc:  # reported, so the test shows it
                outcome = f"error {type(exc).__name__}: {exc}"
            finally:
                db.session.remove()
            if args.get("timing"):
                outcome += f" {time.monotonic() - began:.1f}s"
            with lock:
                outcomes.append(outcome)

    threads = [threading.Thread(target=one) for _ in range(args["threads"])]
    for thread in threads:
        thread.start()
    bound.wait()
    print("ready", flush=True)
    start_at.append(float(sys.stdin.readline()))
    bound.wait()
    for thread in threads:
        thread.join()
    print(json.dumps(outcomes))
    gc.freeze()  # the exit's collections would walk the whole app to free it: 0.6 s or more


if __name__ == "__main__":
    main()

"""The sides bench/gateway_bench.py measures: the product under gunicorn with a workspace
configured for the gateway (:func:`serve`), and the bare references beside it
(:func:`serve_references`, bench/reference_gateway.py) under the same gunicorn config with
as many workers, their ledgered side on a second workspace of the gateway's server configured
alike (its own API key, budgets and cache).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

import openai
from api_bench import reference_environment
from harness import (
    REPO,
    BenchDatabase,
    BenchError,
    Server,
    gunicorn_command,
    http_json,
    product_environment,
    start_server,
)
from load import BENCH
from signups import Tenant, sign_up

from codex32.testing.receivers import free_port

API_KEY = "sk-bench-gateway"
MODEL = "gpt-4o-mini"


def setup_steps(fake_url: str, provider_key: str, key_id: str) -> list[tuple[str, str, Any]]:
    """The API calls that configure a benchmarked workspace (its admin makes them): the
    openai plugin at the fake, rate limits per workspace and per key, the cache, and a
    workspace and an API-key budget (``key_id``), each with a hard limit."""
    limits = {"requests_per_minute": 1_000_000, "tokens_per_minute": 1_000_000_000}
    return [
        ("PUT", "/api/v1/providers/llm/openai",
         {"config": {"base_url": fake_url, "model": MODEL, "timeout": 30},
          "secrets": {"api_key": provider_key}}),
        ("PATCH", "/api/v1/workspace", {"settings": {"llm_fallback": ["openai"], "llm": {
            "rate_limits": {**limits, "per_key": limits},
            "cache": {"enabled": True, "ttl_seconds": 3600, "max_entries": 100_000}}}}),
        ("PUT", "/api/v1/budgets", {"budgets": [
            {"scope": "workspace", "period": "month", "soft_limit_usd": 10**6,
             "hard_limit_usd": 10**7},
            {"scope": "api_key", "scope_id": key_id, "period": "day",
             "hard_limit_usd": 10**6}]}),
    ]


def configure(base: str, token: str, fake_url: str) -> str:
    """Give the workspace its openai provider, limits, budgets and cache; a new API key."""
    status, minted = http_json("POST", base + "/api/v1/api-keys",
                               {"name": "gateway bench", "role": "api_user"}, token=token)
    if status != 201:
        raise BenchError(f"minting an API key failed: {status} {minted}")
    for method, path, body in setup_steps(fake_url, API_KEY, minted["id"]):
        status, answer = http_json(method, base + path, body, token=token)
        if status not in (200, 201):
            raise BenchError(f"{method} {path} failed: {status} {answer}")
    return minted["key"]


def check_ledger(base: str, token: str, expected: int) -> dict[str, Any]:
    """The usage report's totals: every gateway call left a row, the hits among them."""
    status, body = http_json("GET", base + "/api/v1/usage", token=token)
    if status != 200 or not body["groups"]:
        raise BenchError(f"GET /api/v1/usage failed: {status} {body}")
    totals = body["groups"][0]
    if totals["requests"] != expected:
        raise BenchError(f"the ledger has {totals['requests']} rows, expected {expected}")
    return totals


def serve(name: str, checkout: Path, database: Any, folder: Path, workers: int,
          fake_url: str, stack: contextlib.ExitStack, redis_url: str | None = None,
          ) -> tuple[openai.OpenAI, Server, Tenant]:
    """Start ``checkout``'s product under gunicorn, sign up a configured workspace: its SDK
    client (a workspace API key), the server and the admin's token. ``redis_url``: the
    servers' REDIS_URL (none by default)."""
    port = free_port()
    env = {**product_environment(database, port, folder, name),
           "WEB_CONCURRENCY": str(workers), "CODEX32_ALLOW_PRIVATE_URLS": "1",
           **({"REDIS_URL": redis_url} if redis_url else {})}
    if checkout != REPO:
        # Ahead of this checkout's install: its core, and the provider plugins of its day.
        env["PYTHONPATH"] = os.pathsep.join(
            str(checkout / part) for part in ("platform", "plugins/openai", "plugins/anthropic"))
    server = start_server(name, gunicorn_command("wsgi:app"), env, port,
                          folder / f"{name}.log", "/health/ready", stack, deadline=300,
                          cwd=checkout)
    tenant = sign_up(server, name)
    key = configure(server.base, tenant.access_token, fake_url)
    client = stack.enter_context(openai.OpenAI(
        base_url=server.base + "/api/v1/openai", api_key=key, max_retries=0, timeout=30))
    return client, server, tenant


def serve_references(gateway: Server, database: BenchDatabase, folder: Path, workers: int,
                     fake_url: str, stack: contextlib.ExitStack
                     ) -> tuple[dict[str, openai.OpenAI], Server, Tenant]:
    """Start bench/reference_gateway.py under gunicorn: an SDK client for each reference
    (``proxy``, ``ledgered``), its server, and the second workspace the ledgered one
    writes to (signed up and configured on ``gateway``, its API key the client's)."""
    port = free_port()
    env = {**reference_environment(database, port, folder), "WEB_CONCURRENCY": str(workers),
           "BENCH_REFERENCE_LLM_URL": fake_url, "BENCH_REFERENCE_LLM_KEY": API_KEY}
    tenant = sign_up(gateway, "reference")
    key = configure(gateway.base, tenant.access_token, fake_url)
    server = start_server(
        "reference", gunicorn_command("reference_gateway:app", "--pythonpath", str(BENCH)),
        env, port, folder / "reference.log", "/health", stack)
    clients = {
        "proxy": openai.OpenAI(base_url=server.base + "/v1/proxy", api_key="unused",
                               max_retries=0, timeout=30),
        "ledgered": openai.OpenAI(base_url=server.base + "/v1/ledgered", api_key=key,
                                  default_query={"ws": tenant.workspace_id}, max_retries=0,
                                  timeout=30)}
    for client in clients.values():
        stack.enter_context(client)
    return clients, server, tenant

"""The gateway's bare references for bench/gateway_bench.py: Flask, the ``openai`` SDK and, for
the ledgered one, psycopg with the product's SQL; nothing else.

No authentication layer, no schemas, no ORM, no rate limiter, no metrics, no request log.
Both answer in the product's shape (``id``, ``object``, ``created``, ``model``, ``choices``,
``usage``) and set ``Server-Timing: app;dur=<ms>`` (a before- and an after-request hook):

``POST /v1/proxy/chat/completions``
    The bare proxy: the JSON body forwarded to the fake with the real SDK as the product's
    plugin sends it (``client.post("/chat/completions", body=..., cast_to=ChatCompletion)``),
    one ``openai.OpenAI(base_url=BENCH_REFERENCE_LLM_URL, api_key=BENCH_REFERENCE_LLM_KEY,
    max_retries=0)`` per worker, made on its first request (after the fork).
``POST /v1/ledgered/chat/completions?ws=<workspace id>``
    The proxy plus the SQL of the product's cache miss, statement for statement and round
    trip for round trip (captured from ``POST /api/v1/openai/chat/completions`` with an API
    key, docs/llm-gateway.md "Round trips per request"), as the product's runtime role, so
    row-level security applies alike:

    1. psycopg's own ``BEGIN``, then one pipeline: the API-key lookup (``auth_api_key`` on
       the SHA-256 of the bearer key) binding the key's workspace with ``set_config``, the
       workspace settings and provider configurations, the deployments at rest;
    2. the cache lookup, the hit's ledger row CTE, the budget reservation and the pending
       ledger row (the product's one statement) with ``COMMIT``; the connection goes back to
       the pool for the call;
    3. after the answer is sent (``call_on_close`` handing it to the process's background
       thread, ``codex32.runtime.background``, as the product records it), one pipeline
       on a connection in autocommit mode: ``BEGIN``, binding, the ledger row over the
       pending one (``INSERT … ON CONFLICT``), cache ``INSERT … ON CONFLICT``,
       ``COMMIT AND CHAIN``, binding, settlement ``UPDATE`` of the reserved budgets,
       ``COMMIT``.

    Simplified in Python only: the reservation is a fixed amount (the product prices the
    prompt), the cost is priced at gpt-4o-mini's rates, the cache key is the SHA-256 of the
    workspace and body, the provider configuration read is not decrypted or used (the fake's
    URL comes from the environment), cooldowns read are not applied, no soft-limit notice.
    ``ws`` must name the key's workspace (a check, as the product's binding comes from the
    key); an unknown, expired or foreign key is answered 401.

Served by ``gunicorn --config gunicorn.conf.py --pythonpath bench reference_gateway:app``
with ``BENCH_REFERENCE_DSN`` (a libpq URL of the runtime role), ``BENCH_REFERENCE_LLM_URL``
and ``BENCH_REFERENCE_LLM_KEY``. The database pool is bench/reference_app.py's.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import openai
from flask import Flask, g, jsonify, request
from openai.types.chat import ChatCompletion
from psycopg.types.json import Jsonb
from reference_app import pool
from sqlalchemy.dialects.postgresql import psycopg as psycopg_dialect

from codex32.plugins.interfaces import Usage
from codex32.runtime import background
from codex32.services.gateway import budgets, cache, cooldown, ledger, records
from codex32.services.gateway.calls import Caller


def _sql(statement: Any) -> str:
    """A product statement (SQLAlchemy ``text``) as psycopg runs it (``%(name)s``)."""
    if isinstance(statement, str):
        return statement
    return str(statement.compile(dialect=psycopg_dialect.dialect()))

# --- the product's statements, as its driver sends them (psycopg placeholders) ------------
LOOKUP_KEY = (
    "SELECT set_config('app.workspace_id', found.workspace_id::text, true), found.* "
    "FROM (SELECT id, workspace_id, role, expires_at, created_by, minter_role "
    "FROM auth_api_key(%(h)s)) AS found")
SNAPSHOT = (
    "SELECT workspaces.settings, provider_configs.plugin_id, provider_configs.config, "
    "provider_configs.secrets, provider_configs.generation \n"
    "FROM workspaces LEFT OUTER JOIN provider_configs ON provider_configs.workspace_id = "
    "workspaces.id AND provider_configs.kind = %(kind)s::VARCHAR \n"
    "WHERE workspaces.id = NULLIF(current_setting('app.workspace_id', true), '')::uuid")
# The product's own statements, compiled for psycopg as its driver compiles them: the
# reference runs the product's SQL, never a copy that drifts from it.
RESTING = _sql(cooldown.DatabaseStore.RESTING)
LOOKUP_RECORD_AND_RESERVE = _sql(budgets._LOOKUP_RECORD_AND_RESERVE)
BIND = "SELECT set_config('app.workspace_id', %(codex32_workspace)s, true)"
# The answer's ledger row over the pending one (codex32.db.rows' upsert of an LLMUsage row
# as the product's ledger.entry sets it), as SQLAlchemy compiles it.
UPSERT_LEDGER = _sql(records.replacing(ledger.entry(
    uuid.UUID(int=0), kind="chat", purpose="gateway", caller=Caller(), provider=None,
    model=None, requested_model=None, usage=Usage(), cost=None, status="ok", latency_ms=0,
    attempts=[]))[0])
STORE = _sql(cache._STORE)
SETTLE_APART = _sql(budgets._SETTLE_APART)

RESERVED_USD = Decimal("0.000192")  # what the product reserves for the bench's prompt
PRICE_PER_TOKEN = (Decimal("0.15") / 10**6, Decimal("0.6") / 10**6)  # gpt-4o-mini in, out
CACHE_TTL = 3600

app = Flask("reference-gateway")
_client: openai.OpenAI | None = None
_client_lock = threading.Lock()


def client() -> openai.OpenAI:
    """This worker's SDK client, made on first use (after gunicorn forked the worker)."""
    global _client
    with _client_lock:
        if _client is None:
            _client = openai.OpenAI(base_url=os.environ["BENCH_REFERENCE_LLM_URL"],
                                    api_key=os.environ["BENCH_REFERENCE_LLM_KEY"],
                                    max_retries=0, timeout=30)
        return _client


@app.before_request
def _started() -> None:
    g.started = time.perf_counter()


@app.after_request
def _timed(response):
    response.headers["Server-Timing"] = \
        f"app;dur={(time.perf_counter() - g.started) * 1000:.2f}"
    return response


@app.get("/health")
def health():
    return "ok"


def _complete(body: dict[str, Any]) -> ChatCompletion:
    return client().post("/chat/completions", body=body, cast_to=ChatCompletion)


def _answer(completion: ChatCompletion) -> dict[str, Any]:
    """The product's answer body for a completion."""
    choice, usage = completion.choices[0], completion.usage
    return {"id": f"chatcmpl-{uuid.uuid4().hex}", "object": "chat.completion",
            "created": int(time.time()), "model": completion.model,
            "system_fingerprint": None,
            "choices": [{"index": 0, "message": {"role": "assistant",
                                                 "content": choice.message.content or "",
                                                 "refusal": None},
                         "logprobs": None, "finish_reason": choice.finish_reason}],
            "usage": {"prompt_tokens": usage.prompt_tokens if usage else 0,
                      "completion_tokens": usage.completion_tokens if usage else 0,
                      "total_tokens": usage.total_tokens if usage else 0}}


@app.post("/v1/proxy/chat/completions")
def proxy():
    return jsonify(_answer(_complete(request.get_json())))


def _unauthorized():
    return jsonify({"error": {"message": "invalid API key", "type": "invalid_request_error",
                              "code": "invalid_api_key"}}), 401


@app.post("/v1/ledgered/chat/completions")
def ledgered():
    workspace = request.args["ws"]
    body = request.get_json()
    plain = request.headers.get("Authorization", "").removeprefix("Bearer ")
    started = time.monotonic()
    with pool().connection() as conn:
        # psycopg's BEGIN (a round trip of its own), then the lookup and the first reads.
        with conn.pipeline():
            found = conn.execute(LOOKUP_KEY, {"h": hashlib.sha256(plain.encode()).hexdigest()})
            conn.execute(SNAPSHOT, {"kind": "llm"})
            conn.execute(RESTING)
        key = found.fetchone()
        if key is None or str(key[2]) != workspace or (
                key[4] is not None and key[4] <= datetime.now(UTC)):
            conn.rollback()
            return _unauthorized()
        api_key = key[1]
        cache_key = hashlib.sha256(json.dumps({"workspace": workspace, "body": body},
                                              sort_keys=True).encode()).digest()
        usage_id = uuid.uuid4()
        with conn.pipeline():
            reserved = conn.execute(LOOKUP_RECORD_AND_RESERVE, {
                "ws": uuid.UUID(workspace), "usage_id": usage_id, "kind": "chat",
                "purpose": "gateway",
                "requested_model": body.get("model"), "user_id": None, "execution_id": None,
                "conversation_id": None, "latency_ms": int((time.monotonic() - started) * 1000),
                "key": cache_key, "api_key": api_key, "bot": None, "amount": RESERVED_USD,
                "unpriced": False})
            conn.execute("COMMIT")
        rows = reserved.fetchall()
    if rows[0][0] is not None:
        raise RuntimeError("the ledgered reference measures misses: a prompt was cached")
    budgets = {row[1]: row[2] for row in rows if row[1] is not None}
    completion = _complete(body)  # no connection held
    usage = completion.usage
    tokens = (usage.prompt_tokens, usage.completion_tokens) if usage else (0, 0)
    cost = tokens[0] * PRICE_PER_TOKEN[0] + tokens[1] * PRICE_PER_TOKEN[1]
    choice = completion.choices[0]
    binding = {"codex32_workspace": workspace}
    row = {"workspace_id": uuid.UUID(workspace), "id": usage_id, "kind": "chat",
              "provider": "openai", "model": completion.model,
              "requested_model": body.get("model"), "purpose": "gateway", "user_id": None,
              "api_key_id": api_key, "bot_id": None, "execution_id": None,
              "conversation_id": None, "input_tokens": tokens[0], "cached_input_tokens": 0,
              "output_tokens": tokens[1], "reasoning_tokens": 0,
              "latency_ms": int((time.monotonic() - started) * 1000), "status": "ok",
              "error": None, "cache_hit": False, "cost_usd": cost, "attempts": Jsonb([])}
    stored = {"text": choice.message.content or "", "provider": "openai",
              "model": completion.model, "finish_reason": choice.finish_reason,
              "usage": {"input_tokens": tokens[0], "output_tokens": tokens[1],
                        "cached_input_tokens": 0, "reasoning_tokens": 0}}
    payload = json.dumps(stored, ensure_ascii=False)

    def record() -> None:  # after the answer is sent, as the product records it
        with pool().connection() as conn:
            conn.autocommit = True  # the batch sends its own BEGIN, as the product's does
            try:
                with conn.pipeline():
                    conn.execute("BEGIN")
                    conn.execute(BIND, binding)
                    conn.execute(UPSERT_LEDGER, {f"r0_{name}": value
                                                 for name, value in row.items()})
                    conn.execute(STORE, {"ws": uuid.UUID(workspace), "key": cache_key,
                                         "response": Jsonb(stored, dumps=lambda _: payload),
                                         "size": len(payload), "ttl": CACHE_TTL})
                    if budgets:
                        conn.execute("COMMIT AND CHAIN")
                        conn.execute(BIND, binding)
                        conn.execute(SETTLE_APART, {"ids": list(budgets),
                                                    "starts": list(budgets.values()),
                                                    "reserved": RESERVED_USD, "actual": cost,
                                                    "usage_id": usage_id})
                    conn.execute("COMMIT")
            finally:
                conn.autocommit = False

    response = jsonify(_answer(completion))
    response.call_on_close(lambda: background.run_later(record))
    return response

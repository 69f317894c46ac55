"""The response cache: exact matches of a normalized request, per workspace, in the
``llm_cache`` table (shared by every process; row-level security keeps workspaces apart, and
the workspace is part of the key as well).

Only deterministic requests are cached by default (temperature 0); ``cache: true`` caches a
request whatever its temperature, ``cache: false`` opts out. TTL and size per workspace come
from ``settings.llm.cache``; each workspace keeps at most ``max_entries`` answers and
``MAX_WORKSPACE_BYTES`` in all, and an answer larger than ``MAX_ENTRY_BYTES`` is not stored.

Embeddings share the table, TTL and bounds: one entry per text (a batch reuses the vectors
it has and embeds the rest), keyed by the workspace, the embedding chain with its dimension
and the text. They are deterministic, so cached unless a request opts out.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import random
import struct
import threading
import uuid
from dataclasses import dataclass
from typing import Any

from psycopg.types.json import Jsonb
from sqlalchemy import bindparam, text
from sqlalchemy.orm import Session

from codex32 import runtime
from codex32.db import driver, tenancy
from codex32.observability.metrics import LLM_CACHE
from codex32.plugins.interfaces import ChatRequest, Message
from codex32.runtime import background
from codex32.services.gateway.calls import Deployment, stored_number, stored_section

DEFAULT_TTL = 3600
DEFAULT_MAX_ENTRIES = 1000
MAX_TTL = 30 * 86400  # the bounds settings.llm.cache accepts (the API's schema uses these)
MAX_ENTRIES = 100_000
MAX_ENTRY_BYTES = 256 * 1024
PRUNE_EVERY = 20  # one store in this many trims the workspace's entries
PRUNE_BATCH = 1000  # the most entries of each kind (expired, surplus) one prune deletes
# The most a workspace's answers and vectors hold, whatever its max_entries: a tenant's own
# server can answer MAX_ENTRY_BYTES for free, and 100,000 such entries would be 25 GB.
MAX_WORKSPACE_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class CachePolicy:
    """Whether and how long a workspace caches answers."""

    enabled: bool = True
    ttl: int = DEFAULT_TTL
    max_entries: int = DEFAULT_MAX_ENTRIES

    @classmethod
    def from_settings(cls, llm_settings: dict[str, Any]) -> CachePolicy:
        """The policy of ``settings.llm.cache``; a stored value out of the API's bounds takes
        the default."""
        found = stored_section(llm_settings, "cache")
        return cls(enabled=bool(found.get("enabled", True)),
                   ttl=int(stored_number(found, "ttl_seconds", DEFAULT_TTL, 0, MAX_TTL)),
                   max_entries=int(stored_number(found, "max_entries", DEFAULT_MAX_ENTRIES, 1,
                                                 MAX_ENTRIES)))

    def applies_to_embeddings(self, asked: bool | None) -> bool:
        """Cache embeddings? Yes unless the workspace or the request (``asked``) says no."""
        return asked is not False and self.enabled and self.ttl > 0

    def applies(self, request: ChatRequest, asked: bool | None) -> bool:
        """Cache this request? ``asked`` is the request's own ``cache`` flag."""
        if asked is False or not self.enabled or self.ttl <= 0:
            return False
        return asked is True or request.temperature == 0


def key(workspace_id: uuid.UUID | str, deployments: tuple[Deployment, ...],
        request: ChatRequest, generations: dict[str, str]) -> bytes:
    """SHA-256 of the workspace and the normalized request (chain, model, messages,
    parameters), and each provider's configuration generation (``generations``: an answer
    cached before its provider was reconfigured, say to another base_url, is not served);
    the per-attempt timeout is not part of it."""
    normal = {
        "workspace": str(workspace_id),
        "chain": [[d.provider, d.model, generations.get(d.provider, "")] for d in deployments],
        # A message's tool calls or result only when it holds one: the keys cached before
        # tools still match.
        "messages": [_message(m) for m in request.messages],
        "temperature": request.temperature, "max_tokens": request.max_tokens,
        "json_mode": request.json_mode, "response_schema": request.response_schema,
    }
    if request.stop:  # absent otherwise: the keys cached before stop sequences still match
        normal["stop"] = list(request.stop)
    if request.tools or request.tool_choice is not None:  # likewise
        normal["tools"] = [[t.name, t.description, t.parameters, t.strict]
                           for t in request.tools]
        normal["tool_choice"] = [request.tool_choice, request.parallel_tool_calls]
    return hashlib.sha256(json.dumps(normal, sort_keys=True, ensure_ascii=False,
                                     separators=(",", ":")).encode()).digest()


def _message(message: Message) -> list[Any]:
    """A message as its cache key holds it: its tool calls or the call it answers only
    when it has them, so the keys cached before tools still match."""
    normal: list[Any] = [message.role, message.content]
    if message.tool_calls or message.tool_call_id:
        normal += [[[c.id, c.name, c.arguments] for c in message.tool_calls],
                   message.tool_call_id]
    return normal


# The bound workspace's fresh answer for a key; the budget reservation runs it as its first
# step (budgets.reserve_unless_cached), so a request looks up and reserves in one statement.
FRESH_ANSWER = "SELECT response FROM llm_cache WHERE key = :key AND expires_at > now()"
# A hit's ledger row, written by the statement that found the answer (a CTE after
# ``cached AS (FRESH_ANSWER)``): who answered and the tokens from the cached answer, zero
# cost; the rest from the parameters :func:`.records.request_row` gives.
RECORD_HIT = """
    INSERT INTO llm_usage (workspace_id, id, kind, purpose, provider, model, requested_model,
                           user_id, api_key_id, bot_id, execution_id, conversation_id,
                           input_tokens, cached_input_tokens, output_tokens, reasoning_tokens,
                           latency_ms, status, cache_hit, cost_usd)
    SELECT :ws, :usage_id, :kind, :purpose, response->>'provider', response->>'model',
           :requested_model, :user_id, :api_key, :bot, :execution_id, :conversation_id,
           COALESCE((response->'usage'->>'input_tokens')::int, 0),
           COALESCE((response->'usage'->>'cached_input_tokens')::int, 0),
           COALESCE((response->'usage'->>'output_tokens')::int, 0),
           COALESCE((response->'usage'->>'reasoning_tokens')::int, 0),
           :latency_ms, 'ok', true, 0
    FROM cached"""


_STORE = text("""
    INSERT INTO llm_cache (workspace_id, key, response, size, expires_at)
    VALUES (:ws, :key, :response, :size, now() + make_interval(secs => :ttl))
    ON CONFLICT (workspace_id, key) DO UPDATE SET response = EXCLUDED.response,
        size = EXCLUDED.size, created_at = now(), expires_at = EXCLUDED.expires_at""")
# At most PRUNE_BATCH of them a prune: one that finds more leaves the rest to the next.
_PRUNE_EXPIRED = text("""
    DELETE FROM llm_cache WHERE key IN (
      SELECT key FROM llm_cache WHERE expires_at <= now() LIMIT :batch)""")
# The oldest beyond ``keep`` answers or beyond ``max_bytes`` in all (newest first).
_PRUNE_OLDEST = text("""
    DELETE FROM llm_cache WHERE key IN (
      SELECT key FROM (
        SELECT key, row_number() OVER newest AS place, sum(size) OVER newest AS held
        FROM llm_cache WINDOW newest AS (ORDER BY created_at DESC, key)) AS ranked
      WHERE place > :keep OR held > :max_bytes
      LIMIT :batch)""")

_INSERT_MANY = text("""
    INSERT INTO llm_cache (workspace_id, key, response, size, expires_at)
    VALUES (:ws, :key, CAST(:response AS jsonb), :size, now() + make_interval(secs => :ttl))
    ON CONFLICT (workspace_id, key) DO UPDATE SET response = EXCLUDED.response,
        size = EXCLUDED.size, created_at = now(), expires_at = EXCLUDED.expires_at""")


def counted(found: dict[str, Any] | None) -> None:
    """Count a lookup's outcome (the hit rate is a metric)."""
    LLM_CACHE.labels(result="hit" if found is not None else "miss").inc()


def storing(workspace_id: uuid.UUID | str, cache_key: bytes, response: dict[str, Any],
            policy: CachePolicy) -> list[driver.Statement]:
    """The statements that keep ``response`` for the policy's TTL (none for an answer above
    ``MAX_ENTRY_BYTES``), to run in a batch with the step's other writes
    (:func:`codex32.db.driver.execute_batch`); none either for one holding U+0000, which jsonb
    refuses, or half a UTF-16 pair (an upstream's "\\ud800"), which has no UTF-8 form (the
    batch, with the ledger row, would fail). Once they are committed, call
    :func:`after_store`."""
    payload = json.dumps(response, ensure_ascii=False)
    if len(payload) > MAX_ENTRY_BYTES or "\\u0000" in payload:  # jsonb holds no U+0000
        return []
    try:
        payload.encode()
    except UnicodeEncodeError:  # a lone surrogate
        return []
    statements: list[driver.Statement] = [
        (_STORE, {"ws": uuid.UUID(str(workspace_id)), "key": cache_key,
                  "response": Jsonb(response, dumps=lambda _: payload), "size": len(payload),
                  "ttl": policy.ttl})]
    return statements


def after_store(workspace_id: uuid.UUID | str, policy: CachePolicy) -> None:
    """After a store committed: one in ``PRUNE_EVERY`` has the workspace pruned
    (:func:`prune_later`)."""
    if random.randrange(PRUNE_EVERY) == 0:
        prune_later(workspace_id, policy.max_entries)


def prune(session: Session, max_entries: int) -> None:
    """Drop the bound workspace's expired answers and the oldest beyond ``max_entries`` or
    ``MAX_WORKSPACE_BYTES``, at most ``PRUNE_BATCH`` of each."""
    session.execute(_PRUNE_EXPIRED, {"batch": PRUNE_BATCH})
    session.execute(_PRUNE_OLDEST, {"keep": max_entries, "max_bytes": MAX_WORKSPACE_BYTES,
                                    "batch": PRUNE_BATCH})


_pruning: set[str] = set()  # workspaces whose prune is queued in this process
_pruning_lock = threading.Lock()


def prune_later(workspace_id: uuid.UUID | str, max_entries: int) -> None:
    """Prune the workspace's entries (:func:`prune`) on the background lane of housekeeping,
    in a transaction of its own: never in a record's batch, where a prune that waits (a big
    workspace's delete, rows another transaction holds) held the answer's ledger row, and on
    the record thread every record behind it. Once queued per workspace; dropped when the
    lane is full (a later store prunes again)."""
    workspace = str(workspace_id)
    with _pruning_lock:
        if workspace in _pruning:
            return
        _pruning.add(workspace)
    if not background.offer(functools.partial(_prune_apart, runtime.current(), workspace,
                                              max_entries), background.UPKEEP):
        _done_pruning(workspace)


def _prune_apart(owner: runtime.Runtime, workspace: str, max_entries: int) -> None:
    _done_pruning(workspace)  # a store from now on may queue the next
    with runtime.activated(owner), owner.sessions() as session, \
            tenancy.bound(session, workspace):
        prune(session, max_entries)
        session.commit()


def _done_pruning(workspace: str) -> None:
    with _pruning_lock:
        _pruning.discard(workspace)


def embedding_key(workspace_id: uuid.UUID | str, chain: list[list[Any]], text_: str) -> bytes:
    """SHA-256 of the workspace, the embedding chain (provider, model, dimension, configuration
    generation: see :func:`key`) and a text."""
    normal = {"workspace": str(workspace_id), "kind": "embedding", "chain": chain,
              "text": text_}
    return hashlib.sha256(json.dumps(normal, sort_keys=True, ensure_ascii=False,
                                     separators=(",", ":")).encode()).digest()


def lookup_many(session: Session, keys: list[bytes]) -> dict[bytes, dict[str, Any]]:
    """The stored, unexpired entries among ``keys`` in the bound workspace, in one query."""
    if not keys:
        return {}
    found = {bytes(row.key): row.response for row in session.execute(text(
        "SELECT key, response FROM llm_cache WHERE key IN :keys AND expires_at > now()"
    ).bindparams(bindparam("keys", expanding=True)), {"keys": list(set(keys))})}
    hits = sum(1 for k in keys if k in found)
    if hits:
        LLM_CACHE.labels(result="hit").inc(hits)
    if len(keys) - hits:
        LLM_CACHE.labels(result="miss").inc(len(keys) - hits)
    return found


def store_many(session: Session, workspace_id: uuid.UUID | str,
               entries: dict[bytes, dict[str, Any]], policy: CachePolicy) -> None:
    """Keep each entry for the policy's TTL (in the caller's transaction; one statement; once
    it is committed, call :func:`after_store`).

    The rows go in key order: the INSERT locks them in its order until the caller commits,
    and two batches caching the same texts in other orders (two workers indexing
    overlapping chunks) would each wait for the other's."""
    rows = []
    for cache_key, response in sorted(entries.items()):
        payload = json.dumps(response, ensure_ascii=False)
        if len(payload) <= MAX_ENTRY_BYTES:
            rows.append({"ws": str(workspace_id), "key": cache_key, "response": payload,
                         "size": len(payload), "ttl": policy.ttl})
    if not rows:
        return
    session.execute(_INSERT_MANY, rows)


def pack_vector(vector: list[float]) -> str:
    """A vector as base64 of little-endian doubles: exact, and a third of its JSON size."""
    return base64.b64encode(struct.pack(f"<{len(vector)}d", *vector)).decode()


def unpack_vector(packed: str) -> list[float]:
    raw = base64.b64decode(packed)
    return list(struct.unpack(f"<{len(raw) // 8}d", raw))

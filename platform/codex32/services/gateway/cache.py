"""The response cache: exact matches of a normalized request, per workspace, in the
``llm_cache`` table (shared by every process; row-level security keeps workspaces apart, and
the workspace is part of the key as well).

Only deterministic requests are cached by default (temperature 0); ``cache: true`` caches a
request whatever its temperature, ``cache: false`` opts out. TTL and size per workspace come
from ``settings.llm.cache``; each workspace keeps at most ``max_entries`` answers, and an
answer larger than ``MAX_ENTRY_BYTES`` is not stored.
"""

from __future__ import annotations

import hashlib
import json
import random
import uuid
from dataclasses import dataclass
from typing import Any

from psycopg.types.json import Jsonb
from sqlalchemy import text

from codex32.db import driver
from codex32.observability.metrics import LLM_CACHE
from codex32.plugins.interfaces import ChatRequest
from codex32.services.gateway.calls import Deployment

DEFAULT_TTL = 3600
DEFAULT_MAX_ENTRIES = 1000
MAX_ENTRY_BYTES = 256 * 1024
PRUNE_EVERY = 20  # one store in this many trims the workspace's entries


@dataclass(frozen=True)
class CachePolicy:
    """Whether and how long a workspace caches answers."""

    enabled: bool = True
    ttl: int = DEFAULT_TTL
    max_entries: int = DEFAULT_MAX_ENTRIES

    @classmethod
    def from_settings(cls, llm_settings: dict[str, Any]) -> CachePolicy:
        found = llm_settings.get("cache") or {}
        return cls(enabled=bool(found.get("enabled", True)),
                   ttl=int(found.get("ttl_seconds", DEFAULT_TTL)),
                   max_entries=int(found.get("max_entries", DEFAULT_MAX_ENTRIES)))

    def applies(self, request: ChatRequest, asked: bool | None) -> bool:
        """Cache this request? ``asked`` is the request's own ``cache`` flag."""
        if asked is False or not self.enabled or self.ttl <= 0:
            return False
        return asked is True or request.temperature == 0


def key(workspace_id: uuid.UUID | str, deployments: tuple[Deployment, ...],
        request: ChatRequest) -> bytes:
    """SHA-256 of the workspace and the normalized request (chain, model, messages,
    parameters); the per-attempt timeout is not part of it."""
    normal = {
        "workspace": str(workspace_id),
        "chain": [[d.provider, d.model] for d in deployments],
        "messages": [[m.role, m.content] for m in request.messages],
        "temperature": request.temperature, "max_tokens": request.max_tokens,
        "json_mode": request.json_mode,
    }
    return hashlib.sha256(json.dumps(normal, sort_keys=True, ensure_ascii=False,
                                     separators=(",", ":")).encode()).digest()


# The bound workspace's fresh answer for a key; the budget reservation runs it as its first
# step (budgets.reserve_unless_cached), so a request looks up and reserves in one statement.
FRESH_ANSWER = "SELECT response FROM llm_cache WHERE key = :key AND expires_at > now()"
_STORE = text("""
    INSERT INTO llm_cache (workspace_id, key, response, size, expires_at)
    VALUES (:ws, :key, :response, :size, now() + make_interval(secs => :ttl))
    ON CONFLICT (workspace_id, key) DO UPDATE SET response = EXCLUDED.response,
        size = EXCLUDED.size, created_at = now(), expires_at = EXCLUDED.expires_at""")
_PRUNE_EXPIRED = text("DELETE FROM llm_cache WHERE expires_at <= now()")
_PRUNE_OLDEST = text("""
    DELETE FROM llm_cache WHERE key IN (
      SELECT key FROM llm_cache ORDER BY created_at DESC OFFSET :keep)""")


def counted(found: dict[str, Any] | None) -> None:
    """Count a lookup's outcome (the hit rate is a metric)."""
    LLM_CACHE.labels(result="hit" if found is not None else "miss").inc()


def storing(workspace_id: uuid.UUID | str, cache_key: bytes, response: dict[str, Any],
            policy: CachePolicy) -> list[driver.Statement]:
    """The statements that keep ``response`` for the policy's TTL (none for an answer above
    ``MAX_ENTRY_BYTES``), to run in a batch with the step's other writes
    (:func:`codex32.db.driver.execute_batch`); one store in ``PRUNE_EVERY`` also drops the
    workspace's expired answers and the oldest beyond ``max_entries``."""
    payload = json.dumps(response, ensure_ascii=False)
    if len(payload) > MAX_ENTRY_BYTES:
        return []
    statements: list[driver.Statement] = [
        (_STORE, {"ws": uuid.UUID(str(workspace_id)), "key": cache_key,
                  "response": Jsonb(response, dumps=lambda _: payload), "size": len(payload),
                  "ttl": policy.ttl})]
    if random.randrange(PRUNE_EVERY) == 0:
        statements += [(_PRUNE_EXPIRED, {}), (_PRUNE_OLDEST, {"keep": policy.max_entries})]
    return statements


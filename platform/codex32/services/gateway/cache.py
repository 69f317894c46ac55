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

from sqlalchemy import text
from sqlalchemy.orm import Session

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
        "json_mode": request.json_mode, "response_schema": request.response_schema,
    }
    return hashlib.sha256(json.dumps(normal, sort_keys=True, ensure_ascii=False,
                                     separators=(",", ":")).encode()).digest()


def lookup(session: Session, cache_key: bytes) -> dict[str, Any] | None:
    """The stored answer for ``cache_key`` in the bound workspace, unless expired."""
    found = session.execute(text(
        "SELECT response FROM llm_cache WHERE key = :key AND expires_at > now()"),
        {"key": cache_key}).scalar()
    LLM_CACHE.labels(result="hit" if found is not None else "miss").inc()
    return found


def store(session: Session, workspace_id: uuid.UUID | str, cache_key: bytes,
          response: dict[str, Any], policy: CachePolicy) -> None:
    """Keep ``response`` for the policy's TTL (in the caller's transaction)."""
    payload = json.dumps(response, ensure_ascii=False)
    if len(payload) > MAX_ENTRY_BYTES:
        return
    session.execute(text("""
        INSERT INTO llm_cache (workspace_id, key, response, size, expires_at)
        VALUES (:ws, :key, CAST(:response AS jsonb), :size,
                now() + make_interval(secs => :ttl))
        ON CONFLICT (workspace_id, key) DO UPDATE SET response = EXCLUDED.response,
            size = EXCLUDED.size, created_at = now(), expires_at = EXCLUDED.expires_at"""),
        {"ws": str(workspace_id), "key": cache_key, "response": payload,
         "size": len(payload), "ttl": policy.ttl})
    if random.randrange(PRUNE_EVERY) == 0:
        prune(session, policy.max_entries)


def prune(session: Session, max_entries: int) -> None:
    """Drop the bound workspace's expired answers and the oldest beyond ``max_entries``."""
    session.execute(text("DELETE FROM llm_cache WHERE expires_at <= now()"))
    session.execute(text("""
        DELETE FROM llm_cache WHERE key IN (
          SELECT key FROM llm_cache ORDER BY created_at DESC OFFSET :keep)"""),
        {"keep": max_entries})

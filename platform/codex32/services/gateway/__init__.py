"""The LLM gateway: every LLM and embedder call of the platform goes through here.

One place for money, limits, cache and usage (docs/llm-gateway.md)::

    route (alias → chain) ─► rate limit ─► budget reserve ─► cache (workspace-keyed)
    ─► provider plugin (SDK retries off; router retries, fallback, cooldown)
    ─► ledger row (exact decimal cost, tokens incl. cached/reasoning) ─► budget settle

Public calls: :func:`chat`, :func:`stream` and :func:`embed`, each taking a session with no
pending work, the workspace id, the request, its ``purpose`` and the :class:`Caller`.
"""

from __future__ import annotations

from codex32.services.gateway.calls import (
    PURPOSES,
    Attempt,
    Caller,
    Deployment,
    GatewayEmbedding,
    GatewayResult,
)
from codex32.services.gateway.chat import chat, first_reads
from codex32.services.gateway.embeddings import embed
from codex32.services.gateway.streaming import GatewayStream, stream
from codex32.services.gateway.streaming import error_of as stream_error

__all__ = ["PURPOSES", "Attempt", "Caller", "Deployment", "GatewayEmbedding", "GatewayResult",
           "GatewayStream", "chat", "embed", "first_reads", "stream", "stream_error"]

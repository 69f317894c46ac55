"""Embeddings through the gateway: the workspace's embedder, the same retry policy, rate
limits, budget and ledger as chats (no fallback chain and no cache: one embedder per
workspace, and vectors are cheap to recompute)."""

from __future__ import annotations

import time
import uuid
from decimal import Decimal

from sqlalchemy.orm import Session

from codex32 import runtime
from codex32.db import tenancy
from codex32.errors import Invalid, from_plugin_error
from codex32.plugins.calls import invoke
from codex32.plugins.errors import PluginError
from codex32.plugins.interfaces import Embedder, Usage
from codex32.services import providers
from codex32.services.gateway import budgets, ledger, prices, ratelimits, routing, setup, tokens
from codex32.services.gateway.calls import PURPOSES, Attempt, Caller, GatewayEmbedding
from codex32.services.gateway.retry import RETRY

MAX_TEXTS = 2048


def embed(workspace_id: uuid.UUID | str, texts: list[str], *, purpose: str,
          caller: Caller | None = None,
          deadline_seconds: float | None = None,
          embedder: str | None = None) -> GatewayEmbedding:
    """Embed ``texts`` in a session of the gateway's own (the caller holds no transaction
    open). ``embedder`` names one of the workspace's embedder plugins instead of its default
    (the knowledge base queries an older index with the embedder that built it). See
    :func:`_embed`."""
    with runtime.current().sessions() as session:
        return _embed(session, workspace_id, texts, purpose=purpose, caller=caller,
                      deadline_seconds=deadline_seconds, embedder_id=embedder)


def _embed(session: Session, workspace_id: uuid.UUID | str, texts: list[str], *,
          purpose: str, caller: Caller | None = None,
          deadline_seconds: float | None = None,
          embedder_id: str | None = None) -> GatewayEmbedding:
    """Embed ``texts`` with the workspace's embedder; every call leaves a ledger row."""
    if purpose not in PURPOSES:
        raise Invalid(f"purpose must be one of {', '.join(PURPOSES)}")
    if len(texts) > MAX_TEXTS:
        raise Invalid(f"at most {MAX_TEXTS} texts per request")
    caller = caller or Caller()
    workspace = str(uuid.UUID(str(workspace_id)))
    parts = setup.current()
    started = time.monotonic()
    deadline = started + (deadline_seconds or parts.deadline_seconds)
    with tenancy.bound(session, workspace):
        known = providers.snapshot(session, workspace, "embedder")
        embedder: Embedder = providers.build(session, workspace, "embedder",  # type: ignore[assignment]
                                             embedder_id, known=known)
        settings = routing.llm_settings(known.settings)
        model = str(embedder.config.get("model") or embedder.id)
        counted = sum(tokens.count_text(text) for text in texts)
        ratelimits.check(parts.limiter, workspace, caller, counted, settings)
        most = prices.cost(Usage(input_tokens=counted), embedder.id, model,
                           llm_settings=settings,
                           is_language_model=not embedder.costs_nothing)
        reservation = budgets.reserve(session, caller, most, f"{embedder.id}/{model}")
        session.close()
        attempts: list[Attempt] = []
        tried = 0
        settled = False
        try:
            while True:
                tried += 1
                began = time.monotonic()
                try:
                    result = invoke(embedder, "embed", embedder.embed, list(texts),
                                    timeout=max(0.05, deadline - time.monotonic()))
                    break
                except PluginError as exc:
                    kind = getattr(exc, "kind", "unknown")
                    attempts.append(Attempt(embedder.id, model, kind,
                                            getattr(exc, "status", None),
                                            int((time.monotonic() - began) * 1000)))
                    decision = parts.retry.decide(kind, tried, deadline - time.monotonic(),
                                                  getattr(exc, "retry_after", None))
                    if decision.action != RETRY:
                        ledger.record(session, workspace, kind="embedding", purpose=purpose,
                                      caller=caller, provider=embedder.id, model=model,
                                      requested_model=None, usage=Usage(), cost=Decimal(0),
                                      status="error", attempts=attempts, error=kind,
                                      latency_ms=int((time.monotonic() - started) * 1000))
                        budgets.settle(session, reservation, Decimal(0))
                        session.commit()
                        settled = True
                        raise from_plugin_error(exc, embedder.id) from exc
                    time.sleep(decision.delay)
        except BaseException:
            if not settled:
                session.rollback()
                budgets.settle(session, reservation, Decimal(0))
                session.commit()
            raise
        usage = result.usage
        cost = prices.cost(usage, embedder.id, result.model, llm_settings=settings,
                           is_language_model=not embedder.costs_nothing)
        usage_id = ledger.record(
            session, workspace, kind="embedding", purpose=purpose, caller=caller,
            provider=embedder.id, model=result.model, requested_model=None, usage=usage,
            cost=cost, status="ok", attempts=attempts,
            latency_ms=int((time.monotonic() - started) * 1000))
        budgets.settle(session, reservation, cost)
        session.commit()
        session.close()
    return GatewayEmbedding(vectors=result.vectors, provider=embedder.id, model=result.model,
                            usage=usage, cost_usd=cost, usage_id=usage_id)

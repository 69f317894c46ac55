"""Embeddings through the gateway, routed like chats:

route (embedding alias → chain) ─► rate limit ─► cache lookup per text ─► budget reservation
for the texts not cached, with the request's pending ledger row ─► (session closed) router
(retries, fallback, cooldown) ─► ledger row written over the pending one, new vectors cached,
budget settled (:mod:`.recording`, as a chat's).

Vectors are deterministic, so they are cached by default (``cache=False`` opts out); a
request answered wholly from the cache is a ledger row with ``cache_hit`` true and cost 0.
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from codex32 import runtime
from codex32.db import tenancy
from codex32.errors import DomainError, Invalid
from codex32.plugins.interfaces import Usage
from codex32.services.gateway import (
    admission,
    budgets,
    cache,
    cooldown,
    ledger,
    prices,
    ratelimits,
    records,
    routing,
    setup,
    tokens,
)
from codex32.services.gateway.calls import (
    PURPOSES,
    Caller,
    Deployment,
    GatewayEmbedding,
    reported_model,
    reported_usage,
    within,
)
from codex32.services.gateway.recording import (
    PendingEmbedding,
    elapsed_ms,
    fail,
    ledger_row,
    record,
    release,
)
from codex32.services.gateway.router import RouteFailed, Router, error_for

MAX_TEXTS = 2048


def embed(workspace_id: uuid.UUID | str, texts: list[str], *, purpose: str,
          caller: Caller | None = None, model: str | None = None, cache: bool | None = None,
          deadline_seconds: float | None = None,
          embedder: str | None = None, dimensions: int | None = None,
          max_values: int | None = None) -> GatewayEmbedding:
    """Embed ``texts`` in a session of the gateway's own (the caller holds no transaction
    open). ``embedder`` names one of the workspace's embedder plugins instead of its default
    (the knowledge base queries an older index with the embedder that built it).
    ``dimensions``, the length the caller requires: a route whose embedders give another is
    refused (422 naming ``dimensions``) before anything else, since an embedder gives the
    one length it is configured at. ``max_values``: the most values (texts times the route's
    dimension) the caller can deliver: more is refused (422) before anything is paid. See
    :func:`_embed`."""
    with runtime.current().sessions() as session:
        return _embed(session, workspace_id, texts, purpose=purpose, caller=caller,
                      model=model, use_cache=cache, deadline_seconds=deadline_seconds,
                      embedder=embedder, dimensions=dimensions, max_values=max_values)


def _embed(session: Session, workspace_id: uuid.UUID | str, texts: list[str], *,
           purpose: str, caller: Caller | None = None, model: str | None = None,
           use_cache: bool | None = None,
           deadline_seconds: float | None = None,
           embedder: str | None = None,
           dimensions: int | None = None,
           max_values: int | None = None) -> GatewayEmbedding:
    """Embed ``texts`` along the route of ``model`` (an embedding alias, ``provider/model``,
    or anything else for the default chain); every call leaves a ledger row."""
    if purpose not in PURPOSES:
        raise Invalid(f"purpose must be one of {', '.join(PURPOSES)}")
    if len(texts) > MAX_TEXTS:
        raise Invalid(f"at most {MAX_TEXTS} texts per request")
    caller = caller or Caller()
    workspace = str(uuid.UUID(str(workspace_id)))
    parts = setup.current()
    started = time.monotonic()
    deadline = started + within(deadline_seconds, parts.deadline_seconds)
    with tenancy.bound(session, workspace):
        route = routing.embedding_route(session, workspace, model, embedder=embedder)
        if dimensions is not None:
            _check_length(route, model, dimensions)
        if max_values is not None:
            _check_size(route, len(texts), max_values)
        deployments = routing.resolved(route)
        counts = [tokens.count_text(text) for text in texts]
        admitted = admission.admit(parts.limiter, session, workspace, caller, sum(counts),
                                   route.settings, deployments)
        awake, headers = admitted.awake, admitted.headers
        vectors: list[list[float] | None] = [None] * len(texts)
        policy = cache.CachePolicy.from_settings(route.settings)
        keys: list[bytes] = []
        if texts and policy.applies_to_embeddings(use_cache):
            chain = [[d.provider, d.model, route.instances[d.provider].dimension,
                      route.generations.get(d.provider, "")] for d in deployments]
            keys = [cache.embedding_key(workspace, chain, text) for text in texts]
            found = cache.lookup_many(session, keys)
            for i, key in enumerate(keys):
                if key in found:
                    vectors[i] = cache.unpack_vector(found[key]["vector"])
            if found and all(v is not None for v in vectors):
                first = found[keys[0]]
                usage_id = ledger.record(
                    session, workspace, kind="embedding", purpose=purpose, caller=caller,
                    provider=first["provider"], model=first["model"], requested_model=model,
                    usage=Usage(), cost=Decimal(0), status="ok", attempts=[], cache_hit=True,
                    latency_ms=int((time.monotonic() - started) * 1000))
                session.commit()
                return GatewayEmbedding(vectors=vectors,  # type: ignore[arg-type]
                                        provider=first["provider"], model=first["model"],
                                        cost_usd=Decimal(0), usage_id=usage_id,
                                        cache_hit=True, headers=headers)
        missing = [i for i, vector in enumerate(vectors) if vector is None]
        # The reservation's statement writes the request's pending ledger row (as a chat's):
        # its answer's or failure's record replaces it, and if the process ends first the
        # maintenance sweep settles it at the reserved maximum (records.py).
        sent = sum(counts[i] for i in missing)
        pending = PendingEmbedding(workspace_id=workspace, kind="embedding", purpose=purpose,
                                   caller=caller, requested_model=model,
                                   reservation=budgets.Reservation(), usage_id=uuid.uuid4(),
                                   started=started, route=route, input_tokens=sent)
        try:
            pending.reservation, _ = budgets.reserve_unless_cached(
                session, workspace, caller, _max_cost(route, awake, sent),
                " or ".join(d.label for d in awake), None,
                records.request_row(workspace, pending.usage_id, purpose, model, caller,
                                    elapsed_ms(pending), kind="embedding"))
        except DomainError as refused:  # a budget: the request was counted all the same
            ratelimits.carrying(refused, headers)
            raise
        session.close()
        router = Router(instances=route.instances, policy=parts.retry, deadline=deadline,
                        on_failure=cooldown.recorder(session, workspace, route.settings))
        try:
            result, deployment, attempts = router.embed(awake, [texts[i] for i in missing])
            usage = reported_usage(result.usage)
            if not route.instances[deployment.provider].costs_nothing:
                # A server that reports no usage embeds no free texts: counted offline.
                usage = tokens.filled(usage, sum(counts[i] for i in missing), "")
            result = dataclasses.replace(
                result, model=reported_model(result.model, deployment.model or ""), usage=usage)
        except RouteFailed as failed:
            fail(session, pending, failed)
            raise ratelimits.carrying(error_for(failed), headers) from failed.last
        except BaseException as exc:
            release(session, pending, exc)  # every call leaves a ledger row, as a chat's
            raise
        instance = route.instances[deployment.provider]
        cost = prices.cost(result.usage, deployment.provider, result.model,
                           llm_settings=route.settings,
                           is_language_model=not instance.costs_nothing)
        row = ledger_row(pending, provider=deployment.provider, model=result.model,
                         usage=result.usage, cost=cost, status="ok", attempts=attempts,
                         error=None)
        fresh: dict[bytes, dict[str, Any]] = {}
        for i, vector in zip(missing, result.vectors, strict=True):
            vectors[i] = vector
            if keys:
                fresh[keys[i]] = {"vector": cache.pack_vector(vector),
                                  "provider": deployment.provider, "model": result.model}
        if fresh:
            cache.store_many(session, workspace, fresh, policy)
        # The ledger row over the pending one (and the vectors cached) committed durably, then
        # the budgets settled, as a chat's answer is recorded.
        record(session, pending, row, [], cost)
        if fresh:
            cache.after_store(workspace, policy)
    return GatewayEmbedding(vectors=vectors,  # type: ignore[arg-type]
                            provider=deployment.provider, model=result.model,
                            usage=result.usage, cost_usd=cost, usage_id=pending.usage_id,
                            attempts=attempts, headers=headers)


def _check_length(route: routing.EmbeddingRoute, model: str | None, wanted: int) -> None:
    """422 naming ``dimensions`` unless the route's embedders (all of one length) give
    vectors of ``wanted``: none can shorten or lengthen its vectors per request."""
    given = route.instances[route.deployments[0].provider].dimension
    if wanted != given:
        why = (f"the gateway does not support dimensions={wanted} along "
               f"{model or 'default'!r}: its embedders give vectors of {given} and cannot "
               f"shorten or lengthen them; leave dimensions out, send {given}, or name an "
               f"embedding alias whose embedders are configured at {wanted}")
        raise Invalid(f"dimensions: {why}", errors={"json": {"dimensions": [why]}})


def _check_size(route: routing.EmbeddingRoute, count: int, max_values: int) -> None:
    """422 when ``count`` vectors of the route's length hold more than ``max_values``."""
    given = route.instances[route.deployments[0].provider].dimension
    if count * given > max_values:
        raise Invalid(f"{count} vectors of {given} dimensions are more than one answer can "
                      f"carry: embed fewer texts at a time (at most {max_values // given})")


def _max_cost(route: routing.EmbeddingRoute, deployments: list[Deployment],
              counted: int) -> Decimal | None:
    """The most embedding ``counted`` tokens can cost along ``deployments`` (None: unknown)."""
    return prices.worst_cost(Usage(input_tokens=counted), deployments, route.instances,
                             route.settings, lambda i: not i.costs_nothing)

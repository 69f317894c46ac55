"""A chat through the gateway, top to bottom:

route (alias → chain) ─► rate limit ─► cache lookup ─► budget reservation ─► (session closed)
─► router (retries, fallback, cooldown) ─► ledger row, budget settled, answer cached.

:func:`prepare` and :func:`finish` are shared with streaming (:mod:`.streaming`). The session
passed in must have no pending work: the gateway commits its own short transactions, and no
connection is held while a provider works.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, TypeVar

from sqlalchemy.orm import Session

from codex32 import runtime
from codex32.db import driver, rows, tenancy
from codex32.errors import BadGateway, DomainError, GatewayTimeout, Invalid, from_plugin_error
from codex32.plugins.errors import (
    AUTH,
    CONTENT_POLICY,
    CONTEXT_LENGTH,
    INVALID_REQUEST,
    ProviderError,
)
from codex32.plugins.interfaces import ChatRequest, Usage
from codex32.services import provider_instances
from codex32.services.gateway import (
    budgets,
    cache,
    cooldown,
    ledger,
    notices,
    prices,
    ratelimits,
    routing,
    setup,
    tokens,
)
from codex32.services.gateway.calls import (
    PURPOSES,
    Caller,
    Deployment,
    GatewayResult,
    reported_model,
    reported_usage,
)
from codex32.services.gateway.router import RouteFailed, Router

log = logging.getLogger(__name__)
T = TypeVar("T")


class ContentRefused(DomainError):
    """A provider refused the request under its content policy (422, names the provider)."""

    status = 422


@dataclass
class Prepared:
    """A request ready for the router: its route, limits passed, budget reserved."""

    workspace_id: str
    request: ChatRequest
    purpose: str
    caller: Caller
    route: routing.Route
    deployments: list[Deployment]
    headers: dict[str, str]
    reservation: budgets.Reservation
    prompt_tokens: int
    started: float
    deadline: float
    cache_key: bytes | None = None
    cache_policy: cache.CachePolicy = field(default_factory=cache.CachePolicy)
    hit: GatewayResult | None = None


def first_reads() -> list[driver.Statement]:
    """The reads a chat starts with, for the workspace bound when they run: its settings and
    provider configurations, and its deployments at rest when cooldowns live in the database.
    A route sends them in its authentication's round trip (``requires(reads=first_reads)``)
    and passes their rows to :func:`chat` as ``read``."""
    reads = [provider_instances.bound_snapshot_statement("llm")]
    if isinstance(cooldown.store(), cooldown.DatabaseStore):
        reads.append((cooldown.DatabaseStore.RESTING, {}))
    return reads


def prepare(session: Session, workspace_id: uuid.UUID | str, request: ChatRequest, *,
            purpose: str, caller: Caller, use_cache: bool | None,
            deadline_seconds: float | None, read: list[driver.Rows] | None = None) -> Prepared:
    """Everything before the provider call; a cache hit is recorded and returned in ``hit``.

    ``read``: the rows of :func:`first_reads`, read in this transaction already. Ends with the
    session closed (its transactions committed).
    """
    if purpose not in PURPOSES:
        raise Invalid(f"purpose must be one of {', '.join(PURPOSES)}")
    started = time.monotonic()
    workspace = str(uuid.UUID(str(workspace_id)))
    parts = setup.current()
    if not read:  # the first reads in one round trip with the binding
        read = tenancy.execute_bound(session, workspace, first_reads())
    route = routing.route(session, workspace, request.model,
                          provider_instances.snapshot_of(read[0]))
    deployments = _resolved(route)
    store = cooldown.store()
    if isinstance(store, cooldown.DatabaseStore):
        # Its rows from the first reads, unless the store changed since (Redis came back).
        resting = store.resting(session, workspace, deployments,
                                read[1] if len(read) > 1 else None)
    else:
        resting = store.resting(session, workspace, deployments)
    # Deployments at rest are skipped; when all of them rest, all are tried (last resort).
    awake = [d for d in deployments if d not in resting] or deployments
    prompt = tokens.prompt_tokens(request)
    headers = ratelimits.check(parts.limiter, workspace, caller, prompt + request.max_tokens,
                               route.settings)
    prepared = Prepared(
        workspace_id=workspace, request=request, purpose=purpose, caller=caller, route=route,
        deployments=awake, headers=headers, reservation=budgets.Reservation(),
        prompt_tokens=prompt, started=started,
        deadline=started + min(deadline_seconds or parts.deadline_seconds,
                               parts.deadline_seconds))
    policy = cache.CachePolicy.from_settings(route.settings)
    if policy.applies(request, use_cache):
        prepared.cache_policy = policy
        prepared.cache_key = cache.key(workspace, tuple(deployments), request)
    # The cache lookup and the reservation are one statement, committed in its round trip:
    # a hit reserves nothing, and the same statement writes its ledger row.
    hit_row = None
    if prepared.cache_key is not None:
        hit_row = cache.hit_row(workspace, uuid.uuid4(), purpose, request.model, caller,
                                _ms(prepared))
    prepared.reservation, found = budgets.reserve_unless_cached(
        session, workspace, caller, _max_cost(prepared), " or ".join(d.label for d in awake),
        prepared.cache_key, hit_row)
    session.close()
    if hit_row is not None:
        cache.counted(found)
    if found is not None:
        assert hit_row is not None
        prepared.hit = _hit(prepared, found, hit_row)
    return prepared


def chat(workspace_id: uuid.UUID | str, request: ChatRequest, *, purpose: str,
         caller: Caller | None = None, cache: bool | None = None,
         deadline_seconds: float | None = None, session: Session | None = None,
         read: list[driver.Rows] | None = None) -> GatewayResult:
    """Answer ``request`` in a session of the gateway's own: the caller holds no transaction
    open across the call (docs/architecture.md, "Transactions"). See :func:`_chat`.

    ``session``: continue that session's open transaction instead (an HTTP request's, which
    authenticated the caller and bound ``workspace_id``): the gateway's first reads share it,
    it commits with the budget reservation (with whatever the caller wrote in it) and the
    session is closed before the provider call, so no connection waits on a provider. Two
    round trips less than ending it first (its ``COMMIT``, the next ``BEGIN``). ``read``: the
    rows of :func:`first_reads`, which that transaction read already (one round trip less).
    """
    if session is not None:
        return _chat(session, workspace_id, request, purpose=purpose, caller=caller,
                     cache=cache, deadline_seconds=deadline_seconds, read=read)
    with runtime.current().sessions() as own:
        return _chat(own, workspace_id, request, purpose=purpose, caller=caller, cache=cache,
                     deadline_seconds=deadline_seconds)


def _chat(session: Session, workspace_id: uuid.UUID | str, request: ChatRequest, *,
          purpose: str, caller: Caller | None = None, cache: bool | None = None,
          deadline_seconds: float | None = None,
          read: list[driver.Rows] | None = None) -> GatewayResult:
    """Answer ``request`` through the workspace's route; every request leaves a ledger row.

    ``request.model`` is an alias, ``provider/model``, a bare model name or None (see
    :mod:`.routing`). ``cache`` True or False overrides the cache's default (temperature 0
    only). ``deadline_seconds`` bounds the whole request, attempts and waits included.
    The result's ``headers`` hold the ``x-ratelimit-*`` values for an HTTP answer.
    """
    caller = caller or Caller()
    with tenancy.bound(session, workspace_id):
        prepared = prepare(session, workspace_id, request, purpose=purpose, caller=caller,
                           use_cache=cache, deadline_seconds=deadline_seconds, read=read)
        if prepared.hit is not None:
            prepared.hit.headers = prepared.headers
            return prepared.hit
        answer, deployment, attempts = routed(session, prepared, Router.complete)
        result = GatewayResult(text=answer.text, provider=deployment.provider,
                               model=reported_model(answer.model, deployment.model or ""),
                               usage=reported_usage(answer.usage),
                               finish_reason=answer.finish_reason,
                               attempts=attempts)
        finish(session, prepared, result, cacheable=True)
        result.headers = prepared.headers
        return result


# -- the parts ------------------------------------------------------------------------------


def routed(session: Session, prepared: Prepared, method: Callable[..., T]) -> T:
    """Run a :class:`Router` ``method`` (``complete`` or ``open_stream``) for the prepared
    request; a request no deployment answered is recorded, then raised as its API error."""
    router = Router(instances=prepared.route.instances, policy=setup.current().retry,
                    deadline=prepared.deadline, on_failure=cooldown_recorder(session, prepared))
    try:
        return method(router, prepared.deployments, prepared.request)
    except RouteFailed as failed:
        fail(session, prepared, failed)
        raise error_for(failed) from failed.last
    except BaseException:
        release(session, prepared)
        raise


def _resolved(route: routing.Route) -> list[Deployment]:
    """The route's deployments with the model each provider uses by default filled in."""
    resolved = []
    for deployment in route.deployments:
        model = deployment.model or route.instances[deployment.provider].config.get("model")
        resolved.append(Deployment(deployment.provider, model or None))
    return list(dict.fromkeys(resolved))


PROMPT_STEP = 256  # tokens: the reservation's prompt count is rounded up to a multiple


def _max_cost(prepared: Prepared) -> Decimal | None:
    """The most the request can cost on any of its deployments (None: a price is unknown).

    The prompt count is rounded up to a multiple of ``PROMPT_STEP`` (still an upper bound),
    so requests of similar length share the price table's cached answer.
    """
    worst = Decimal(0)
    bound = Usage(input_tokens=-(-prepared.prompt_tokens // PROMPT_STEP) * PROMPT_STEP,
                  output_tokens=prepared.request.max_tokens)
    for deployment in prepared.deployments:
        instance = prepared.route.instances[deployment.provider]
        found = prices.cost(bound, deployment.provider, deployment.model or "",
                            llm_settings=prepared.route.settings,
                            is_language_model=instance.is_language_model)
        if found is None:
            return None
        worst = max(worst, found)
    return worst


def cooldown_recorder(session: Session, prepared: Prepared):
    """The router's ``on_failure`` for the prepared request (see :func:`cooldown.recorder`)."""
    return cooldown.recorder(session, prepared.workspace_id, prepared.route.settings)


def _hit(prepared: Prepared, found: dict[str, Any], written: dict[str, Any]) -> GatewayResult:
    """The cached answer, whose ledger row (``written``: :func:`.cache.hit_row`) the lookup's
    statement wrote and committed."""
    usage = Usage(**found.get("usage", {}))
    result = GatewayResult(text=found["text"], provider=found["provider"], model=found["model"],
                           usage=usage, cost_usd=Decimal(0), finish_reason=found.get(
                               "finish_reason"), cache_hit=True)
    result.latency_ms = written["latency_ms"]
    row = ledger.entry(
        prepared.workspace_id, kind="chat", purpose=prepared.purpose,
        caller=prepared.caller, provider=result.provider, model=result.model,
        requested_model=prepared.request.model, usage=usage, cost=Decimal(0), status="ok",
        latency_ms=result.latency_ms, attempts=[], cache_hit=True)
    row.id = result.usage_id = written["usage_id"]
    ledger.counted(row)
    return result


def finish(session: Session, prepared: Prepared, result: GatewayResult, *, cacheable: bool,
           status: str = "ok", error: str | None = None) -> None:
    """Price the answer, write its ledger row, settle the budgets, cache it (one round trip
    with the commit), then notify budgets whose soft limit it crossed."""
    instance = prepared.route.instances.get(result.provider)
    result.cost_usd = prices.cost(result.usage, result.provider, result.model,
                                  llm_settings=prepared.route.settings,
                                  is_language_model=getattr(instance, "is_language_model", True))
    result.latency_ms = _ms(prepared)
    row = ledger.entry(
        prepared.workspace_id, kind="chat", purpose=prepared.purpose,
        caller=prepared.caller, provider=result.provider, model=result.model,
        requested_model=prepared.request.model, usage=result.usage, cost=result.cost_usd,
        status=status, latency_ms=result.latency_ms, attempts=result.attempts, error=error)
    # The step's writes in one round trip: ledger row and cache entry, committed durably,
    # then the settlement in a transaction of its own (budgets.settlement_apart).
    statements = [rows.statement(row)]
    if cacheable and status == "ok" and prepared.cache_key is not None:
        statements += cache.storing(
            prepared.workspace_id, prepared.cache_key,
            {"text": result.text, "provider": result.provider, "model": result.model,
             "finish_reason": result.finish_reason,
             "usage": {"input_tokens": result.usage.input_tokens,
                       "output_tokens": result.usage.output_tokens,
                       "cached_input_tokens": result.usage.cached_input_tokens,
                       "reasoning_tokens": result.usage.reasoning_tokens}},
            prepared.cache_policy)
    settlement = budgets.settlement_apart(prepared.workspace_id, prepared.reservation,
                                          result.cost_usd)
    written = tenancy.execute_bound(session, prepared.workspace_id, statements + settlement,
                                    commit=True)
    session.commit()
    # Soft limits crossed (rare) are marked in a transaction of their own.
    crossed = budgets.crossed(session, written[-1]) if settlement else []
    session.commit()
    session.close()
    result.usage_id = row.id
    ledger.counted(row)
    if crossed:
        notices.soft_limit_crossed(session, prepared.workspace_id, crossed)


def fail(session: Session, prepared: Prepared, failed: RouteFailed) -> None:
    """Record a request no deployment answered and give its reservation back."""
    last = failed.attempts[-1] if failed.attempts else None
    ledger.record(session, prepared.workspace_id, kind="chat", purpose=prepared.purpose,
                  caller=prepared.caller, provider=last.provider if last else None,
                  model=last.model if last else None, requested_model=prepared.request.model,
                  usage=Usage(), cost=Decimal(0), status="timeout" if failed.deadline
                  else "error", latency_ms=_ms(prepared), attempts=failed.attempts,
                  error=last.kind if last else "deadline")
    budgets.settle(session, prepared.reservation, Decimal(0))
    session.commit()
    session.close()


def release(session: Session, prepared: Prepared) -> None:
    """Give the reservation back after an unexpected failure (best effort)."""
    try:
        session.rollback()
        budgets.settle(session, prepared.reservation, Decimal(0))
        session.commit()
    except Exception:
        log.warning("could not release a budget reservation", exc_info=True)
    finally:
        session.close()


def error_for(failed: RouteFailed) -> DomainError:
    """The API error for a request no deployment answered; it names the provider that refused
    and lists the attempts."""
    attempts = {"attempts": [a.as_dict() for a in failed.attempts]}
    last = failed.attempts[-1] if failed.attempts else None
    if failed.deadline:
        return GatewayTimeout("the request's deadline passed before a provider answered",
                              errors=attempts)
    if last is not None and last.kind == AUTH:
        return BadGateway(f"{last.provider} rejected the configured credentials "
                          f"({last.status or 'auth'})", errors=attempts)
    if last is not None and last.kind == CONTENT_POLICY:
        return ContentRefused(f"{last.provider} refused the request under its content policy",
                              errors=attempts)
    if last is not None and last.kind == CONTEXT_LENGTH:
        return Invalid(f"the prompt is too long for every model of the route (last: "
                       f"{last.provider}/{last.model})", errors=attempts)
    if (last is not None and last.kind == INVALID_REQUEST
            and isinstance(failed.last, ProviderError)):  # the request is wrong: no 502
        return Invalid(f"{last.provider} refused the request as invalid "
                       f"({last.status or '4xx'}): {failed.last}", errors=attempts)
    if failed.last is None:
        return BadGateway("no deployment of the route could answer", errors=attempts)
    error = from_plugin_error(failed.last, last.provider if last else "the provider")
    error.errors = {**(error.errors or {}), **attempts}
    return error


def _ms(prepared: Prepared) -> int:
    return int((time.monotonic() - prepared.started) * 1000)

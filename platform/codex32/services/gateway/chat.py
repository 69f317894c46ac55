"""A chat through the gateway, top to bottom:

route (alias → chain) ─► rate limit ─► cache lookup ─► budget reservation and pending ledger
row ─► (session closed) ─► router (retries, fallback, cooldown) ─► ledger row written over the
pending one, budget settled, answer cached (after the HTTP response is sent, when the caller
defers it).

:func:`prepare` is shared with streaming (:mod:`.streaming`); both finish in
:mod:`.recording`. The session
passed in must have no pending work: the gateway commits its own short transactions, and no
connection is held while a provider works.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any, TypeVar

from sqlalchemy.orm import Session

from codex32 import runtime
from codex32.db import driver, tenancy
from codex32.errors import DomainError, Invalid
from codex32.plugins.interfaces import ChatRequest, Usage
from codex32.services import provider_instances
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
    GatewayResult,
    calls_of,
    reported_calls,
    reported_model,
    reported_text,
    reported_usage,
    within,
)
from codex32.services.gateway.recording import (
    Defer,
    Prepared,
    elapsed_ms,
    fail,
    finish,
    release,
)
from codex32.services.gateway.router import RouteFailed, Router, error_for

T = TypeVar("T")


def first_reads() -> list[driver.Statement]:
    """The reads a chat starts with, for the workspace bound when they run: its settings and
    provider configurations, and its deployments at rest when cooldowns are read from the
    database (no Redis, Redis failing, or rests put there while it failed that last still).
    A route sends them in its authentication's round trip (``requires(reads=first_reads)``)
    and passes their rows to :func:`chat` as ``read``."""
    reads = [provider_instances.bound_snapshot_statement("llm")]
    if cooldown.store().reads_database():
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
    if request.uses_tools:
        routing.check_tools(route, request.model)
    deployments = routing.resolved(route)
    prompt = tokens.prompt_tokens(request)
    # The database's rests from the first reads, when they read them.
    admitted = admission.admit(parts.limiter, session, workspace, caller,
                               prompt + request.max_tokens, route.settings, deployments,
                               read[1] if len(read) > 1 else None)
    awake, headers = admitted.awake, admitted.headers
    prepared = Prepared(
        workspace_id=workspace, kind="chat", request=request, purpose=purpose, caller=caller,
        requested_model=request.model, route=route, deployments=awake, headers=headers,
        reservation=budgets.Reservation(), usage_id=uuid.uuid4(), prompt_tokens=prompt,
        started=started,
        deadline=started + within(deadline_seconds, parts.deadline_seconds))
    policy = cache.CachePolicy.from_settings(route.settings)
    if policy.applies(request, use_cache):
        prepared.cache_policy = policy
        prepared.cache_key = cache.key(workspace, tuple(deployments), request,
                                       route.generations)
    # The cache lookup and the reservation are one statement, committed in its round trip:
    # a hit reserves nothing, and the same statement writes the request's ledger row (a
    # hit's, else a pending one holding the reservation: records.PENDING).
    row = records.request_row(workspace, prepared.usage_id, purpose, request.model, caller,
                              elapsed_ms(prepared))
    try:
        prepared.reservation, found = budgets.reserve_unless_cached(
            session, workspace, caller, _max_cost(prepared),
            " or ".join(d.label for d in awake), prepared.cache_key, row)
    except DomainError as refused:  # a budget: the request was counted all the same
        ratelimits.carrying(refused, headers)
        raise
    session.close()
    if prepared.cache_key is not None:
        cache.counted(found)
    if found is not None:
        prepared.hit = _hit(prepared, found, row)
    return prepared


def chat(workspace_id: uuid.UUID | str, request: ChatRequest, *, purpose: str,
         caller: Caller | None = None, cache: bool | None = None,
         deadline_seconds: float | None = None, session: Session | None = None,
         read: list[driver.Rows] | None = None, defer: Defer | None = None) -> GatewayResult:
    """Answer ``request`` in a session of the gateway's own: the caller holds no transaction
    open across the call (docs/architecture.md, "Transactions"). See :func:`_chat`.

    ``session``: continue that session's open transaction instead (an HTTP request's, which
    authenticated the caller and bound ``workspace_id``): the gateway's first reads share it,
    it commits with the budget reservation (with whatever the caller wrote in it) and the
    session is closed before the provider call, so no connection waits on a provider. Two
    round trips less than ending it first (its ``COMMIT``, the next ``BEGIN``). ``read``: the
    rows of :func:`first_reads`, which that transaction read already (one round trip less).

    ``defer``: the answer's record (its ledger row over the pending one, the budgets'
    settlement, the cache entry) is handed to it instead of written before returning: an
    HTTP view writes it once its response is sent, one round trip off the answer's path.
    The result's ``usage_id`` and ``cost_usd`` are known before. Until it is written the row
    is ``pending`` and the reservation stands (records.py: a process that ends first leaves
    it to the maintenance loop).
    """
    if session is not None:
        return _chat(session, workspace_id, request, purpose=purpose, caller=caller,
                     cache=cache, deadline_seconds=deadline_seconds, read=read, defer=defer)
    with runtime.current().sessions() as own:
        return _chat(own, workspace_id, request, purpose=purpose, caller=caller, cache=cache,
                     deadline_seconds=deadline_seconds, defer=defer)


def _chat(session: Session, workspace_id: uuid.UUID | str, request: ChatRequest, *,
          purpose: str, caller: Caller | None = None, cache: bool | None = None,
          deadline_seconds: float | None = None, read: list[driver.Rows] | None = None,
          defer: Defer | None = None) -> GatewayResult:
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
        result = GatewayResult(text=reported_text(answer.text), provider=deployment.provider,
                               model=reported_model(answer.model, deployment.model or ""),
                               usage=counted(prepared, deployment.provider,
                                             reported_usage(answer.usage), answer.text),
                               finish_reason=answer.finish_reason and reported_text(
                                   answer.finish_reason),
                               attempts=attempts,
                               tool_calls=reported_calls(answer.tool_calls))
        finish(session, prepared, result, cacheable=True, defer=defer)
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
        raise ratelimits.carrying(error_for(failed), prepared.headers) from failed.last
    except BaseException as exc:
        release(session, prepared, exc)
        raise


def counted(prepared: Prepared, provider: str, usage: Usage | None, text: str) -> Usage:
    """A language model's ``usage`` with the counts it did not report counted offline
    (:func:`.tokens.filled`); the offline provider's as it reported it (it counts nothing)."""
    if usage is not None and not getattr(prepared.route.instances.get(provider),
                                         "is_language_model", True):
        return usage
    return tokens.filled(usage, prepared.prompt_tokens, text)


PROMPT_STEP = 256  # tokens: the reservation's prompt count is rounded up to a multiple


def _max_cost(prepared: Prepared) -> Decimal | None:
    """The most the request can cost on any of its deployments (None: a price is unknown).

    The prompt count is rounded up to a multiple of ``PROMPT_STEP`` (still an upper bound),
    so requests of similar length share the price table's cached answer.
    """
    bound = Usage(input_tokens=-(-prepared.prompt_tokens // PROMPT_STEP) * PROMPT_STEP,
                  output_tokens=prepared.request.max_tokens)
    return prices.worst_cost(bound, prepared.deployments, prepared.route.instances,
                             prepared.route.settings, lambda i: i.is_language_model)


def cooldown_recorder(session: Session, prepared: Prepared):
    """The router's ``on_failure`` for the prepared request (see :func:`cooldown.recorder`)."""
    return cooldown.recorder(session, prepared.workspace_id, prepared.route.settings)


def _hit(prepared: Prepared, found: dict[str, Any], written: dict[str, Any]) -> GatewayResult:
    """The cached answer, whose ledger row (``written``: :func:`.records.request_row`) the
    lookup's statement wrote and committed."""
    usage = Usage(**found.get("usage", {}))
    result = GatewayResult(text=found["text"], provider=found["provider"], model=found["model"],
                           usage=usage, cost_usd=Decimal(0), finish_reason=found.get(
                               "finish_reason"), cache_hit=True,
                           tool_calls=calls_of(found.get("tool_calls")))
    result.latency_ms = written["latency_ms"]
    row = ledger.entry(
        prepared.workspace_id, kind="chat", purpose=prepared.purpose,
        caller=prepared.caller, provider=result.provider, model=result.model,
        requested_model=prepared.request.model, usage=usage, cost=Decimal(0), status="ok",
        latency_ms=result.latency_ms, attempts=[], cache_hit=True,
        usage_id=written["usage_id"])
    result.usage_id = row.id
    ledger.counted(row)
    return result

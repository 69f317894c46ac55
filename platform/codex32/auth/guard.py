"""``@requires(permission)``: authenticate, bind the workspace, authorize, rate-limit.

Declared on every protected route, directly under ``@blp.route``, so it runs before the body
is parsed: an anonymous request is 401 whatever its body.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from flask import current_app, g, request

from codex32 import runtime
from codex32.auth.principal import Origin, Principal, authenticate
from codex32.auth.rbac import Permission
from codex32.db import db, driver
from codex32.errors import Forbidden, RateLimited
from codex32.observability.logging import bind_log_context
from codex32.observability.sentry import tag_request

F = TypeVar("F", bound=Callable[..., Any])

SECURITY: list[dict[str, list[str]]] = [{"bearerAuth": []}, {"apiKeyAuth": []}]


def origin() -> Origin:
    """The request's id and client address."""
    return Origin(request_id=g.get("request_id"), ip=request.remote_addr)


def current_principal() -> Principal:
    """The principal the guard resolved for this request."""
    return g.principal


def authenticated(reads: Sequence[driver.Statement] = ()) -> Principal:
    """Authenticate the request, bind its workspace, count it against the caller's rate
    limit; the principal (for a route whose permissions depend on what it asks: GraphQL).
    ``reads``: see :func:`codex32.auth.principal.authenticate`."""
    principal = authenticate(db.session, request.headers, origin(), reads)
    g.principal = principal
    bind_log_context(workspace_id=str(principal.workspace_id),
                     user_id=str(principal.actor_id))
    tag_request(g.get("request_id"), principal.workspace_id)
    limit_rate(principal.rate_key)
    return principal


def requires(permission: Permission, *,
             reads: Callable[[], Sequence[driver.Statement]] | None = None
             ) -> Callable[[F], F]:
    """Protect a route: any valid credential with ``permission`` in its workspace.

    ``reads``: the statements the route runs first, sent in the authentication's round trip
    (their rows are ``current_principal().reads``): for the hottest routes, a round trip less.
    """

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            principal = authenticated(reads() if reads is not None else ())
            if not principal.can(permission):
                raise Forbidden(f"your role ({principal.role_label}) lacks the "
                                f"'{permission.value}' permission")
            return view(*args, **kwargs)

        apidoc = getattr(guarded, "_apidoc", {})
        manual = apidoc.setdefault("manual_doc", {})
        manual["security"] = SECURITY
        guarded._apidoc = apidoc  # type: ignore[attr-defined]
        guarded.required_permission = permission  # type: ignore[attr-defined]
        return guarded  # type: ignore[return-value]

    return decorate


def limit_rate(key: str, limit: int | None = None, window: float = 60.0) -> None:
    """Count a request against ``key``; 429 with Retry-After when over the limit."""
    state = runtime.of(current_app)
    per_window = limit or state.settings.rate_limit_per_minute
    limiter = state.limiter
    decision = limiter.hit(key, per_window, window)
    g.rate_limit_headers = decision.headers
    if not decision.allowed:
        raise RateLimited("too many requests; slow down", decision.reset_after)

"""The console's blueprint, the decorator every page is declared with, and its error pages.

``@page(permission)`` is the console's ``@requires``: it reads the browser session instead of a
bearer header, then authorizes exactly as the API does and leaves the principal where
:func:`codex32.auth.guard.current_principal` finds it. Every view owns its request's transaction
(:mod:`codex32.api.transaction`), as the API's do. No SQL and no domain rules here.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Blueprint, Response, current_app, g, redirect, render_template, request, url_for

from codex32.api import transaction
from codex32.auth.guard import limit_rate
from codex32.auth.principal import Principal
from codex32.auth.rbac import Permission
from codex32.console import highlight, session
from codex32.console.navigation import NAVIGATION
from codex32.errors import DomainError, Forbidden, Unauthorized, add_error_shape, error_body
from codex32.observability.logging import bind_log_context

F = TypeVar("F", bound=Callable[..., Any])
log = logging.getLogger(__name__)

# Pages that sign in: their 401 is an answer to show, not a reason to go and sign in.
SIGN_IN_ENDPOINTS = frozenset({"console.oidc_start", "console.oidc_callback"})


class ConsoleBlueprint(Blueprint):
    """Flask's Blueprint; every view owns its request's transaction."""

    def add_url_rule(self, rule: str, endpoint: str | None = None, view_func: Any = None,
                     *args: Any, **kwargs: Any) -> None:
        if callable(view_func) and not isinstance(view_func, type):
            view_func = transaction.owned(view_func)
        super().add_url_rule(rule, endpoint, view_func, *args, **kwargs)


blp = ConsoleBlueprint("console", __name__, url_prefix="/app", template_folder="templates",
                       static_folder="static", static_url_path="/static")


def signed_in() -> Principal:
    """Authenticate the browser session, bind its workspace, count the request against the
    caller's rate limit; the principal (401 when there is no valid session)."""
    principal = session.principal()
    g.principal = principal
    bind_log_context(workspace_id=str(principal.workspace_id), user_id=str(principal.actor_id))
    limit_rate(principal.rate_key)
    return principal


def page(permission: Permission) -> Callable[[F], F]:
    """Protect a console view: a signed-in member whose role has ``permission``."""

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            principal = signed_in()
            if not principal.can(permission):
                raise Forbidden(f"your role ({principal.role}) lacks the "
                                f"'{permission.value}' permission")
            return view(*args, **kwargs)

        guarded.required_permission = permission  # type: ignore[attr-defined]
        return guarded  # type: ignore[return-value]

    return decorate


@blp.before_request
def _check_csrf() -> None:
    """Every state-changing console request carries the session's CSRF token."""
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        session.check_csrf()


@blp.app_context_processor
def _console_globals() -> dict[str, Any]:
    return {"csrf_token": session.csrf_token, "Permission": Permission,
            "navigation": NAVIGATION, "highlight": highlight.code}


@blp.app_template_filter("pretty")
def _pretty(value: Any) -> str:
    """JSON for people: indented, keys sorted."""
    return json.dumps(value, indent=2, sort_keys=True, default=str, ensure_ascii=False)


@blp.after_request
def _console_headers(response: Response) -> Response:
    response.headers.setdefault("Content-Security-Policy", session.CONTENT_SECURITY_POLICY)
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    if request.endpoint != "console.static":  # pages hold a member's data; files do not
        response.headers.setdefault("Cache-Control", "no-store")
    return session.keep_cookies(response)


@blp.errorhandler(DomainError)
def _error_page(error: DomainError):
    """A console error is a page (a fragment for htmx), never the API's JSON; no session
    sends the browser to the sign-in page."""
    if isinstance(error, Unauthorized) and request.endpoint not in SIGN_IN_ENDPOINTS:
        session.forget()
        target = url_for("console.sign_in", next=request.full_path.rstrip("?"))
        if request.headers.get("HX-Request"):
            return Response(status=204, headers={"HX-Redirect": target})
        return redirect(target)
    return _page(error.status, error.message, error.errors, error.headers)


def _page(status: int, message: str, errors: Any = None,
          headers: dict[str, str] | None = None) -> Response:
    template = ("console/error_fragment.html" if request.headers.get("HX-Request")
                else "console/error.html")
    return current_app.make_response((render_template(template, status=status, message=message,
                                                       errors=errors), status, headers or {}))


def _claims() -> bool:
    """Whether an error the console's views did not handle is the console's to show: routing's
    404 and 405 under ``/app``, and anything a console request raised past its view."""
    return request.path == blp.url_prefix or request.path.startswith(f"{blp.url_prefix}/")


def _error_shape(status: int, message: str, errors: Any = None,
                 headers: dict[str, str] | None = None, reason: str | None = None) -> Response:
    """The console's error page (with its headers) for an error the app's handlers answer;
    the API's JSON shape when even the page cannot be drawn."""
    try:
        return _console_headers(_page(status, message, errors, headers))
    except Exception:
        log.exception("the console's error page could not be drawn")
        return current_app.response_class(current_app.json.dumps(error_body(status, message,
                                                                            errors)),
                                          status=status, headers=headers or {},
                                          mimetype="application/json")


@blp.record_once
def _errors_as_pages(state: Any) -> None:
    add_error_shape(state.app, _claims, _error_shape)

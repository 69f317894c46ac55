"""How GraphQL errors reach a client: a domain error keeps its message, gets a code and its
HTTP status in ``extensions``; a request the schema refuses (syntax, validation, depth, cost,
a variable of the wrong type) keeps graphql-core's message; anything unexpected becomes
"internal error" (its traceback goes to the server log only, never to the client)."""

from __future__ import annotations

import logging
from typing import Any

from graphql import GraphQLError

from codex32.errors import DomainError

log = logging.getLogger(__name__)

CODES = {400: "BAD_REQUEST", 401: "UNAUTHENTICATED", 403: "FORBIDDEN", 404: "NOT_FOUND",
         409: "CONFLICT", 413: "TOO_LARGE", 415: "UNSUPPORTED_MEDIA_TYPE",
         422: "BAD_USER_INPUT", 429: "RATE_LIMITED", 502: "BAD_GATEWAY",
         504: "GATEWAY_TIMEOUT"}
INTERNAL = "internal error; this field was not applied"


def unexpected(error: GraphQLError) -> bool:
    """Whether ``error`` is a resolver's unexpected failure (to be masked and logged)."""
    original = error.original_error
    return (error.path is not None and original is not None
            and not isinstance(original, DomainError | GraphQLError))


def formatted(error: GraphQLError) -> dict[str, Any]:
    """The error as the response shows it."""
    body: dict[str, Any] = dict(error.formatted)
    original = error.original_error
    if isinstance(original, DomainError):
        extensions: dict[str, Any] = {"code": CODES.get(original.status, "BAD_REQUEST"),
                                      "status": original.status}
        if original.errors:
            extensions["errors"] = original.errors
        body.update(message=original.message, extensions=extensions)
    elif unexpected(error):
        body.update(message=INTERNAL, extensions={"code": "INTERNAL_SERVER_ERROR",
                                                  "status": 500})
    else:
        body["extensions"] = {"code": "GRAPHQL_VALIDATION_FAILED", "status": 400,
                              **(body.get("extensions") or {})}
    return body


def log_unexpected(errors: list[GraphQLError]) -> None:
    """Log each unexpected error with its traceback (domain and request errors are answers,
    not failures: not logged)."""
    for error in errors:
        if unexpected(error):
            log.error("GraphQL resolver failed at %s", error.path,
                      exc_info=error.original_error)

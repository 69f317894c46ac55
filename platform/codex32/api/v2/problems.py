"""Errors of API v2 as RFC 9457 problem details (``application/problem+json``).

The same domain errors and the same handler (:mod:`codex32.errors`) answer both versions;
this module is only v2's rendering of them: ``type`` (a stable URN per error class), ``title``,
``status``, ``detail``, ``instance`` (the request path), ``request_id``, and ``errors``: one
entry per invalid input with where it was (``json``, ``query``, ``headers``) and a JSON
pointer to the field.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from flask import Response, current_app, g, json, request
from marshmallow import fields

from codex32.api.schemas import Output

MEDIA_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:codex32:problem:"
SLUGS = {400: "malformed-request", 401: "unauthenticated", 403: "forbidden",
         404: "not-found", 405: "method-not-allowed", 406: "unsupported-version",
         409: "conflict", 413: "too-large", 415: "unsupported-media-type",
         422: "invalid-input", 429: "rate-limited", 500: "internal-error",
         502: "bad-gateway", 503: "unavailable", 504: "gateway-timeout"}


class FieldErrorSchema(Output):
    location = fields.String(required=True, metadata={
        "description": "where the value was: json, query, headers, path"})
    pointer = fields.String(required=True, metadata={
        "description": "JSON pointer to the field within that location, e.g. /settings/memory_mb"})
    detail = fields.String(required=True)


class ProblemSchema(Output):
    """An error (RFC 9457)."""

    type = fields.String(required=True, metadata={
        "description": "urn:codex32:problem:<kind>; stable, switch on it",
        "example": "urn:codex32:problem:not-found"})
    title = fields.String(required=True, metadata={"example": "Not Found"})
    status = fields.Integer(required=True, metadata={"example": 404})
    detail = fields.String(required=True, metadata={"example": "bot not found"})
    instance = fields.String(required=True, metadata={"description": "the request's path"})
    request_id = fields.String(allow_none=True)
    errors = fields.List(fields.Nested(FieldErrorSchema), metadata={
        "description": "per-field errors of an invalid request"})


def type_of(status: int) -> str:
    """The problem type URN of ``status``."""
    return TYPE_PREFIX + SLUGS.get(status, HTTPStatus(status).phrase.lower().replace(" ", "-"))


def field_errors(errors: Any) -> list[dict[str, str]]:
    """marshmallow's nested messages (``{"json": {"name": ["…"]}}``) as flat entries."""
    found: list[dict[str, str]] = []

    def walk(node: Any, location: str, path: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, location, f"{path}/{_escape(str(key))}")
        elif isinstance(node, list) and node and all(isinstance(item, str) for item in node):
            found.extend({"location": location, "pointer": path or "/", "detail": item}
                         for item in node)
        elif isinstance(node, list):
            for item in node:
                walk(item, location, path)
        elif isinstance(node, str):
            found.append({"location": location, "pointer": path or "/", "detail": node})

    if isinstance(errors, dict):
        for location, node in errors.items():
            walk(node, str(location), "")
    elif errors:
        walk(errors, "json", "")
    return found


def _escape(part: str) -> str:
    return part.replace("~", "~0").replace("/", "~1")


def render(status: int, message: str, errors: Any = None,
           headers: dict[str, str] | None = None, reason: str | None = None) -> Response:
    """The problem response for one error (its ``reason`` is not shown: the type says it)."""
    body: dict[str, Any] = {"type": type_of(status), "title": HTTPStatus(status).phrase,
                            "status": status, "detail": message, "instance": request.path,
                            "request_id": g.get("request_id")}
    listed = field_errors(errors)
    if listed:
        body["errors"] = listed
    response = current_app.response_class(json.dumps(body), status=status,
                                          mimetype=MEDIA_TYPE)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response

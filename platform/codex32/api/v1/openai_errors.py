"""Errors of the OpenAI-compatible endpoint in OpenAI's own shape.

``{"error": {"message", "type", "param", "code"}}``: what OpenAI answers and what clients of
OpenAI-compatible servers read (the ``openai`` SDKs take ``type``, ``param`` and ``code`` from
it; other clients show ``error.message``). Every error of a request under
``/api/v1/openai/`` answers so, whatever raised it (authentication, parsing, a budget, the
gateway, an unknown path), through the one error mechanism
(:func:`codex32.errors.add_error_shape`), with OpenAI's status and the headers the SDK reads:

- an invalid request is a 400, as OpenAI answers it (the SDK's ``BadRequestError``; the
  platform's 422); a prompt too long for every model of the route has the code
  ``context_length_exceeded``, ``param`` ``messages``;
- a spent budget is OpenAI's spent quota: 429 ``insufficient_quota``;
- ``x-should-retry: false`` (the SDK's own header) where a retry cannot help or would spend
  again: a spent budget, and a 502/504, which the gateway answers only once it retried and
  fell back along the route itself. Other 429s (``Retry-After``) and 5xx keep the SDK's
  retries. ``Retry-After`` and ``x-ratelimit-*`` stay as the platform sets them.
"""

from __future__ import annotations

from typing import Any

from apispec import APISpec
from flask import Response, current_app, request
from marshmallow import Schema, fields

from codex32.api.v1 import openai_params
from codex32.errors import first_invalid

PREFIX = "/api/v1/openai/"

# (type, code) by status, as OpenAI names them; other 4xx are invalid requests, other 5xx
# server errors.
_KINDS: dict[int, tuple[str, str | None]] = {
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("permission_error", None),
    404: ("invalid_request_error", "not_found"),
    413: ("invalid_request_error", "request_too_large"),
    429: ("rate_limit_error", "rate_limit_exceeded"),
}


class OpenAIErrorDetailSchema(Schema):
    message = fields.String(required=True)
    type = fields.String(required=True, metadata={
        "description": "invalid_request_error, permission_error, rate_limit_error, "
                       "insufficient_quota or server_error"})
    param = fields.String(allow_none=True, metadata={
        "description": "the first invalid field of the body, e.g. messages.0.content"})
    code = fields.String(allow_none=True, metadata={
        "description": "invalid_api_key, not_found, model_not_found, request_too_large, "
                       "rate_limit_exceeded, insufficient_quota, context_length_exceeded, "
                       "unsupported_parameter, unsupported_value"})


class OpenAIErrorSchema(Schema):
    error = fields.Nested(OpenAIErrorDetailSchema, required=True)


def speaks_openai() -> bool:
    """Whether the current request is one of the OpenAI-compatible endpoint's."""
    return request.path.startswith(PREFIX)


# OpenAI's (type, code, param) for an error's reason (codex32.errors.DomainError.reason).
_REASONS: dict[str, tuple[str, str, str | None]] = {
    "context_length_exceeded": ("invalid_request_error", "context_length_exceeded",
                                "messages"),
    "budget_exceeded": ("insufficient_quota", "insufficient_quota", None),
    "model_not_found": ("invalid_request_error", "model_not_found", "model"),
}
# Statuses the gateway answers only after its own retries along the route.
_RETRIED = (502, 504)


def render(status: int, message: str, errors: Any = None,
           headers: dict[str, str] | None = None, reason: str | None = None) -> Response:
    """The OpenAI-shaped error response for one error."""
    status = 400 if status == 422 else status  # OpenAI's status for an invalid request
    body = {"error": error_object(status, message, errors, reason)}
    response = current_app.response_class(current_app.json.dumps(body), status=status,
                                          mimetype="application/json")
    for name, value in (headers or {}).items():
        response.headers[name] = value
    if reason == "budget_exceeded" or status in _RETRIED:
        response.headers["x-should-retry"] = "false"
    return response


def error_object(status: int, message: str, errors: Any = None,
                 reason: str | None = None) -> dict[str, Any]:
    """OpenAI's error object (``message``, ``type``, ``param``, ``code``) for one error: the
    body of an error response, and of the error event that ends a stream."""
    kind, code = _kind(status)
    param, why = _param(errors)
    if param is not None:
        # OpenAI's messages name the field ("stop: ..."), not where it was read ("json.")
        message = message.removeprefix("json.")
        code = code or openai_params.code_of(param, why)
    if reason in _REASONS:
        kind, code, param = _REASONS[reason]
    return {"message": message, "type": kind, "param": param, "code": code}


def _kind(status: int) -> tuple[str, str | None]:
    """OpenAI's error type and code for a status."""
    return _KINDS.get(status, ("invalid_request_error" if status < 500 else "server_error",
                               None))


def _param(errors: Any) -> tuple[str | None, str]:
    """The first invalid field of the body (``messages.0.content``), as OpenAI's ``param``,
    and what is wrong with it."""
    found = first_invalid(errors)
    if found is None or not found[0].startswith("json."):
        return None, ""
    return found[0].removeprefix("json."), found[1]


def document(spec: APISpec) -> None:
    """Name OpenAI's shape as the error answers of the endpoint's operations in the OpenAPI
    document (a step of :meth:`codex32.api.openapi.Api.document`, after the blueprint's)."""
    spec.components.schema("OpenAIError", schema=OpenAIErrorSchema)
    spec.components.response("OPENAI_ERROR", {
        "description": "An error, in OpenAI's shape",
        "content": {"application/json": {"schema": {
            "$ref": "#/components/schemas/OpenAIError"}}}})
    for path, item in spec._paths.items():
        if not path.startswith(PREFIX):
            continue
        for operation in item.values():
            responses = operation.get("responses") if isinstance(operation, dict) else None
            if not isinstance(responses, dict):
                continue
            for status in list(responses):
                if status == "default" or str(status)[0] in "45":
                    responses[status] = {"$ref": "#/components/responses/OPENAI_ERROR"}

"""``/api/graphql``: the Flask view. Authentication, the workspace binding and the rate limit
are REST's own (:func:`codex32.auth.guard.authenticated`: a request without a valid JWT or API
key is 401 in REST's JSON shape before its body is read); the request's transaction is
committed when the view returns (:mod:`codex32.api.transaction`). GraphiQL is not served (its
assets come from a CDN); see docs/graphql.md.
"""

from __future__ import annotations

from typing import Any

from cross_web import HTTPException
from flask import Request, Response, current_app, request
from strawberry.flask.views import GraphQLView
from strawberry.http import GraphQLHTTPResponse
from strawberry.types import ExecutionResult

from codex32 import runtime
from codex32.api.graphql.context import Context
from codex32.api.graphql.errors import formatted
from codex32.api.json_provider import read_body
from codex32.auth.guard import authenticated
from codex32.db import db
from codex32.errors import DomainError


class GraphQLEndpoint(GraphQLView):
    """strawberry's Flask view, authenticated like REST, answering JSON in every case."""

    def dispatch_request(self) -> Any:
        principal = authenticated()
        try:
            return self.run(request=request, context=Context(
                principal=principal, session=db.session,  # type: ignore[arg-type]
                settings=runtime.of(current_app).settings))
        except HTTPException as exc:  # a body that is not a GraphQL request
            return _refusal(exc.reason, exc.status_code)

    def process_result(self, request: Request, result: ExecutionResult) -> GraphQLHTTPResponse:
        answer: dict[str, Any] = {"data": result.data}
        if result.errors:
            answer["errors"] = [formatted(error) for error in result.errors]
        return answer  # type: ignore[return-value]

    def decode_json(self, data: str | bytes) -> object:
        """REST's strict reading (:func:`read_body`): bounded nesting, no NUL characters."""
        try:
            return read_body(data.encode() if isinstance(data, str) else data)
        except DomainError as exc:
            raise HTTPException(exc.status, exc.message) from exc

    def encode_json(self, data: object) -> str:
        return current_app.json.dumps(data)


def _refusal(message: str, status: int) -> Response:
    body = {"data": None, "errors": [{"message": message, "extensions": {
        "code": "BAD_REQUEST", "status": status}}]}
    return current_app.response_class(current_app.json.dumps(body), status=status,
                                      mimetype="application/json")

"""One OpenAPI document per API version, each with Swagger UI and ReDoc, served offline.

- v1: ``/api/v1/openapi.json``, ``/api/v1/docs``, ``/api/v1/redoc`` (and, as before,
  ``/api/openapi.json``, ``/api/docs``, ``/api/redoc``).
- v2: ``/api/v2/openapi.json``, ``/api/v2/docs``, ``/api/v2/redoc``; its error responses
  are ``application/problem+json`` (:class:`~codex32.api.v2.problems.ProblemSchema`).

Every operation gets an ``operationId`` (its view's name in camelCase, made unique with the
resource's name when two views share one) and v2's tags drop the ``v2_`` prefix, so client
generators make clean method and module names.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import partial
from typing import Any

import flask_smorest
from apispec import APISpec, BasePlugin
from flask import Flask

from codex32 import __version__
from codex32.api import docs
from codex32.api.v2.problems import MEDIA_TYPE, ProblemSchema

V2_PREFIX = "V2_"
_TAG_PREFIX = "v2_"


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


class OperationNames(BasePlugin):
    """Name each operation after its view; strip v2's blueprint prefix from tags. With
    ``problems``, document the error answers every protected operation can give.

    Also writes JSON Schema's ``"type": [T, "null"]`` (which a registered component such as
    the builder's specification may carry) as OpenAPI 3.0's ``"type": T, "nullable": true``:
    the former makes the whole document invalid for validators and client generators.
    """

    def __init__(self, *, problems: bool = False) -> None:
        self.taken: set[str] = set()
        self.problems = problems

    def schema_helper(self, name: str, definition: dict[str, Any],
                      **kwargs: Any) -> None:
        _nullable_types(definition)

    def operation_helper(self, path: str | None = None,
                         operations: dict[str, Any] | None = None, **kwargs: Any) -> None:
        rule = kwargs.get("rule")
        if rule is None or not operations:
            return
        blueprint, _, view = rule.endpoint.rpartition(".")
        resource = blueprint.removeprefix(_TAG_PREFIX)
        for operation in operations.values():
            if not isinstance(operation, dict):
                continue
            name = _camel(view)
            if name in self.taken:
                name = _camel(f"{resource}_{view}")
            self.taken.add(name)
            operation.setdefault("operationId", name)
            if self.problems:
                _document_problems(operation, has_path_parameters="{" in (path or ""))
            operation["tags"] = [tag.removeprefix(_TAG_PREFIX) for tag in
                                 operation.get("tags", [])]


def _document_problems(operation: dict[str, Any], *, has_path_parameters: bool) -> None:
    responses = operation.setdefault("responses", {})
    responses.setdefault("400", "BAD_REQUEST")
    if operation.get("security"):
        for status, name in (("401", "UNAUTHORIZED"), ("403", "FORBIDDEN"),
                             ("429", "TOO_MANY_REQUESTS")):
            responses.setdefault(status, name)
    if has_path_parameters:
        responses.setdefault("404", "NOT_FOUND")


def _nullable_types(node: Any) -> None:
    if isinstance(node, dict):
        kind = node.get("type")
        if isinstance(kind, list) and "null" in kind:
            rest = [item for item in kind if item != "null"]
            node["nullable"] = True
            if len(rest) == 1:
                node["type"] = rest[0]
            else:
                del node["type"]
        for value in node.values():
            _nullable_types(value)
    elif isinstance(node, list):
        for item in node:
            _nullable_types(item)


class Api(flask_smorest.Api):
    """flask-smorest's Api, writing the OpenAPI document when it is first read.

    A blueprint is routed when it is registered, but its operations are written into the
    document (apispec converting every schema: about half of ``create_app``) only when the
    document is first read (``/api/openapi.json``, the docs pages, :attr:`spec`), in the
    order they were registered, once per app. A process that never serves the document
    (most web workers, most test apps) never writes it. Work on the document goes through
    :meth:`document`, so it keeps its place among the blueprints.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._pending: list[Callable[[APISpec], object]] = []
        self._writing = threading.Lock()
        self._writer: int | None = None  # the thread running the pending steps
        self._spec: APISpec | None = None
        super().__init__(*args, **kwargs)

    @property
    def spec(self) -> APISpec:
        """The document, with every pending step written into it first."""
        if self._pending and self._writer != threading.get_ident():
            with self._writing:
                self._writer = threading.get_ident()
                try:
                    while self._pending:  # a step leaves the queue once it is written
                        self._pending[0](self._spec)  # type: ignore[arg-type]
                        self._pending.pop(0)
                finally:
                    self._writer = None
        return self._spec  # type: ignore[return-value]

    @spec.setter
    def spec(self, value: APISpec | None) -> None:
        self._spec = value

    def document(self, step: Callable[[APISpec], object]) -> None:
        """Write ``step`` into the document when it is first read (after what came before)."""
        self._pending.append(step)

    def register_blueprint(self, blp: Any, *, parameters: Any = None, **options: Any) -> None:
        """Route ``blp`` now (as flask-smorest does) and document it when the document is
        first read."""
        name = options.get("name", blp.name)
        self._app.extensions["flask-smorest"]["blp_name_to_api"][name] = self
        self._app.register_blueprint(blp, **options)
        self.document(partial(self._document_blueprint, blp, name, parameters))

    def _document_blueprint(self, blp: Any, name: str, parameters: Any, spec: APISpec) -> None:
        blp.register_views_in_doc(self, self._app, spec, name=name, parameters=parameters)
        spec.tag({"name": name, "description": blp.description})


class V2Api(Api):
    """flask-smorest's Api for v2: problem details as the error schema and media type."""

    ERROR_SCHEMA = ProblemSchema

    def _register_responses(self) -> None:
        super()._register_responses()
        # Re-register every error response with the problem media type.
        responses = self.spec.components.responses_lazy
        for name in list(responses):
            content = responses[name].get("content") or {}
            if "application/json" in content:
                responses[name]["content"] = {MEDIA_TYPE: content["application/json"]}

    def _document_blueprint(self, blp: Any, name: str, parameters: Any, spec: APISpec) -> None:
        super()._document_blueprint(blp, name, parameters, spec)
        tags = spec._tags  # the tag just added: its name without the prefix
        tags[-1] = {**tags[-1], "name": tags[-1]["name"].removeprefix(_TAG_PREFIX)}


def flask_config() -> dict[str, Any]:
    """Settings of both documents (v1's unprefixed, v2's under ``V2_``)."""
    shared = {"OPENAPI_VERSION": "3.0.3", "OPENAPI_JSON_PATH": "openapi.json",
              **docs.flask_config()}
    v1 = {"API_TITLE": "Codex-32 API v1", "API_VERSION": f"1 ({__version__})",
          "OPENAPI_URL_PREFIX": "/api", **shared,
          "API_SPEC_OPTIONS": {"info": {"description": (
              "Build, version and run LLM-generated Python bots. Every endpoint is scoped to "
              "the caller's workspace. v2 (/api/v2/openapi.json) changes lists, errors and "
              "related objects; see docs/api.md.")}}}
    v2 = {"API_TITLE": "Codex-32 API v2", "API_VERSION": f"2 ({__version__})",
          "OPENAPI_URL_PREFIX": "/api/v2", **shared,
          "API_SPEC_OPTIONS": {"info": {"description": (
              "Codex-32 API v2: keyset lists ({data, next_cursor}), RFC 9457 problem "
              "details, expand= for related objects. Every endpoint is scoped to the "
              "caller's workspace.")}}}
    return {**v1, **{V2_PREFIX + key: value for key, value in v2.items()}}


def documents(app: Flask) -> tuple[Api, Api]:
    """The v1 and v2 Api objects (their documents and docs pages), with v1's pages also
    under ``/api/v1``."""
    v1 = Api(app, spec_kwargs={"extra_plugins": [OperationNames()]})
    v2 = V2Api(app, config_prefix=V2_PREFIX,
               spec_kwargs={"extra_plugins": [OperationNames(problems=True)]})
    for path, view in (("openapi.json", v1._openapi_json), ("docs", v1._openapi_swagger_ui),
                       ("redoc", v1._openapi_redoc)):
        app.add_url_rule(f"/api/v1/{path}", f"api-docs-v1.{path}", view)
    for api in (v1, v2):
        _document_security(api)
    return v1, v2


def _document_security(api: Api) -> None:
    api.spec.components.security_scheme(
        "bearerAuth", {"type": "http", "scheme": "bearer", "bearerFormat": "JWT or API key"})
    api.spec.components.security_scheme(
        "apiKeyAuth", {"type": "apiKey", "in": "header", "name": "X-API-Key"})


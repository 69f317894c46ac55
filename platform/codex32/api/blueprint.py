"""The flask-smorest Blueprint every Codex-32 endpoint is declared on, how it reads input, and
where each view takes ownership of its request's transaction (:mod:`codex32.api.transaction`).

Every endpoint's arguments go through :class:`ArgumentsParser`, so the rules on request bodies
hold for an endpoint the day it is added: a body is JSON sent as JSON (else 415, never silently
dropped), read strictly (:func:`codex32.api.json_provider.read_body`), and no argument holds a
NUL character.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import flask
import flask_smorest
from marshmallow import Schema
from webargs import core
from webargs.flaskparser import FlaskParser

from codex32.api import transaction
from codex32.api.json_provider import read_body
from codex32.errors import Invalid, UnsupportedMediaType


class ArgumentsParser(FlaskParser):
    """webargs' Flask parser with strict JSON bodies and NUL-free query arguments; an
    unknown query parameter is refused like an unknown body field (422), never dropped, and
    so is a second value of one that takes a single value."""

    DEFAULT_UNKNOWN_BY_LOCATION = {**FlaskParser.DEFAULT_UNKNOWN_BY_LOCATION,
                                   "query": None, "querystring": None}

    def load_json(self, req: flask.Request, schema: Schema) -> Any:
        """The body's JSON value; ``missing`` when there is no body."""
        data = req.get_data(cache=True)
        if not data:
            return core.missing
        if not core.is_json(req.mimetype):
            given = req.content_type or "none"
            raise UnsupportedMediaType(
                f"the request body must be JSON sent with 'Content-Type: application/json' "
                f"(the request said {given!r}); nothing was read")
        return read_body(data)

    def load_querystring(self, req: flask.Request, schema: Schema) -> Any:
        """The query arguments; 422 when one holds a NUL character, or when one that takes a
        single value is given more than once (webargs would read the first and drop the
        rest: ``?status=active&status=paused`` would list active bots only)."""
        if b"%00" in req.query_string or b"\x00" in req.query_string:
            bad = sorted({name for name, values in req.args.lists()
                          if "\x00" in name or any("\x00" in value for value in values)})
            if bad:
                raise Invalid(f"query.{bad[0]}: must not contain NUL characters",
                              errors={"query": {name.replace("\x00", "\\0"):
                                                ["must not contain NUL characters"]
                                                for name in bad}})
        arguments = super().load_querystring(req, schema)
        repeated = sorted(name for name, values in req.args.lists()
                          if len(values) > 1 and name not in arguments.multiple_keys)
        if repeated:
            message = "given more than once; send it once"
            raise Invalid(f"query.{repeated[0]}: {message}",
                          errors={"query": {name: [message] for name in repeated}})
        return arguments


class Blueprint(flask_smorest.Blueprint):
    """flask-smorest's Blueprint: every view owns its request's transaction
    (:mod:`codex32.api.transaction`), and argument schemas are instantiated once per route.

    webargs instantiates a schema class on every request it parses (marshmallow deep-copies
    the declared fields each time); an instance given at declaration is reused. Schemas keep
    no state between loads, so one instance serves every request.
    """

    ARGUMENTS_PARSER = ArgumentsParser()

    def add_url_rule(self, rule: str, endpoint: str | None = None, view_func: Any = None,
                     *args: Any, **kwargs: Any) -> None:
        if callable(view_func) and not isinstance(view_func, type):
            view_func = transaction.owned(view_func)
        super().add_url_rule(rule, endpoint, view_func, *args, **kwargs)

    def arguments(self, schema: Any, *args: Any, **kwargs: Any):
        return super().arguments(schema() if isinstance(schema, type) else schema,
                                 *args, **kwargs)


BodyLimit = Callable[[], int]
_BODY_LIMIT = "codex32_body_limit"


def body_limit(limit_of: BodyLimit) -> Callable[[Any], Any]:
    """Give a view its own request body limit (``limit_of()``, read in the request), in place
    of ``MAX_BODY_BYTES``: for a body sent with a length and for one sent chunked, which the
    app buffers before any view runs (place it under ``@blp.route``)."""
    def decorate(view: Any) -> Any:
        setattr(view, _BODY_LIMIT, limit_of)
        return view
    return decorate


def body_limit_of(view: Any) -> BodyLimit | None:
    """The body limit :func:`body_limit` gave a view, if any."""
    return getattr(view, _BODY_LIMIT, None)

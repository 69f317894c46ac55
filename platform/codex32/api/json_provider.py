"""JSON in and out of the API, through orjson.

orjson renders ``uuid.UUID``, ``datetime`` and ``date`` values itself, as ``str(value)`` and
``value.isoformat()`` would, so response schemas hand those values over unconverted
(:mod:`codex32.api.schemas`). Keys keep the schema's declaration order. What orjson cannot
render (an integer beyond 64 bits in a bot's result, a ``Decimal``) goes through the standard
library with the same conversions, so every value renders and none is refused.
"""

from __future__ import annotations

import dataclasses
import decimal
import json
import uuid
from datetime import date
from typing import Any

import orjson
from flask import Flask, Response
from flask.json.provider import JSONProvider

OPTIONS = orjson.OPT_NON_STR_KEYS


def _default(value: Any) -> Any:
    """Values orjson leaves to the caller: the same conversions Flask's provider makes."""
    if isinstance(value, decimal.Decimal):
        return str(value)
    if hasattr(value, "__html__"):
        return str(value.__html__())
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _stdlib_default(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, date):
        return value.isoformat()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    return _default(value)


def dumps_bytes(value: Any) -> bytes:
    """``value`` as compact JSON (UTF-8)."""
    try:
        return orjson.dumps(value, default=_default, option=OPTIONS)
    except orjson.JSONEncodeError:  # e.g. an integer wider than 64 bits
        return json.dumps(value, default=_stdlib_default, ensure_ascii=False,
                          separators=(",", ":")).encode()


class OrjsonProvider(JSONProvider):
    """Flask's JSON provider (``jsonify``, ``request.get_json``) backed by orjson."""

    mimetype = "application/json"

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        return dumps_bytes(obj).decode()

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return orjson.loads(s)

    def response(self, *args: Any, **kwargs: Any) -> Response:
        obj = self._prepare_response_obj(args, kwargs)
        return self._app.response_class(dumps_bytes(obj) + b"\n", mimetype=self.mimetype)


def init_app(app: Flask) -> None:
    """Render and parse the app's JSON with orjson."""
    app.json = OrjsonProvider(app)

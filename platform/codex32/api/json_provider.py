"""JSON in and out of the API, through orjson.

orjson renders ``uuid.UUID``, ``datetime`` and ``date`` values itself, as ``str(value)`` and
``value.isoformat()`` would, so response schemas hand those values over unconverted
(:mod:`codex32.api.schemas`). Keys keep the schema's declaration order. What orjson cannot
render (an integer beyond 64 bits in a bot's result, a ``Decimal``) goes through the standard
library with the same conversions, so every value renders and none is refused.

Request bodies are read by :func:`read_body`, strictly: invalid UTF-8, lone surrogates (which
no database can store) and nesting deeper than ``MAX_DEPTH`` are a 400 naming the position,
a NUL character in any string or key (PostgreSQL text and jsonb cannot hold one) and a key
given twice in one object (read alone, the last would win in silence) are a 422 naming the
field. An integer beyond 64 bits keeps every digit (orjson would read it as a
float).
"""

from __future__ import annotations

import collections
import dataclasses
import decimal
import json
import re
import uuid
from datetime import date
from typing import Any, cast

import orjson
from flask import Flask, Response
from flask.json.provider import JSONProvider

from codex32.errors import Invalid, Malformed

OPTIONS = orjson.OPT_NON_STR_KEYS
# Deeper JSON is refused on input: nothing the API takes needs it (an execution's input stops
# at 32 levels), and recursive code further on (validation, storage) must never meet 1,000.
MAX_DEPTH = 64


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


def read_body(data: bytes) -> Any:
    """The JSON value of a request body; ``Malformed`` (400) or ``Invalid`` (422) when bad."""
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        if "depth" in exc.msg:
            raise _too_deep() from exc
        detail = f"{exc.msg} at line {exc.lineno} column {exc.colno}"
        raise Malformed(f"malformed JSON: {detail}", errors={"json": [detail]}) from exc
    # Cheap byte scans first: most bodies need no walk at all.
    if data.count(b"[") + data.count(b"{") > MAX_DEPTH:
        _check_depth(value)
    if b"\\u0000" in data:
        _check_nul(value)
    colons = data.count(b":")
    if colons > 1 and (b"\\u003" in data or orjson.dumps(value).count(b":") != colons):
        _check_repeated_keys(data)
    if _WIDE_NUMBER.search(data):
        # orjson reads an integer beyond 64 bits as the nearest float: read the body again
        # (valid, as orjson found it, and no deeper than MAX_DEPTH) with the standard library,
        # which keeps every digit.
        value = json.loads(data)
    return value


# A run of digits that may be an integer orjson cannot hold (below -2**63: 19 digits); one inside
# a string only costs the second, slower reading.
_WIDE_NUMBER = re.compile(rb"\d{19,}")


def _too_deep() -> Malformed:
    detail = f"nested deeper than {MAX_DEPTH} levels"
    return Malformed(f"JSON {detail}", errors={"json": [detail]})


def _check_depth(value: Any) -> None:
    """Raise ``Malformed`` when ``value`` nests deeper than ``MAX_DEPTH`` (no recursion)."""
    stack = [(value, 1)]  # the body's own object or array is level 1
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise _too_deep()
        children = item.values() if type(item) is dict else item
        stack.extend((child, depth + 1) for child in children
                     if type(child) is dict or type(child) is list)


class _Repeated(dict[str, Any]):
    """An object of a body that held a key more than once (``keys_given_twice``)."""

    keys_given_twice: list[str]


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    value = dict(pairs)
    if len(value) == len(pairs):
        return value
    marked = _Repeated(value)
    counts = collections.Counter(key for key, _ in pairs)
    marked.keys_given_twice = sorted(key for key, count in counts.items() if count > 1)
    return marked


def _check_repeated_keys(data: bytes) -> None:
    """Raise ``Invalid`` naming every key given twice in one object of ``data``.

    Only called when a byte count could not rule repeats out: with no ``\\u003a`` escape in the
    body, every colon of the text is a key's or a string's, and the value orjson read keeps
    them all (rendered again) unless an object lost a repeated key with its value.
    """
    found: dict[str, list[str]] = {}
    message = "given more than once; send it once"
    stack: list[tuple[Any, tuple[str, ...]]] = [(json.loads(data, object_pairs_hook=_object), ())]
    while stack:  # valid JSON no deeper than MAX_DEPTH by now
        item, path = stack.pop()
        if isinstance(item, dict):
            for key in getattr(item, "keys_given_twice", ()):
                found[".".join((*path, key))] = [message]
            stack.extend((child, (*path, key)) for key, child in item.items())
        elif isinstance(item, list):
            stack.extend((child, (*path, str(index))) for index, child in enumerate(item))
    if found:
        raise Invalid(f"json.{min(found)}: {message}", errors={"json": dict(sorted(found.items()))})


def _check_nul(value: Any) -> None:
    """Raise ``Invalid`` naming every string or key of ``value`` that holds a NUL."""
    found: dict[str, list[str]] = {}
    stack: list[tuple[Any, tuple[str, ...]]] = [(value, ())]
    while stack:  # the depth is bounded by now
        item, path = stack.pop()
        if isinstance(item, dict):
            if any("\x00" in key for key in item):  # name the object holding the key
                found[".".join(path) or "body"] = ["must not contain NUL characters"]
            stack.extend((child, (*path, key)) for key, child in item.items())
        elif isinstance(item, list):
            stack.extend((child, (*path, str(index))) for index, child in enumerate(item))
        elif isinstance(item, str) and "\x00" in item:
            found[".".join(path) or "body"] = ["must not contain NUL characters"]
    if found:
        raise Invalid(f"json.{min(found)}: must not contain NUL characters",
                      errors={"json": dict(sorted(found.items()))})


class OrjsonProvider(JSONProvider):
    """Flask's JSON provider (``jsonify``, ``request.get_json``) backed by orjson."""

    mimetype = "application/json"

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        return dumps_bytes(obj).decode()

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return orjson.loads(s)

    def response(self, *args: Any, **kwargs: Any) -> Response:
        obj = self._prepare_response_obj(args, kwargs)
        app = cast(Flask, self._app)  # installed on a Flask app (init_app)
        return app.response_class(dumps_bytes(obj) + b"\n", mimetype=self.mimetype)


def init_app(app: Flask) -> None:
    """Render and parse the app's JSON with orjson."""
    app.json = OrjsonProvider(app)

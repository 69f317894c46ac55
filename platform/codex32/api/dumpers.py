"""Response dumpers: how an output schema's declared fields become one function, by closures.

flask-smorest dumps every response through its schema, and marshmallow's generic machinery
costs most of a list request's time. A schema made only of plain fields (and nested output
schemas made of them) is therefore dumped by a :class:`Dumper` built once from its fields: a
tuple of ``(key, attribute, kept, convert)`` steps walked in a loop, with no marshmallow call
per object and no generated source. Its JSON rendering is marshmallow's (``tests/api/
test_output.py`` proves it for every response schema); UUIDs and dates stay objects for the
JSON provider (:mod:`codex32.api.json_provider`) to render. A schema with anything else (a
method field, a dump hook, a validator-carrying custom field) has no dumper and is dumped by
marshmallow. This is the API's one fast output path.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from datetime import date, datetime
from typing import Any

from marshmallow import Schema, fields
from marshmallow.decorators import POST_DUMP, PRE_DUMP

Convert = Callable[[Any], Any]
# How one field's value is dumped: values of type ``kept`` as they are, others converted by
# ``convert``; no conversion (None) keeps every value, no kept type (None) converts every one.
Step = tuple[type | None, Convert | None]
_ABSENT = object()


def _text(value: Any) -> str:
    return str(value)


def _iso(value: Any) -> Any:
    # The JSON provider renders dates as ``isoformat()`` itself.
    return value if isinstance(value, (datetime, date)) else str(value)


def _uuid(value: Any) -> Any:
    # ... and UUIDs as ``str()``.
    return value if isinstance(value, uuid.UUID) else str(uuid.UUID(str(value)))


# Plain fields: (the type a value already has when it needs no conversion, the conversion).
PLAIN: dict[type[fields.Field], Step] = {
    fields.UUID: (uuid.UUID, _uuid), fields.String: (str, _text), fields.Email: (str, _text),
    fields.Integer: (int, int), fields.Float: (float, float), fields.Boolean: (bool, bool),
    fields.DateTime: (datetime, _iso), fields.AwareDateTime: (datetime, _iso),
}


class Dumper:
    """Dump one object (a mapping, or an object's attributes) as its schema would.

    ``steps`` holds, per field, the output key, the attribute read and its :data:`Step`. A
    missing attribute is left out and ``None`` stays ``None``, as in marshmallow.
    """

    __slots__ = ("steps",)

    def __init__(self, steps: tuple[tuple[str, str, type | None, Convert | None], ...]) -> None:
        self.steps = steps

    def __call__(self, obj: Any) -> dict[str, Any]:
        get: Callable[[str, Any], Any]
        if type(obj) is dict or isinstance(obj, Mapping):
            get = obj.get
        else:
            def get(name: str, default: Any) -> Any:
                return getattr(obj, name, default)
        out = {}
        for key, attribute, kept, convert in self.steps:
            value = get(attribute, _ABSENT)
            if value is _ABSENT:
                continue
            out[key] = (value if value is None or convert is None or type(value) is kept
                        else convert(value))
        return out

    def many(self, items: Any) -> list[dict[str, Any]]:
        """Dump each of ``items``."""
        return [self(item) for item in items]


def dumper_for(schema: Schema, nested: Callable[[Schema], Dumper | None]) -> Dumper | None:
    """The dumper of ``schema``, or None when one of its fields needs marshmallow.

    ``nested`` gives the dumper of a nested output schema (None when it has none).
    """
    if schema._hooks[PRE_DUMP] or schema._hooks[POST_DUMP]:
        return None
    steps = []
    for name, field in schema.dump_fields.items():
        step = _step(field, nested)
        if step is None:
            return None
        kept, convert = step
        steps.append((field.data_key or name, field.attribute or name, kept, convert))
    return Dumper(tuple(steps))


def _step(field: fields.Field, nested: Callable[[Schema], Dumper | None]) -> Step | None:
    """How one field's value is dumped; None when marshmallow must dump it."""
    plain = PLAIN.get(type(field))
    if plain is not None:
        return plain
    if type(field) is fields.Raw:
        return None, None
    if type(field) is fields.Dict:
        keys = _step(field.key_field, nested) if field.key_field else (None, None)
        values = _step(field.value_field, nested) if field.value_field else (None, None)
        if keys is None or values is None:
            return None
        if keys[1] is None and values[1] is None:
            return dict, dict
        key, value = _converter(keys), _converter(values)
        return None, lambda mapping: {key(k): value(v) for k, v in mapping.items()}
    if type(field) is fields.List:
        inner = _step(field.inner, nested)
        if inner is None:
            return None
        item = _converter(inner)
        return None, lambda items: [item(value) for value in items]
    if type(field) is fields.Nested:
        dumper = nested(field.schema)
        if dumper is None:
            return None
        return None, dumper.many if field.many else dumper
    return None


def _converter(step: Step) -> Convert:
    """One step as a function of a value (``None`` stays ``None``)."""
    kept, convert = step
    if convert is None:
        return _same
    return lambda value: (value if value is None or type(value) is kept else convert(value))


def _same(value: Any) -> Any:
    return value

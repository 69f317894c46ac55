"""The compiled dump of response schemas renders exactly the JSON marshmallow's dump renders,
for every response schema the API declares (so the fast path can never change a response)."""

from __future__ import annotations

import importlib
import pkgutil
import uuid
from datetime import UTC, datetime

import pytest
from marshmallow import Schema, fields

from codex32.api.json_provider import dumps_bytes
from codex32.api.schemas import Output


def _all_outputs() -> list[type[Output]]:
    from codex32.api import v1, v2

    # Every v1 and v2 module (a new one is covered the day it is added), and the health
    # endpoints.
    for package in (v1, v2):
        for module in pkgutil.iter_modules(package.__path__):
            importlib.import_module(f"{package.__name__}.{module.name}")
    importlib.import_module("codex32.observability.health")

    found, todo = [], list(Output.__subclasses__())
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo.extend(cls.__subclasses__())
    return sorted(set(found), key=lambda c: c.__qualname__)


def _sample(field: fields.Field, depth: int = 0):
    if isinstance(field, fields.Nested):
        item = _object(field.schema, depth + 1)
        return [item, item] if field.many else item
    if isinstance(field, fields.List):
        return [_sample(field.inner, depth), _sample(field.inner, depth)]
    if isinstance(field, fields.Dict):
        if field.value_field is not None:
            return {"k": _sample(field.value_field, depth)}
        return {"k": [1, "two"], "n": None}
    return {
        fields.UUID: uuid.uuid4(), fields.Integer: 7, fields.Float: 1.5,
        fields.Boolean: True, fields.DateTime: datetime(2026, 11, 25, 13, 0, 5, 123456, tzinfo=UTC),
        fields.AwareDateTime: datetime(2026, 11, 25, 13, 0, 5, 123456, tzinfo=UTC),
        fields.Raw: {"raw": [1, 2]},
    }.get(type(field), "text ü")


def _object(schema: Schema, depth: int = 0) -> dict:
    return {field.attribute or name: _sample(field, depth)
            for name, field in schema.dump_fields.items()}


@pytest.mark.parametrize("schema_class", _all_outputs(), ids=lambda c: c.__name__)
def test_compiled_dump_equals_marshmallow(schema_class):
    schema = schema_class()
    assert schema._dumper() is not None, f"{schema_class.__name__} falls back to marshmallow"
    full = _object(schema)
    assert _fast(schema, full) == _slow(schema, full)
    assert _fast(schema, [full, full], many=True) == _slow(schema, [full, full], many=True)
    sparse = {key: None for key in list(full)[::2]}
    assert _fast(schema, sparse) == _slow(schema, sparse)

    class Obj:
        pass

    obj = Obj()
    obj.__dict__.update(full)
    assert _fast(schema, obj) == _slow(schema, obj)


def _fast(schema: Output, obj, many: bool = False) -> bytes:
    return dumps_bytes(schema.dump(obj, many=many))


def _slow(schema: Output, obj, many: bool = False) -> bytes:
    return dumps_bytes(Schema.dump(schema, obj, many=many))


class _Containers(Output):
    """Plain values inside lists and dicts, ``None`` among them."""

    names = fields.List(fields.String())
    counts = fields.Dict(keys=fields.String(), values=fields.Integer())
    when = fields.List(fields.DateTime())
    nested = fields.List(fields.List(fields.Integer()))


@pytest.mark.parametrize("value", [
    {"names": ["a", None, 3], "counts": {"x": 1, "y": None, "z": "4"},
     "when": [datetime(2026, 1, 2, tzinfo=UTC), None], "nested": [[1, None], None]},
    {"names": None, "counts": None, "when": [], "nested": []},
])
def test_values_inside_lists_and_dicts_dump_like_marshmallow(value):
    schema = _Containers()
    assert schema._dumper() is not None
    assert _fast(schema, value) == _slow(schema, value)

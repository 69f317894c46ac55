"""Schemas shared by every API version: strict input, pagination, limits from the settings."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from datetime import date, datetime
from typing import Any

from flask import current_app
from marshmallow import RAISE, Schema, ValidationError, fields, validate
from marshmallow.decorators import POST_DUMP, PRE_DUMP

from codex32 import runtime


class Strict(Schema):
    """Input schema: unknown fields are an error (422), never silently dropped."""

    class Meta:
        unknown = RAISE


_ABSENT = object()


def _text(value: Any) -> str:
    return value if type(value) is str else str(value)


def _iso(value: Any) -> Any:
    # The JSON provider renders dates as ``isoformat()`` itself (codex32.api.json_provider).
    return value if isinstance(value, (datetime, date)) else str(value)


def _uuid(value: Any) -> Any:
    # ... and UUIDs as ``str()``.
    return value if isinstance(value, uuid.UUID) else str(uuid.UUID(str(value)))


def _int(value: Any) -> int:
    return value if type(value) is int else int(value)


SIMPLE: dict[type, Callable[[Any], Any]] = {
    fields.UUID: _uuid, fields.String: _text, fields.Email: _text, fields.Integer: _int,
    fields.Float: float, fields.Boolean: bool, fields.DateTime: _iso,
    fields.AwareDateTime: _iso,
}


class Output(Schema):
    """Response schema: the declarations document the API; dumping takes a compiled path.

    flask-smorest dumps every response through its schema. Marshmallow's generic machinery
    costs most of a list request's time, so a schema made only of plain fields (and nested
    output schemas) dumps through a function generated from its fields, whose JSON rendering
    is the same; anything else falls back to marshmallow. UUIDs and dates stay objects for the
    JSON provider to render. ``tests/api/test_output.py`` proves the two render alike for
    every response schema.
    """

    _plans: dict[type, Callable[[Any], dict[str, Any]] | None] = {}

    def dump(self, obj: Any, *, many: bool | None = None) -> Any:
        plan = self._plan()
        if plan is None or self.only or self.exclude:
            return super().dump(obj, many=many)
        if self.many if many is None else many:
            return [plan(item) for item in obj]
        return plan(obj)

    def _plan(self) -> Callable[[Any], dict[str, Any]] | None:
        cls = type(self)
        if cls not in Output._plans:
            Output._plans[cls] = _compile(self)
        return Output._plans[cls]


def _compile(schema: Schema) -> Callable[[Any], dict[str, Any]] | None:
    """A function dumping one object (a mapping, or attributes) as ``schema`` would."""
    if schema._hooks[PRE_DUMP] or schema._hooks[POST_DUMP]:
        return None
    names: dict[str, Any] = {"_ABSENT": _ABSENT, "Mapping": Mapping}
    lines = []
    for index, (name, field) in enumerate(schema.dump_fields.items()):
        converter = _converter(field)
        if converter is None:
            return None
        names[f"c{index}"] = converter
        key, attribute = field.data_key or name, field.attribute or name
        kept = KEPT.get(converter)
        if kept == "object":
            value = "v"
        elif kept is None:
            value = f"c{index}(v)"
        else:
            value = f"v if type(v) is {kept} else c{index}(v)"
            names[kept] = KEPT_TYPES[kept]
        lines += [f"    v = get({attribute!r}, _ABSENT)",
                  "    if v is not _ABSENT:",
                  f"        out[{key!r}] = None if v is None else {value}"]
    source = "\n".join([
        "def dump(obj):",
        "    get = obj.get if isinstance(obj, Mapping) else "
        "(lambda name, default: getattr(obj, name, default))",
        "    out = {}", *lines, "    return out"])
    exec(compile(source, f"<dump {type(schema).__name__}>", "exec"), names)
    return names["dump"]


def _converter(field: fields.Field) -> Callable[[Any], Any] | None:
    simple = SIMPLE.get(type(field))
    if simple is not None:
        return simple
    if type(field) is fields.Dict and field.key_field is None and field.value_field is None:
        return dict
    if type(field) is fields.Dict:
        keys, values = field.key_field, field.value_field
        key = _converter(keys) if keys else _same
        value = _converter(values) if values else _same
        if key is None or value is None:
            return None
        return lambda d: {key(k): value(v) for k, v in d.items()}
    if type(field) is fields.Nested and isinstance(field.schema, Output):
        nested = field.schema._plan()
        if nested is None:
            return None
        if field.many:
            return lambda items: [nested(item) for item in items]
        return nested
    if type(field) is fields.Raw:
        return _same
    if type(field) is fields.List:
        inner = _converter(field.inner)
        return None if inner is None else (lambda items: [inner(item) for item in items])
    return None


def _same(value: Any) -> Any:
    return value


# Converters whose result is the value itself (or renders alike) for one exact type: the
# generated dump skips the call for that type.
KEPT: dict[Callable[[Any], Any], str] = {
    _text: "str", _int: "int", bool: "bool", float: "float", _uuid: "UUID", _iso: "datetime",
    dict: "dict", _same: "object"}
KEPT_TYPES = {"str": str, "int": int, "bool": bool, "float": float, "UUID": uuid.UUID,
              "datetime": datetime, "dict": dict}


def _settings():
    return runtime.of(current_app).settings


def name_length(value: str) -> None:
    """A name is 1..MAX_NAME_LENGTH characters and not only spaces."""
    if not value.strip():
        raise ValidationError("must not be blank")
    if len(value) > _settings().max_name_length:
        raise ValidationError(f"must be at most {_settings().max_name_length} characters")


def description_length(value: str) -> None:
    if len(value) > _settings().max_description_length:
        raise ValidationError(
            f"must be at most {_settings().max_description_length} characters")


def code_size(value: str) -> None:
    size = len(value.encode())
    if size > _settings().max_code_bytes:
        raise ValidationError(f"is {size} bytes; at most {_settings().max_code_bytes} allowed")


def page_size(value: int) -> None:
    if not 1 <= value <= _settings().max_page_size:
        raise ValidationError(f"must be between 1 and {_settings().max_page_size}")


class PageArgs(Strict):
    """Query arguments of every list endpoint."""

    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=1_000_000))
    page_size = fields.Integer(load_default=20, validate=page_size,
                               metadata={"description": "items per page, at most 100"})


def page_of(item: type[Schema], name: str) -> type[Schema]:
    """A page envelope schema: ``items`` of ``item`` plus page, page_size and total."""
    attrs: dict[str, Any] = {
        "items": fields.List(fields.Nested(item), required=True),
        "page": fields.Integer(required=True),
        "page_size": fields.Integer(required=True),
        "total": fields.Integer(required=True),
    }
    return type(name, (Output,), attrs)


class TokenPairSchema(Output):
    access_token = fields.String(required=True)
    refresh_token = fields.String(required=True)
    token_type = fields.String(required=True, metadata={"example": "bearer"})
    expires_in = fields.Integer(required=True, metadata={"description": "seconds"})

"""Schemas shared by every API version: strict input (and fields that take a JSON type
as it is, never coerced), pagination, limits from the settings."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from flask import current_app
from marshmallow import RAISE, Schema, ValidationError, fields, validate

from codex32 import runtime
from codex32.api.dumpers import Dumper, dumper_for


class Strict(Schema):
    """Input schema: unknown fields are an error (422), never silently dropped."""

    class Meta:
        unknown = RAISE


class MergePatch(Strict):
    """Input schema of a JSON merge patch (RFC 7396) of a stored object: every field, and
    every value of a mapping field, takes ``null``, which removes that key. Unknown fields
    are still an error. What the merge makes is loaded with the same schema (it holds no
    ``null``), so limits on the whole object hold after the merge."""

    def on_bind_field(self, field_name: str, field_obj: fields.Field) -> None:
        field_obj.allow_none = True
        if isinstance(field_obj, fields.Dict) and field_obj.value_field is not None:
            field_obj.value_field.allow_none = True


class JsonBoolean(fields.Boolean):
    """``true`` or ``false`` only: no "yes", 1 or "true" taken for a boolean."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return value


class JsonInteger(fields.Integer):
    """A JSON number with an integral value (``16`` or ``16.0``): no string, boolean or
    fraction rounded into one."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int | float) or (
                isinstance(value, float) and not value.is_integer()):
            raise self.make_error("invalid", input=value)
        return int(value)


class JsonNumber(fields.Float):
    """A JSON number: no string or boolean read as one."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.make_error("invalid", input=value)
        return super()._deserialize(value, attr, data, **kwargs)


class JsonDecimal(fields.Decimal):
    """An exact decimal given as a JSON number or as a string of one in ASCII (``"12.5"``,
    ``"1e3"``): not ``"١٢"``, ``"1_000"``, ``" 1"`` or ``"NaN"``, which Python's
    ``Decimal`` would read."""

    NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?|-?\.[0-9]+", re.ASCII)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Decimal:
        if isinstance(value, bool) or not isinstance(value, int | float | str) or (
                isinstance(value, str) and not self.NUMBER.fullmatch(value)):
            raise self.make_error("invalid", input=value)
        return super()._deserialize(value, attr, data, **kwargs)


class Output(Schema):
    """Response schema: the declarations document the API; dumping takes the fast path.

    A schema made only of plain fields (and nested output schemas) dumps through its
    :class:`~codex32.api.dumpers.Dumper`, built once from its fields; its JSON rendering is
    marshmallow's. Anything else, or a dump with ``only``/``exclude``, falls back to
    marshmallow. ``tests/api/test_output.py`` proves the two render alike for every response
    schema.
    """

    _dumpers: dict[type, Dumper | None] = {}

    def dump(self, obj: Any, *, many: bool | None = None) -> Any:
        dumper = self._dumper()
        if dumper is None or self.only or self.exclude:
            return super().dump(obj, many=many)
        if self.many if many is None else many:
            return dumper.many(obj)
        return dumper(obj)

    def _dumper(self) -> Dumper | None:
        cls = type(self)
        if cls not in Output._dumpers:
            Output._dumpers[cls] = dumper_for(self, _nested_dumper)
        return Output._dumpers[cls]


def _nested_dumper(schema: Schema) -> Dumper | None:
    return schema._dumper() if isinstance(schema, Output) else None


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

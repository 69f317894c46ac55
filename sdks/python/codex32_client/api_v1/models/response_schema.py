from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar

from attrs import define as _attrs_define

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.response_schema_schema import ResponseSchemaSchema


T = TypeVar("T", bound="ResponseSchema")


@_attrs_define
class ResponseSchema:
    """
    Attributes:
        name (str):
        schema (ResponseSchemaSchema): a JSON Schema object
        description (str | Unset):
        strict (bool | Unset):
    """

    name: str
    schema: ResponseSchemaSchema
    description: str | Unset = UNSET
    strict: bool | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        name = self.name

        schema = self.schema.to_dict()

        description = self.description

        strict = self.strict

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "name": name,
                "schema": schema,
            }
        )
        if description is not UNSET:
            field_dict["description"] = description
        if strict is not UNSET:
            field_dict["strict"] = strict

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.response_schema_schema import ResponseSchemaSchema

        d = dict(src_dict)
        name = d.pop("name")

        schema = ResponseSchemaSchema.from_dict(d.pop("schema"))

        description = d.pop("description", UNSET)

        strict = d.pop("strict", UNSET)

        response_schema = cls(
            name=name,
            schema=schema,
            description=description,
            strict=strict,
        )

        return response_schema

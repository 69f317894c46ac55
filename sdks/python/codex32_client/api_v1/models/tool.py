from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar, cast

from attrs import define as _attrs_define

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.tool_parameters_type_0 import ToolParametersType0


T = TypeVar("T", bound="Tool")


@_attrs_define
class Tool:
    """
    Attributes:
        name (str):
        description (str | Unset):  Default: ''.
        parameters (None | ToolParametersType0 | Unset): the JSON Schema of its arguments (an object)
        strict (bool | Unset):  Default: False.
    """

    name: str
    description: str | Unset = ""
    parameters: None | ToolParametersType0 | Unset = UNSET
    strict: bool | Unset = False

    def to_dict(self) -> dict[str, Any]:
        from ..models.tool_parameters_type_0 import ToolParametersType0

        name = self.name

        description = self.description

        parameters: dict[str, Any] | None | Unset
        if isinstance(self.parameters, Unset):
            parameters = UNSET
        elif isinstance(self.parameters, ToolParametersType0):
            parameters = self.parameters.to_dict()
        else:
            parameters = self.parameters

        strict = self.strict

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "name": name,
            }
        )
        if description is not UNSET:
            field_dict["description"] = description
        if parameters is not UNSET:
            field_dict["parameters"] = parameters
        if strict is not UNSET:
            field_dict["strict"] = strict

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.tool_parameters_type_0 import ToolParametersType0

        d = dict(src_dict)
        name = d.pop("name")

        description = d.pop("description", UNSET)

        def _parse_parameters(data: object) -> None | ToolParametersType0 | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                parameters_type_0 = ToolParametersType0.from_dict(data)

                return parameters_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | ToolParametersType0 | Unset, data)

        parameters = _parse_parameters(d.pop("parameters", UNSET))

        strict = d.pop("strict", UNSET)

        tool = cls(
            name=name,
            description=description,
            parameters=parameters,
            strict=strict,
        )

        return tool

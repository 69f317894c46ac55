from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar

from attrs import define as _attrs_define

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.execution_create_input import ExecutionCreateInput


T = TypeVar("T", bound="ExecutionCreate")


@_attrs_define
class ExecutionCreate:
    """
    Attributes:
        input_ (ExecutionCreateInput | Unset): the event the bot gets
        version (int | Unset): default: the bot's current version
    """

    input_: ExecutionCreateInput | Unset = UNSET
    version: int | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        input_: dict[str, Any] | Unset = UNSET
        if not isinstance(self.input_, Unset):
            input_ = self.input_.to_dict()

        version = self.version

        field_dict: dict[str, Any] = {}

        field_dict.update({})
        if input_ is not UNSET:
            field_dict["input"] = input_
        if version is not UNSET:
            field_dict["version"] = version

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.execution_create_input import ExecutionCreateInput

        d = dict(src_dict)
        _input_ = d.pop("input", UNSET)
        input_: ExecutionCreateInput | Unset
        if isinstance(_input_, Unset):
            input_ = UNSET
        else:
            input_ = ExecutionCreateInput.from_dict(_input_)

        version = d.pop("version", UNSET)

        execution_create = cls(
            input_=input_,
            version=version,
        )

        return execution_create

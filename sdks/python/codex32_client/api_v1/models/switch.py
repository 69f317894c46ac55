from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar

from attrs import define as _attrs_define

T = TypeVar("T", bound="Switch")


@_attrs_define
class Switch:
    """
    Attributes:
        workspace (str): workspace slug or id
    """

    workspace: str

    def to_dict(self) -> dict[str, Any]:
        workspace = self.workspace

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "workspace": workspace,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        workspace = d.pop("workspace")

        switch = cls(
            workspace=workspace,
        )

        return switch

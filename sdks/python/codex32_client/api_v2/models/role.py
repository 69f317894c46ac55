from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar

from attrs import define as _attrs_define

from ..models.role_role import RoleRole

T = TypeVar("T", bound="Role")


@_attrs_define
class Role:
    """
    Attributes:
        role (RoleRole):
    """

    role: RoleRole

    def to_dict(self) -> dict[str, Any]:
        role = self.role.value

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "role": role,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        role = RoleRole(d.pop("role"))

        role = cls(
            role=role,
        )

        return role

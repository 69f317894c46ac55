from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar
from uuid import UUID

from attrs import define as _attrs_define

T = TypeVar("T", bound="VerifiedUser")


@_attrs_define
class VerifiedUser:
    """
    Attributes:
        email (str):
        id (UUID):
    """

    email: str
    id: UUID

    def to_dict(self) -> dict[str, Any]:
        email = self.email

        id = str(self.id)

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "email": email,
                "id": id,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        email = d.pop("email")

        id = UUID(d.pop("id"))

        verified_user = cls(
            email=email,
            id=id,
        )

        return verified_user

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, Self, TypeVar
from uuid import UUID

from attrs import define as _attrs_define

T = TypeVar("T", bound="Member")


@_attrs_define
class Member:
    """
    Attributes:
        email (str):
        joined_at (datetime.datetime):
        role (str):
        user_id (UUID):
    """

    email: str
    joined_at: datetime.datetime
    role: str
    user_id: UUID

    def to_dict(self) -> dict[str, Any]:
        email = self.email

        joined_at = self.joined_at.isoformat()

        role = self.role

        user_id = str(self.user_id)

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "email": email,
                "joined_at": joined_at,
                "role": role,
                "user_id": user_id,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        email = d.pop("email")

        joined_at = datetime.datetime.fromisoformat(d.pop("joined_at"))

        role = d.pop("role")

        user_id = UUID(d.pop("user_id"))

        member = cls(
            email=email,
            joined_at=joined_at,
            role=role,
            user_id=user_id,
        )

        return member

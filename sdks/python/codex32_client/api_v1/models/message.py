from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar

from attrs import define as _attrs_define

from ..models.message_role import MessageRole

T = TypeVar("T", bound="Message")


@_attrs_define
class Message:
    """
    Attributes:
        content (str):
        role (MessageRole):
    """

    content: str
    role: MessageRole

    def to_dict(self) -> dict[str, Any]:
        content = self.content

        role = self.role.value

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "content": content,
                "role": role,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        content = d.pop("content")

        role = MessageRole(d.pop("role"))

        message = cls(
            content=content,
            role=role,
        )

        return message

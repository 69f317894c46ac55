from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar

from attrs import define as _attrs_define

T = TypeVar("T", bound="TokenUsage")


@_attrs_define
class TokenUsage:
    """
    Attributes:
        cached_input_tokens (int):
        input_tokens (int):
        output_tokens (int):
        reasoning_tokens (int):
        total_tokens (int):
    """

    cached_input_tokens: int
    input_tokens: int
    output_tokens: int
    reasoning_tokens: int
    total_tokens: int

    def to_dict(self) -> dict[str, Any]:
        cached_input_tokens = self.cached_input_tokens

        input_tokens = self.input_tokens

        output_tokens = self.output_tokens

        reasoning_tokens = self.reasoning_tokens

        total_tokens = self.total_tokens

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "cached_input_tokens": cached_input_tokens,
                "input_tokens": input_tokens,
                "output_tokens": output_tokens,
                "reasoning_tokens": reasoning_tokens,
                "total_tokens": total_tokens,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        cached_input_tokens = d.pop("cached_input_tokens")

        input_tokens = d.pop("input_tokens")

        output_tokens = d.pop("output_tokens")

        reasoning_tokens = d.pop("reasoning_tokens")

        total_tokens = d.pop("total_tokens")

        token_usage = cls(
            cached_input_tokens=cached_input_tokens,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            reasoning_tokens=reasoning_tokens,
            total_tokens=total_tokens,
        )

        return token_usage

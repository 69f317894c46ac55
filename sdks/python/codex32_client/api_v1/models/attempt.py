from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar, cast

from attrs import define as _attrs_define

from ..types import UNSET, Unset

T = TypeVar("T", bound="Attempt")


@_attrs_define
class Attempt:
    """
    Attributes:
        error (str):
        latency_ms (int):
        provider (str):
        model (None | str | Unset):
        status (int | None | Unset):
    """

    error: str
    latency_ms: int
    provider: str
    model: None | str | Unset = UNSET
    status: int | None | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        error = self.error

        latency_ms = self.latency_ms

        provider = self.provider

        model: None | str | Unset
        if isinstance(self.model, Unset):
            model = UNSET
        else:
            model = self.model

        status: int | None | Unset
        if isinstance(self.status, Unset):
            status = UNSET
        else:
            status = self.status

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "error": error,
                "latency_ms": latency_ms,
                "provider": provider,
            }
        )
        if model is not UNSET:
            field_dict["model"] = model
        if status is not UNSET:
            field_dict["status"] = status

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        error = d.pop("error")

        latency_ms = d.pop("latency_ms")

        provider = d.pop("provider")

        def _parse_model(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        model = _parse_model(d.pop("model", UNSET))

        def _parse_status(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        status = _parse_status(d.pop("status", UNSET))

        attempt = cls(
            error=error,
            latency_ms=latency_ms,
            provider=provider,
            model=model,
            status=status,
        )

        return attempt

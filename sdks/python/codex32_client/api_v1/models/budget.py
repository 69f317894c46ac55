from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, Self, TypeVar, cast
from uuid import UUID

from attrs import define as _attrs_define

from ..types import UNSET, Unset

T = TypeVar("T", bound="Budget")


@_attrs_define
class Budget:
    """
    Attributes:
        id (UUID):
        period (str):
        reserved_usd (str): exact decimal
        scope (str):
        spent_usd (str): exact decimal
        hard_limit_usd (None | str | Unset): exact decimal
        period_start (datetime.datetime | None | Unset):
        resets_at (datetime.datetime | None | Unset):
        scope_id (None | Unset | UUID):
        soft_limit_usd (None | str | Unset): exact decimal
    """

    id: UUID
    period: str
    reserved_usd: str
    scope: str
    spent_usd: str
    hard_limit_usd: None | str | Unset = UNSET
    period_start: datetime.datetime | None | Unset = UNSET
    resets_at: datetime.datetime | None | Unset = UNSET
    scope_id: None | Unset | UUID = UNSET
    soft_limit_usd: None | str | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        id = str(self.id)

        period = self.period

        reserved_usd = self.reserved_usd

        scope = self.scope

        spent_usd = self.spent_usd

        hard_limit_usd: None | str | Unset
        if isinstance(self.hard_limit_usd, Unset):
            hard_limit_usd = UNSET
        else:
            hard_limit_usd = self.hard_limit_usd

        period_start: None | str | Unset
        if isinstance(self.period_start, Unset):
            period_start = UNSET
        elif isinstance(self.period_start, datetime.datetime):
            period_start = self.period_start.isoformat()
        else:
            period_start = self.period_start

        resets_at: None | str | Unset
        if isinstance(self.resets_at, Unset):
            resets_at = UNSET
        elif isinstance(self.resets_at, datetime.datetime):
            resets_at = self.resets_at.isoformat()
        else:
            resets_at = self.resets_at

        scope_id: None | str | Unset
        if isinstance(self.scope_id, Unset):
            scope_id = UNSET
        elif isinstance(self.scope_id, UUID):
            scope_id = str(self.scope_id)
        else:
            scope_id = self.scope_id

        soft_limit_usd: None | str | Unset
        if isinstance(self.soft_limit_usd, Unset):
            soft_limit_usd = UNSET
        else:
            soft_limit_usd = self.soft_limit_usd

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "id": id,
                "period": period,
                "reserved_usd": reserved_usd,
                "scope": scope,
                "spent_usd": spent_usd,
            }
        )
        if hard_limit_usd is not UNSET:
            field_dict["hard_limit_usd"] = hard_limit_usd
        if period_start is not UNSET:
            field_dict["period_start"] = period_start
        if resets_at is not UNSET:
            field_dict["resets_at"] = resets_at
        if scope_id is not UNSET:
            field_dict["scope_id"] = scope_id
        if soft_limit_usd is not UNSET:
            field_dict["soft_limit_usd"] = soft_limit_usd

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        id = UUID(d.pop("id"))

        period = d.pop("period")

        reserved_usd = d.pop("reserved_usd")

        scope = d.pop("scope")

        spent_usd = d.pop("spent_usd")

        def _parse_hard_limit_usd(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        hard_limit_usd = _parse_hard_limit_usd(d.pop("hard_limit_usd", UNSET))

        def _parse_period_start(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                period_start_type_0 = datetime.datetime.fromisoformat(data)

                return period_start_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None | Unset, data)

        period_start = _parse_period_start(d.pop("period_start", UNSET))

        def _parse_resets_at(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                resets_at_type_0 = datetime.datetime.fromisoformat(data)

                return resets_at_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None | Unset, data)

        resets_at = _parse_resets_at(d.pop("resets_at", UNSET))

        def _parse_scope_id(data: object) -> None | Unset | UUID:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                scope_id_type_0 = UUID(data)

                return scope_id_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | Unset | UUID, data)

        scope_id = _parse_scope_id(d.pop("scope_id", UNSET))

        def _parse_soft_limit_usd(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        soft_limit_usd = _parse_soft_limit_usd(d.pop("soft_limit_usd", UNSET))

        budget = cls(
            id=id,
            period=period,
            reserved_usd=reserved_usd,
            scope=scope,
            spent_usd=spent_usd,
            hard_limit_usd=hard_limit_usd,
            period_start=period_start,
            resets_at=resets_at,
            scope_id=scope_id,
            soft_limit_usd=soft_limit_usd,
        )

        return budget

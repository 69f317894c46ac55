from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar, cast
from uuid import UUID

from attrs import define as _attrs_define

from ..models.budget_in_period import BudgetInPeriod
from ..models.budget_in_scope import BudgetInScope
from ..types import UNSET, Unset

T = TypeVar("T", bound="BudgetIn")


@_attrs_define
class BudgetIn:
    """
    Attributes:
        period (BudgetInPeriod):
        scope (BudgetInScope):
        hard_limit_usd (float | None | Unset):
        scope_id (None | Unset | UUID):
        soft_limit_usd (float | None | Unset):
    """

    period: BudgetInPeriod
    scope: BudgetInScope
    hard_limit_usd: float | None | Unset = UNSET
    scope_id: None | Unset | UUID = UNSET
    soft_limit_usd: float | None | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        period = self.period.value

        scope = self.scope.value

        hard_limit_usd: float | None | Unset
        if isinstance(self.hard_limit_usd, Unset):
            hard_limit_usd = UNSET
        else:
            hard_limit_usd = self.hard_limit_usd

        scope_id: None | str | Unset
        if isinstance(self.scope_id, Unset):
            scope_id = UNSET
        elif isinstance(self.scope_id, UUID):
            scope_id = str(self.scope_id)
        else:
            scope_id = self.scope_id

        soft_limit_usd: float | None | Unset
        if isinstance(self.soft_limit_usd, Unset):
            soft_limit_usd = UNSET
        else:
            soft_limit_usd = self.soft_limit_usd

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "period": period,
                "scope": scope,
            }
        )
        if hard_limit_usd is not UNSET:
            field_dict["hard_limit_usd"] = hard_limit_usd
        if scope_id is not UNSET:
            field_dict["scope_id"] = scope_id
        if soft_limit_usd is not UNSET:
            field_dict["soft_limit_usd"] = soft_limit_usd

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        period = BudgetInPeriod(d.pop("period"))

        scope = BudgetInScope(d.pop("scope"))

        def _parse_hard_limit_usd(data: object) -> float | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(float | None | Unset, data)

        hard_limit_usd = _parse_hard_limit_usd(d.pop("hard_limit_usd", UNSET))

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

        def _parse_soft_limit_usd(data: object) -> float | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(float | None | Unset, data)

        soft_limit_usd = _parse_soft_limit_usd(d.pop("soft_limit_usd", UNSET))

        budget_in = cls(
            period=period,
            scope=scope,
            hard_limit_usd=hard_limit_usd,
            scope_id=scope_id,
            soft_limit_usd=soft_limit_usd,
        )

        return budget_in

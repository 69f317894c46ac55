from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar

from attrs import define as _attrs_define

if TYPE_CHECKING:
    from ..models.budget_in import BudgetIn


T = TypeVar("T", bound="BudgetsIn")


@_attrs_define
class BudgetsIn:
    """
    Attributes:
        budgets (list[BudgetIn]):
    """

    budgets: list[BudgetIn]

    def to_dict(self) -> dict[str, Any]:
        budgets = []
        for budgets_item_data in self.budgets:
            budgets_item = budgets_item_data.to_dict()
            budgets.append(budgets_item)

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "budgets": budgets,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.budget_in import BudgetIn

        d = dict(src_dict)
        budgets = []
        _budgets = d.pop("budgets")
        for budgets_item_data in _budgets:
            budgets_item = BudgetIn.from_dict(budgets_item_data)

            budgets.append(budgets_item)

        budgets_in = cls(
            budgets=budgets,
        )

        return budgets_in

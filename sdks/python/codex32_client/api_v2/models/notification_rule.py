from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar

from attrs import define as _attrs_define

from ..models.notification_rule_on_item import NotificationRuleOnItem

T = TypeVar("T", bound="NotificationRule")


@_attrs_define
class NotificationRule:
    """
    Attributes:
        notifier (str): a notifier plugin id, e.g. 'webhook'
        on (list[NotificationRuleOnItem]):
    """

    notifier: str
    on: list[NotificationRuleOnItem]

    def to_dict(self) -> dict[str, Any]:
        notifier = self.notifier

        on = []
        for on_item_data in self.on:
            on_item = on_item_data.value
            on.append(on_item)

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "notifier": notifier,
                "on": on,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        notifier = d.pop("notifier")

        on = []
        _on = d.pop("on")
        for on_item_data in _on:
            on_item = NotificationRuleOnItem(on_item_data)

            on.append(on_item)

        notification_rule = cls(
            notifier=notifier,
            on=on,
        )

        return notification_rule

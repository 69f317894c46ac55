from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar, cast

from attrs import define as _attrs_define

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.notification_rule import NotificationRule


T = TypeVar("T", bound="BotSettings")


@_attrs_define
class BotSettings:
    """
    Attributes:
        cpu_seconds (int | None | Unset): default: the timeout
        max_retries (int | None | Unset):
        memory_mb (int | None | Unset):
        network (bool | None | Unset):
        notifications (list[NotificationRule] | None | Unset):
        retry_backoff_seconds (int | None | Unset):
        timeout_seconds (int | None | Unset):
    """

    cpu_seconds: int | None | Unset = UNSET
    max_retries: int | None | Unset = UNSET
    memory_mb: int | None | Unset = UNSET
    network: bool | None | Unset = UNSET
    notifications: list[NotificationRule] | None | Unset = UNSET
    retry_backoff_seconds: int | None | Unset = UNSET
    timeout_seconds: int | None | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        cpu_seconds: int | None | Unset
        if isinstance(self.cpu_seconds, Unset):
            cpu_seconds = UNSET
        else:
            cpu_seconds = self.cpu_seconds

        max_retries: int | None | Unset
        if isinstance(self.max_retries, Unset):
            max_retries = UNSET
        else:
            max_retries = self.max_retries

        memory_mb: int | None | Unset
        if isinstance(self.memory_mb, Unset):
            memory_mb = UNSET
        else:
            memory_mb = self.memory_mb

        network: bool | None | Unset
        if isinstance(self.network, Unset):
            network = UNSET
        else:
            network = self.network

        notifications: list[dict[str, Any]] | None | Unset
        if isinstance(self.notifications, Unset):
            notifications = UNSET
        elif isinstance(self.notifications, list):
            notifications = []
            for notifications_type_0_item_data in self.notifications:
                notifications_type_0_item = notifications_type_0_item_data.to_dict()
                notifications.append(notifications_type_0_item)

        else:
            notifications = self.notifications

        retry_backoff_seconds: int | None | Unset
        if isinstance(self.retry_backoff_seconds, Unset):
            retry_backoff_seconds = UNSET
        else:
            retry_backoff_seconds = self.retry_backoff_seconds

        timeout_seconds: int | None | Unset
        if isinstance(self.timeout_seconds, Unset):
            timeout_seconds = UNSET
        else:
            timeout_seconds = self.timeout_seconds

        field_dict: dict[str, Any] = {}

        field_dict.update({})
        if cpu_seconds is not UNSET:
            field_dict["cpu_seconds"] = cpu_seconds
        if max_retries is not UNSET:
            field_dict["max_retries"] = max_retries
        if memory_mb is not UNSET:
            field_dict["memory_mb"] = memory_mb
        if network is not UNSET:
            field_dict["network"] = network
        if notifications is not UNSET:
            field_dict["notifications"] = notifications
        if retry_backoff_seconds is not UNSET:
            field_dict["retry_backoff_seconds"] = retry_backoff_seconds
        if timeout_seconds is not UNSET:
            field_dict["timeout_seconds"] = timeout_seconds

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.notification_rule import NotificationRule

        d = dict(src_dict)

        def _parse_cpu_seconds(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        cpu_seconds = _parse_cpu_seconds(d.pop("cpu_seconds", UNSET))

        def _parse_max_retries(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        max_retries = _parse_max_retries(d.pop("max_retries", UNSET))

        def _parse_memory_mb(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        memory_mb = _parse_memory_mb(d.pop("memory_mb", UNSET))

        def _parse_network(data: object) -> bool | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(bool | None | Unset, data)

        network = _parse_network(d.pop("network", UNSET))

        def _parse_notifications(data: object) -> list[NotificationRule] | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, list):
                    raise TypeError()
                notifications_type_0 = []
                _notifications_type_0 = data
                for notifications_type_0_item_data in _notifications_type_0:
                    notifications_type_0_item = NotificationRule.from_dict(
                        notifications_type_0_item_data
                    )

                    notifications_type_0.append(notifications_type_0_item)

                return notifications_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(list[NotificationRule] | None | Unset, data)

        notifications = _parse_notifications(d.pop("notifications", UNSET))

        def _parse_retry_backoff_seconds(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        retry_backoff_seconds = _parse_retry_backoff_seconds(
            d.pop("retry_backoff_seconds", UNSET)
        )

        def _parse_timeout_seconds(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        timeout_seconds = _parse_timeout_seconds(d.pop("timeout_seconds", UNSET))

        bot_settings = cls(
            cpu_seconds=cpu_seconds,
            max_retries=max_retries,
            memory_mb=memory_mb,
            network=network,
            notifications=notifications,
            retry_backoff_seconds=retry_backoff_seconds,
            timeout_seconds=timeout_seconds,
        )

        return bot_settings

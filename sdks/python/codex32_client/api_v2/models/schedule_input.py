from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar

from attrs import define as _attrs_define

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.schedule_input_input import ScheduleInputInput


T = TypeVar("T", bound="ScheduleInput")


@_attrs_define
class ScheduleInput:
    """
    Attributes:
        cron (str): five fields, e.g. '*/15 * * * *'
        enabled (bool | Unset):  Default: True.
        input_ (ScheduleInputInput | Unset): the event of each run
        timezone (str | Unset): an IANA name, e.g. 'Europe/Paris' Default: 'UTC'.
    """

    cron: str
    enabled: bool | Unset = True
    input_: ScheduleInputInput | Unset = UNSET
    timezone: str | Unset = "UTC"

    def to_dict(self) -> dict[str, Any]:
        cron = self.cron

        enabled = self.enabled

        input_: dict[str, Any] | Unset = UNSET
        if not isinstance(self.input_, Unset):
            input_ = self.input_.to_dict()

        timezone = self.timezone

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "cron": cron,
            }
        )
        if enabled is not UNSET:
            field_dict["enabled"] = enabled
        if input_ is not UNSET:
            field_dict["input"] = input_
        if timezone is not UNSET:
            field_dict["timezone"] = timezone

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.schedule_input_input import ScheduleInputInput

        d = dict(src_dict)
        cron = d.pop("cron")

        enabled = d.pop("enabled", UNSET)

        _input_ = d.pop("input", UNSET)
        input_: ScheduleInputInput | Unset
        if isinstance(_input_, Unset):
            input_ = UNSET
        else:
            input_ = ScheduleInputInput.from_dict(_input_)

        timezone = d.pop("timezone", UNSET)

        schedule_input = cls(
            cron=cron,
            enabled=enabled,
            input_=input_,
            timezone=timezone,
        )

        return schedule_input

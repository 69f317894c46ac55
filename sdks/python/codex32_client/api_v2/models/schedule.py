from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar, cast
from uuid import UUID

from attrs import define as _attrs_define

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.schedule_input_object import ScheduleInputObject


T = TypeVar("T", bound="Schedule")


@_attrs_define
class Schedule:
    """
    Attributes:
        bot_id (UUID):
        created_at (datetime.datetime):
        cron (str):
        enabled (bool):
        input_ (ScheduleInputObject):
        next_runs (list[datetime.datetime]): the next five ticks, in the time zone
        skipped_runs (int): ticks skipped because the bot was still queued or running
        timezone (str):
        updated_at (datetime.datetime):
        last_execution_id (None | Unset | UUID):
        last_run_at (datetime.datetime | None | Unset):
        last_skipped_at (datetime.datetime | None | Unset):
        next_run_at (datetime.datetime | None | Unset):
    """

    bot_id: UUID
    created_at: datetime.datetime
    cron: str
    enabled: bool
    input_: ScheduleInputObject
    next_runs: list[datetime.datetime]
    skipped_runs: int
    timezone: str
    updated_at: datetime.datetime
    last_execution_id: None | Unset | UUID = UNSET
    last_run_at: datetime.datetime | None | Unset = UNSET
    last_skipped_at: datetime.datetime | None | Unset = UNSET
    next_run_at: datetime.datetime | None | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        bot_id = str(self.bot_id)

        created_at = self.created_at.isoformat()

        cron = self.cron

        enabled = self.enabled

        input_ = self.input_.to_dict()

        next_runs = []
        for next_runs_item_data in self.next_runs:
            next_runs_item = next_runs_item_data.isoformat()
            next_runs.append(next_runs_item)

        skipped_runs = self.skipped_runs

        timezone = self.timezone

        updated_at = self.updated_at.isoformat()

        last_execution_id: None | str | Unset
        if isinstance(self.last_execution_id, Unset):
            last_execution_id = UNSET
        elif isinstance(self.last_execution_id, UUID):
            last_execution_id = str(self.last_execution_id)
        else:
            last_execution_id = self.last_execution_id

        last_run_at: None | str | Unset
        if isinstance(self.last_run_at, Unset):
            last_run_at = UNSET
        elif isinstance(self.last_run_at, datetime.datetime):
            last_run_at = self.last_run_at.isoformat()
        else:
            last_run_at = self.last_run_at

        last_skipped_at: None | str | Unset
        if isinstance(self.last_skipped_at, Unset):
            last_skipped_at = UNSET
        elif isinstance(self.last_skipped_at, datetime.datetime):
            last_skipped_at = self.last_skipped_at.isoformat()
        else:
            last_skipped_at = self.last_skipped_at

        next_run_at: None | str | Unset
        if isinstance(self.next_run_at, Unset):
            next_run_at = UNSET
        elif isinstance(self.next_run_at, datetime.datetime):
            next_run_at = self.next_run_at.isoformat()
        else:
            next_run_at = self.next_run_at

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "bot_id": bot_id,
                "created_at": created_at,
                "cron": cron,
                "enabled": enabled,
                "input": input_,
                "next_runs": next_runs,
                "skipped_runs": skipped_runs,
                "timezone": timezone,
                "updated_at": updated_at,
            }
        )
        if last_execution_id is not UNSET:
            field_dict["last_execution_id"] = last_execution_id
        if last_run_at is not UNSET:
            field_dict["last_run_at"] = last_run_at
        if last_skipped_at is not UNSET:
            field_dict["last_skipped_at"] = last_skipped_at
        if next_run_at is not UNSET:
            field_dict["next_run_at"] = next_run_at

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.schedule_input_object import ScheduleInputObject

        d = dict(src_dict)
        bot_id = UUID(d.pop("bot_id"))

        created_at = datetime.datetime.fromisoformat(d.pop("created_at"))

        cron = d.pop("cron")

        enabled = d.pop("enabled")

        input_ = ScheduleInputObject.from_dict(d.pop("input"))

        next_runs = []
        _next_runs = d.pop("next_runs")
        for next_runs_item_data in _next_runs:
            next_runs_item = datetime.datetime.fromisoformat(next_runs_item_data)

            next_runs.append(next_runs_item)

        skipped_runs = d.pop("skipped_runs")

        timezone = d.pop("timezone")

        updated_at = datetime.datetime.fromisoformat(d.pop("updated_at"))

        def _parse_last_execution_id(data: object) -> None | Unset | UUID:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                last_execution_id_type_0 = UUID(data)

                return last_execution_id_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | Unset | UUID, data)

        last_execution_id = _parse_last_execution_id(d.pop("last_execution_id", UNSET))

        def _parse_last_run_at(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                last_run_at_type_0 = datetime.datetime.fromisoformat(data)

                return last_run_at_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None | Unset, data)

        last_run_at = _parse_last_run_at(d.pop("last_run_at", UNSET))

        def _parse_last_skipped_at(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                last_skipped_at_type_0 = datetime.datetime.fromisoformat(data)

                return last_skipped_at_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None | Unset, data)

        last_skipped_at = _parse_last_skipped_at(d.pop("last_skipped_at", UNSET))

        def _parse_next_run_at(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                next_run_at_type_0 = datetime.datetime.fromisoformat(data)

                return next_run_at_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None | Unset, data)

        next_run_at = _parse_next_run_at(d.pop("next_run_at", UNSET))

        schedule = cls(
            bot_id=bot_id,
            created_at=created_at,
            cron=cron,
            enabled=enabled,
            input_=input_,
            next_runs=next_runs,
            skipped_runs=skipped_runs,
            timezone=timezone,
            updated_at=updated_at,
            last_execution_id=last_execution_id,
            last_run_at=last_run_at,
            last_skipped_at=last_skipped_at,
            next_run_at=next_run_at,
        )

        return schedule

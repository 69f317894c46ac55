from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar, cast
from uuid import UUID

from attrs import define as _attrs_define

from ..models.execution_status import ExecutionStatus
from ..models.execution_trigger import ExecutionTrigger
from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.bot import Bot
    from ..models.execution_bot_type_1_type_0 import ExecutionBotType1Type0
    from ..models.execution_error_type_0 import ExecutionErrorType0
    from ..models.execution_input import ExecutionInput


T = TypeVar("T", bound="Execution")


@_attrs_define
class Execution:
    """
    Attributes:
        attempt (int):
        bot_id (UUID):
        cancel_requested (bool):
        id (UUID):
        input_ (ExecutionInput):
        logs (str): captured output, capped
        logs_truncated (bool):
        queued_at (datetime.datetime):
        status (ExecutionStatus):
        trigger (ExecutionTrigger):
        version (int):
        bot (Bot | ExecutionBotType1Type0 | None | Unset): the bot; only with expand=bot (null: deleted since)
        completed_at (datetime.datetime | None | Unset):
        cpu_seconds (float | None | Unset):
        duration_seconds (float | None | Unset):
        error (ExecutionErrorType0 | None | Unset): type, message and traceback (the bot's own frames) when it failed
        peak_memory_bytes (int | None | Unset):
        result (Any | Unset):
        retried_by (None | Unset | UUID):
        retry_of (None | Unset | UUID):
        scheduled_for (datetime.datetime | None | Unset):
        started_at (datetime.datetime | None | Unset):
    """

    attempt: int
    bot_id: UUID
    cancel_requested: bool
    id: UUID
    input_: ExecutionInput
    logs: str
    logs_truncated: bool
    queued_at: datetime.datetime
    status: ExecutionStatus
    trigger: ExecutionTrigger
    version: int
    bot: Bot | ExecutionBotType1Type0 | None | Unset = UNSET
    completed_at: datetime.datetime | None | Unset = UNSET
    cpu_seconds: float | None | Unset = UNSET
    duration_seconds: float | None | Unset = UNSET
    error: ExecutionErrorType0 | None | Unset = UNSET
    peak_memory_bytes: int | None | Unset = UNSET
    result: Any | Unset = UNSET
    retried_by: None | Unset | UUID = UNSET
    retry_of: None | Unset | UUID = UNSET
    scheduled_for: datetime.datetime | None | Unset = UNSET
    started_at: datetime.datetime | None | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        from ..models.bot import Bot
        from ..models.execution_bot_type_1_type_0 import ExecutionBotType1Type0
        from ..models.execution_error_type_0 import ExecutionErrorType0

        attempt = self.attempt

        bot_id = str(self.bot_id)

        cancel_requested = self.cancel_requested

        id = str(self.id)

        input_ = self.input_.to_dict()

        logs = self.logs

        logs_truncated = self.logs_truncated

        queued_at = self.queued_at.isoformat()

        status = self.status.value

        trigger = self.trigger.value

        version = self.version

        bot: dict[str, Any] | None | Unset
        if isinstance(self.bot, Unset):
            bot = UNSET
        elif isinstance(self.bot, Bot) or isinstance(self.bot, ExecutionBotType1Type0):
            bot = self.bot.to_dict()
        else:
            bot = self.bot

        completed_at: None | str | Unset
        if isinstance(self.completed_at, Unset):
            completed_at = UNSET
        elif isinstance(self.completed_at, datetime.datetime):
            completed_at = self.completed_at.isoformat()
        else:
            completed_at = self.completed_at

        cpu_seconds: float | None | Unset
        if isinstance(self.cpu_seconds, Unset):
            cpu_seconds = UNSET
        else:
            cpu_seconds = self.cpu_seconds

        duration_seconds: float | None | Unset
        if isinstance(self.duration_seconds, Unset):
            duration_seconds = UNSET
        else:
            duration_seconds = self.duration_seconds

        error: dict[str, Any] | None | Unset
        if isinstance(self.error, Unset):
            error = UNSET
        elif isinstance(self.error, ExecutionErrorType0):
            error = self.error.to_dict()
        else:
            error = self.error

        peak_memory_bytes: int | None | Unset
        if isinstance(self.peak_memory_bytes, Unset):
            peak_memory_bytes = UNSET
        else:
            peak_memory_bytes = self.peak_memory_bytes

        result = self.result

        retried_by: None | str | Unset
        if isinstance(self.retried_by, Unset):
            retried_by = UNSET
        elif isinstance(self.retried_by, UUID):
            retried_by = str(self.retried_by)
        else:
            retried_by = self.retried_by

        retry_of: None | str | Unset
        if isinstance(self.retry_of, Unset):
            retry_of = UNSET
        elif isinstance(self.retry_of, UUID):
            retry_of = str(self.retry_of)
        else:
            retry_of = self.retry_of

        scheduled_for: None | str | Unset
        if isinstance(self.scheduled_for, Unset):
            scheduled_for = UNSET
        elif isinstance(self.scheduled_for, datetime.datetime):
            scheduled_for = self.scheduled_for.isoformat()
        else:
            scheduled_for = self.scheduled_for

        started_at: None | str | Unset
        if isinstance(self.started_at, Unset):
            started_at = UNSET
        elif isinstance(self.started_at, datetime.datetime):
            started_at = self.started_at.isoformat()
        else:
            started_at = self.started_at

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "attempt": attempt,
                "bot_id": bot_id,
                "cancel_requested": cancel_requested,
                "id": id,
                "input": input_,
                "logs": logs,
                "logs_truncated": logs_truncated,
                "queued_at": queued_at,
                "status": status,
                "trigger": trigger,
                "version": version,
            }
        )
        if bot is not UNSET:
            field_dict["bot"] = bot
        if completed_at is not UNSET:
            field_dict["completed_at"] = completed_at
        if cpu_seconds is not UNSET:
            field_dict["cpu_seconds"] = cpu_seconds
        if duration_seconds is not UNSET:
            field_dict["duration_seconds"] = duration_seconds
        if error is not UNSET:
            field_dict["error"] = error
        if peak_memory_bytes is not UNSET:
            field_dict["peak_memory_bytes"] = peak_memory_bytes
        if result is not UNSET:
            field_dict["result"] = result
        if retried_by is not UNSET:
            field_dict["retried_by"] = retried_by
        if retry_of is not UNSET:
            field_dict["retry_of"] = retry_of
        if scheduled_for is not UNSET:
            field_dict["scheduled_for"] = scheduled_for
        if started_at is not UNSET:
            field_dict["started_at"] = started_at

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.bot import Bot
        from ..models.execution_bot_type_1_type_0 import ExecutionBotType1Type0
        from ..models.execution_error_type_0 import ExecutionErrorType0
        from ..models.execution_input import ExecutionInput

        d = dict(src_dict)
        attempt = d.pop("attempt")

        bot_id = UUID(d.pop("bot_id"))

        cancel_requested = d.pop("cancel_requested")

        id = UUID(d.pop("id"))

        input_ = ExecutionInput.from_dict(d.pop("input"))

        logs = d.pop("logs")

        logs_truncated = d.pop("logs_truncated")

        queued_at = datetime.datetime.fromisoformat(d.pop("queued_at"))

        status = ExecutionStatus(d.pop("status"))

        trigger = ExecutionTrigger(d.pop("trigger"))

        version = d.pop("version")

        def _parse_bot(data: object) -> Bot | ExecutionBotType1Type0 | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                bot_type_0 = Bot.from_dict(data)

                return bot_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                bot_type_1_type_0 = ExecutionBotType1Type0.from_dict(data)

                return bot_type_1_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(Bot | ExecutionBotType1Type0 | None | Unset, data)

        bot = _parse_bot(d.pop("bot", UNSET))

        def _parse_completed_at(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                completed_at_type_0 = datetime.datetime.fromisoformat(data)

                return completed_at_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None | Unset, data)

        completed_at = _parse_completed_at(d.pop("completed_at", UNSET))

        def _parse_cpu_seconds(data: object) -> float | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(float | None | Unset, data)

        cpu_seconds = _parse_cpu_seconds(d.pop("cpu_seconds", UNSET))

        def _parse_duration_seconds(data: object) -> float | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(float | None | Unset, data)

        duration_seconds = _parse_duration_seconds(d.pop("duration_seconds", UNSET))

        def _parse_error(data: object) -> ExecutionErrorType0 | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                error_type_0 = ExecutionErrorType0.from_dict(data)

                return error_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(ExecutionErrorType0 | None | Unset, data)

        error = _parse_error(d.pop("error", UNSET))

        def _parse_peak_memory_bytes(data: object) -> int | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(int | None | Unset, data)

        peak_memory_bytes = _parse_peak_memory_bytes(d.pop("peak_memory_bytes", UNSET))

        result = d.pop("result", UNSET)

        def _parse_retried_by(data: object) -> None | Unset | UUID:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                retried_by_type_0 = UUID(data)

                return retried_by_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | Unset | UUID, data)

        retried_by = _parse_retried_by(d.pop("retried_by", UNSET))

        def _parse_retry_of(data: object) -> None | Unset | UUID:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                retry_of_type_0 = UUID(data)

                return retry_of_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | Unset | UUID, data)

        retry_of = _parse_retry_of(d.pop("retry_of", UNSET))

        def _parse_scheduled_for(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                scheduled_for_type_0 = datetime.datetime.fromisoformat(data)

                return scheduled_for_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None | Unset, data)

        scheduled_for = _parse_scheduled_for(d.pop("scheduled_for", UNSET))

        def _parse_started_at(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                started_at_type_0 = datetime.datetime.fromisoformat(data)

                return started_at_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None | Unset, data)

        started_at = _parse_started_at(d.pop("started_at", UNSET))

        execution = cls(
            attempt=attempt,
            bot_id=bot_id,
            cancel_requested=cancel_requested,
            id=id,
            input_=input_,
            logs=logs,
            logs_truncated=logs_truncated,
            queued_at=queued_at,
            status=status,
            trigger=trigger,
            version=version,
            bot=bot,
            completed_at=completed_at,
            cpu_seconds=cpu_seconds,
            duration_seconds=duration_seconds,
            error=error,
            peak_memory_bytes=peak_memory_bytes,
            result=result,
            retried_by=retried_by,
            retry_of=retry_of,
            scheduled_for=scheduled_for,
            started_at=started_at,
        )

        return execution

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar

from attrs import define as _attrs_define

from ..models.bot_update_status import BotUpdateStatus
from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.bot_settings import BotSettings


T = TypeVar("T", bound="BotUpdate")


@_attrs_define
class BotUpdate:
    """
    Attributes:
        code (str | Unset): new code becomes a new version
        description (str | Unset):
        message (str | Unset):
        name (str | Unset):
        settings (BotSettings | Unset):
        status (BotUpdateStatus | Unset):
    """

    code: str | Unset = UNSET
    description: str | Unset = UNSET
    message: str | Unset = UNSET
    name: str | Unset = UNSET
    settings: BotSettings | Unset = UNSET
    status: BotUpdateStatus | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        code = self.code

        description = self.description

        message = self.message

        name = self.name

        settings: dict[str, Any] | Unset = UNSET
        if not isinstance(self.settings, Unset):
            settings = self.settings.to_dict()

        status: str | Unset = UNSET
        if not isinstance(self.status, Unset):
            status = self.status.value

        field_dict: dict[str, Any] = {}

        field_dict.update({})
        if code is not UNSET:
            field_dict["code"] = code
        if description is not UNSET:
            field_dict["description"] = description
        if message is not UNSET:
            field_dict["message"] = message
        if name is not UNSET:
            field_dict["name"] = name
        if settings is not UNSET:
            field_dict["settings"] = settings
        if status is not UNSET:
            field_dict["status"] = status

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.bot_settings import BotSettings

        d = dict(src_dict)
        code = d.pop("code", UNSET)

        description = d.pop("description", UNSET)

        message = d.pop("message", UNSET)

        name = d.pop("name", UNSET)

        _settings = d.pop("settings", UNSET)
        settings: BotSettings | Unset
        if isinstance(_settings, Unset):
            settings = UNSET
        else:
            settings = BotSettings.from_dict(_settings)

        _status = d.pop("status", UNSET)
        status: BotUpdateStatus | Unset
        if isinstance(_status, Unset):
            status = UNSET
        else:
            status = BotUpdateStatus(_status)

        bot_update = cls(
            code=code,
            description=description,
            message=message,
            name=name,
            settings=settings,
            status=status,
        )

        return bot_update

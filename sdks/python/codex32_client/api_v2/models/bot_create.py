from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar, cast

from attrs import define as _attrs_define

from ..models.bot_create_status import BotCreateStatus
from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.bot_create_parameters import BotCreateParameters
    from ..models.bot_settings import BotSettings


T = TypeVar("T", bound="BotCreate")


@_attrs_define
class BotCreate:
    """
    Attributes:
        name (str):
        code (None | str | Unset):
        description (str | Unset):  Default: ''.
        generator (str | Unset):
        message (str | Unset):  Default: ''.
        parameters (BotCreateParameters | Unset): the template's parameters
        settings (BotSettings | Unset):
        status (BotCreateStatus | Unset):  Default: BotCreateStatus.DRAFT.
        template (str | Unset): a template id from /templates
    """

    name: str
    code: None | str | Unset = UNSET
    description: str | Unset = ""
    generator: str | Unset = UNSET
    message: str | Unset = ""
    parameters: BotCreateParameters | Unset = UNSET
    settings: BotSettings | Unset = UNSET
    status: BotCreateStatus | Unset = BotCreateStatus.DRAFT
    template: str | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        name = self.name

        code: None | str | Unset
        if isinstance(self.code, Unset):
            code = UNSET
        else:
            code = self.code

        description = self.description

        generator = self.generator

        message = self.message

        parameters: dict[str, Any] | Unset = UNSET
        if not isinstance(self.parameters, Unset):
            parameters = self.parameters.to_dict()

        settings: dict[str, Any] | Unset = UNSET
        if not isinstance(self.settings, Unset):
            settings = self.settings.to_dict()

        status: str | Unset = UNSET
        if not isinstance(self.status, Unset):
            status = self.status.value

        template = self.template

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "name": name,
            }
        )
        if code is not UNSET:
            field_dict["code"] = code
        if description is not UNSET:
            field_dict["description"] = description
        if generator is not UNSET:
            field_dict["generator"] = generator
        if message is not UNSET:
            field_dict["message"] = message
        if parameters is not UNSET:
            field_dict["parameters"] = parameters
        if settings is not UNSET:
            field_dict["settings"] = settings
        if status is not UNSET:
            field_dict["status"] = status
        if template is not UNSET:
            field_dict["template"] = template

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.bot_create_parameters import BotCreateParameters
        from ..models.bot_settings import BotSettings

        d = dict(src_dict)
        name = d.pop("name")

        def _parse_code(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        code = _parse_code(d.pop("code", UNSET))

        description = d.pop("description", UNSET)

        generator = d.pop("generator", UNSET)

        message = d.pop("message", UNSET)

        _parameters = d.pop("parameters", UNSET)
        parameters: BotCreateParameters | Unset
        if isinstance(_parameters, Unset):
            parameters = UNSET
        else:
            parameters = BotCreateParameters.from_dict(_parameters)

        _settings = d.pop("settings", UNSET)
        settings: BotSettings | Unset
        if isinstance(_settings, Unset):
            settings = UNSET
        else:
            settings = BotSettings.from_dict(_settings)

        _status = d.pop("status", UNSET)
        status: BotCreateStatus | Unset
        if isinstance(_status, Unset):
            status = UNSET
        else:
            status = BotCreateStatus(_status)

        template = d.pop("template", UNSET)

        bot_create = cls(
            name=name,
            code=code,
            description=description,
            generator=generator,
            message=message,
            parameters=parameters,
            settings=settings,
            status=status,
            template=template,
        )

        return bot_create

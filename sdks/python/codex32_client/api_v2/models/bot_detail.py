from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar, cast
from uuid import UUID

from attrs import define as _attrs_define

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.bot_detail_latest_version_type_1_type_0 import (
        BotDetailLatestVersionType1Type0,
    )
    from ..models.bot_detail_settings import BotDetailSettings
    from ..models.version_summary import VersionSummary


T = TypeVar("T", bound="BotDetail")


@_attrs_define
class BotDetail:
    """
    Attributes:
        created_at (datetime.datetime):
        current_version (int):
        description (str):
        id (UUID):
        name (str):
        settings (BotDetailSettings):
        status (str):
        updated_at (datetime.datetime):
        latest_version (BotDetailLatestVersionType1Type0 | None | Unset | VersionSummary): the current (latest) version,
            without code; only with expand=latest_version (null: the bot has no code yet)
        owner_id (None | Unset | UUID):
    """

    created_at: datetime.datetime
    current_version: int
    description: str
    id: UUID
    name: str
    settings: BotDetailSettings
    status: str
    updated_at: datetime.datetime
    latest_version: BotDetailLatestVersionType1Type0 | None | Unset | VersionSummary = (
        UNSET
    )
    owner_id: None | Unset | UUID = UNSET

    def to_dict(self) -> dict[str, Any]:
        from ..models.bot_detail_latest_version_type_1_type_0 import (
            BotDetailLatestVersionType1Type0,
        )
        from ..models.version_summary import VersionSummary

        created_at = self.created_at.isoformat()

        current_version = self.current_version

        description = self.description

        id = str(self.id)

        name = self.name

        settings = self.settings.to_dict()

        status = self.status

        updated_at = self.updated_at.isoformat()

        latest_version: dict[str, Any] | None | Unset
        if isinstance(self.latest_version, Unset):
            latest_version = UNSET
        elif isinstance(self.latest_version, VersionSummary) or isinstance(
            self.latest_version, BotDetailLatestVersionType1Type0
        ):
            latest_version = self.latest_version.to_dict()
        else:
            latest_version = self.latest_version

        owner_id: None | str | Unset
        if isinstance(self.owner_id, Unset):
            owner_id = UNSET
        elif isinstance(self.owner_id, UUID):
            owner_id = str(self.owner_id)
        else:
            owner_id = self.owner_id

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "created_at": created_at,
                "current_version": current_version,
                "description": description,
                "id": id,
                "name": name,
                "settings": settings,
                "status": status,
                "updated_at": updated_at,
            }
        )
        if latest_version is not UNSET:
            field_dict["latest_version"] = latest_version
        if owner_id is not UNSET:
            field_dict["owner_id"] = owner_id

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.bot_detail_latest_version_type_1_type_0 import (
            BotDetailLatestVersionType1Type0,
        )
        from ..models.bot_detail_settings import BotDetailSettings
        from ..models.version_summary import VersionSummary

        d = dict(src_dict)
        created_at = datetime.datetime.fromisoformat(d.pop("created_at"))

        current_version = d.pop("current_version")

        description = d.pop("description")

        id = UUID(d.pop("id"))

        name = d.pop("name")

        settings = BotDetailSettings.from_dict(d.pop("settings"))

        status = d.pop("status")

        updated_at = datetime.datetime.fromisoformat(d.pop("updated_at"))

        def _parse_latest_version(
            data: object,
        ) -> BotDetailLatestVersionType1Type0 | None | Unset | VersionSummary:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                latest_version_type_0 = VersionSummary.from_dict(data)

                return latest_version_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                latest_version_type_1_type_0 = (
                    BotDetailLatestVersionType1Type0.from_dict(data)
                )

                return latest_version_type_1_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(
                BotDetailLatestVersionType1Type0 | None | Unset | VersionSummary, data
            )

        latest_version = _parse_latest_version(d.pop("latest_version", UNSET))

        def _parse_owner_id(data: object) -> None | Unset | UUID:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                owner_id_type_0 = UUID(data)

                return owner_id_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | Unset | UUID, data)

        owner_id = _parse_owner_id(d.pop("owner_id", UNSET))

        bot_detail = cls(
            created_at=created_at,
            current_version=current_version,
            description=description,
            id=id,
            name=name,
            settings=settings,
            status=status,
            updated_at=updated_at,
            latest_version=latest_version,
            owner_id=owner_id,
        )

        return bot_detail

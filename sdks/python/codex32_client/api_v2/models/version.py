from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar, cast
from uuid import UUID

from attrs import define as _attrs_define

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.version_files import VersionFiles


T = TypeVar("T", bound="Version")


@_attrs_define
class Version:
    """
    Attributes:
        bot_id (UUID):
        code (str):
        created_at (datetime.datetime):
        id (UUID):
        message (str):
        number (int):
        created_by (None | Unset | UUID):
        files (VersionFiles | Unset): other generated files by path
    """

    bot_id: UUID
    code: str
    created_at: datetime.datetime
    id: UUID
    message: str
    number: int
    created_by: None | Unset | UUID = UNSET
    files: VersionFiles | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        bot_id = str(self.bot_id)

        code = self.code

        created_at = self.created_at.isoformat()

        id = str(self.id)

        message = self.message

        number = self.number

        created_by: None | str | Unset
        if isinstance(self.created_by, Unset):
            created_by = UNSET
        elif isinstance(self.created_by, UUID):
            created_by = str(self.created_by)
        else:
            created_by = self.created_by

        files: dict[str, Any] | Unset = UNSET
        if not isinstance(self.files, Unset):
            files = self.files.to_dict()

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "bot_id": bot_id,
                "code": code,
                "created_at": created_at,
                "id": id,
                "message": message,
                "number": number,
            }
        )
        if created_by is not UNSET:
            field_dict["created_by"] = created_by
        if files is not UNSET:
            field_dict["files"] = files

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.version_files import VersionFiles

        d = dict(src_dict)
        bot_id = UUID(d.pop("bot_id"))

        code = d.pop("code")

        created_at = datetime.datetime.fromisoformat(d.pop("created_at"))

        id = UUID(d.pop("id"))

        message = d.pop("message")

        number = d.pop("number")

        def _parse_created_by(data: object) -> None | Unset | UUID:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                created_by_type_0 = UUID(data)

                return created_by_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | Unset | UUID, data)

        created_by = _parse_created_by(d.pop("created_by", UNSET))

        _files = d.pop("files", UNSET)
        files: VersionFiles | Unset
        if isinstance(_files, Unset):
            files = UNSET
        else:
            files = VersionFiles.from_dict(_files)

        version = cls(
            bot_id=bot_id,
            code=code,
            created_at=created_at,
            id=id,
            message=message,
            number=number,
            created_by=created_by,
            files=files,
        )

        return version

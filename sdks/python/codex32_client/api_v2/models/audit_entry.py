from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar, cast
from uuid import UUID

from attrs import define as _attrs_define

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.audit_entry_changes import AuditEntryChanges


T = TypeVar("T", bound="AuditEntry")


@_attrs_define
class AuditEntry:
    """
    Attributes:
        action (str):
        actor_type (str):
        changes (AuditEntryChanges):
        created_at (datetime.datetime):
        id (UUID):
        resource_type (str):
        actor_id (None | Unset | UUID):
        ip (None | str | Unset):
        request_id (None | str | Unset):
        resource_id (None | str | Unset):
    """

    action: str
    actor_type: str
    changes: AuditEntryChanges
    created_at: datetime.datetime
    id: UUID
    resource_type: str
    actor_id: None | Unset | UUID = UNSET
    ip: None | str | Unset = UNSET
    request_id: None | str | Unset = UNSET
    resource_id: None | str | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        action = self.action

        actor_type = self.actor_type

        changes = self.changes.to_dict()

        created_at = self.created_at.isoformat()

        id = str(self.id)

        resource_type = self.resource_type

        actor_id: None | str | Unset
        if isinstance(self.actor_id, Unset):
            actor_id = UNSET
        elif isinstance(self.actor_id, UUID):
            actor_id = str(self.actor_id)
        else:
            actor_id = self.actor_id

        ip: None | str | Unset
        if isinstance(self.ip, Unset):
            ip = UNSET
        else:
            ip = self.ip

        request_id: None | str | Unset
        if isinstance(self.request_id, Unset):
            request_id = UNSET
        else:
            request_id = self.request_id

        resource_id: None | str | Unset
        if isinstance(self.resource_id, Unset):
            resource_id = UNSET
        else:
            resource_id = self.resource_id

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "action": action,
                "actor_type": actor_type,
                "changes": changes,
                "created_at": created_at,
                "id": id,
                "resource_type": resource_type,
            }
        )
        if actor_id is not UNSET:
            field_dict["actor_id"] = actor_id
        if ip is not UNSET:
            field_dict["ip"] = ip
        if request_id is not UNSET:
            field_dict["request_id"] = request_id
        if resource_id is not UNSET:
            field_dict["resource_id"] = resource_id

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.audit_entry_changes import AuditEntryChanges

        d = dict(src_dict)
        action = d.pop("action")

        actor_type = d.pop("actor_type")

        changes = AuditEntryChanges.from_dict(d.pop("changes"))

        created_at = datetime.datetime.fromisoformat(d.pop("created_at"))

        id = UUID(d.pop("id"))

        resource_type = d.pop("resource_type")

        def _parse_actor_id(data: object) -> None | Unset | UUID:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                actor_id_type_0 = UUID(data)

                return actor_id_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | Unset | UUID, data)

        actor_id = _parse_actor_id(d.pop("actor_id", UNSET))

        def _parse_ip(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        ip = _parse_ip(d.pop("ip", UNSET))

        def _parse_request_id(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        request_id = _parse_request_id(d.pop("request_id", UNSET))

        def _parse_resource_id(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        resource_id = _parse_resource_id(d.pop("resource_id", UNSET))

        audit_entry = cls(
            action=action,
            actor_type=actor_type,
            changes=changes,
            created_at=created_at,
            id=id,
            resource_type=resource_type,
            actor_id=actor_id,
            ip=ip,
            request_id=request_id,
            resource_id=resource_id,
        )

        return audit_entry

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar, cast
from uuid import UUID

from attrs import define as _attrs_define

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.me_user_type_0 import MeUserType0
    from ..models.me_workspace import MeWorkspace


T = TypeVar("T", bound="Me")


@_attrs_define
class Me:
    """
    Attributes:
        permissions (list[str]): what the caller may do (for an API key: what both roles grant)
        role (str):
        workspace (MeWorkspace):
        api_key_id (None | Unset | UUID):
        minter_role (None | str | Unset): an API key's: its minter's current role, which caps the key's
        user (MeUserType0 | None | Unset):
    """

    permissions: list[str]
    role: str
    workspace: MeWorkspace
    api_key_id: None | Unset | UUID = UNSET
    minter_role: None | str | Unset = UNSET
    user: MeUserType0 | None | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        from ..models.me_user_type_0 import MeUserType0

        permissions = self.permissions

        role = self.role

        workspace = self.workspace.to_dict()

        api_key_id: None | str | Unset
        if isinstance(self.api_key_id, Unset):
            api_key_id = UNSET
        elif isinstance(self.api_key_id, UUID):
            api_key_id = str(self.api_key_id)
        else:
            api_key_id = self.api_key_id

        minter_role: None | str | Unset
        if isinstance(self.minter_role, Unset):
            minter_role = UNSET
        else:
            minter_role = self.minter_role

        user: dict[str, Any] | None | Unset
        if isinstance(self.user, Unset):
            user = UNSET
        elif isinstance(self.user, MeUserType0):
            user = self.user.to_dict()
        else:
            user = self.user

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "permissions": permissions,
                "role": role,
                "workspace": workspace,
            }
        )
        if api_key_id is not UNSET:
            field_dict["api_key_id"] = api_key_id
        if minter_role is not UNSET:
            field_dict["minter_role"] = minter_role
        if user is not UNSET:
            field_dict["user"] = user

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.me_user_type_0 import MeUserType0
        from ..models.me_workspace import MeWorkspace

        d = dict(src_dict)
        permissions = cast(list[str], d.pop("permissions"))

        role = d.pop("role")

        workspace = MeWorkspace.from_dict(d.pop("workspace"))

        def _parse_api_key_id(data: object) -> None | Unset | UUID:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                api_key_id_type_0 = UUID(data)

                return api_key_id_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | Unset | UUID, data)

        api_key_id = _parse_api_key_id(d.pop("api_key_id", UNSET))

        def _parse_minter_role(data: object) -> None | str | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            return cast(None | str | Unset, data)

        minter_role = _parse_minter_role(d.pop("minter_role", UNSET))

        def _parse_user(data: object) -> MeUserType0 | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                user_type_0 = MeUserType0.from_dict(data)

                return user_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(MeUserType0 | None | Unset, data)

        user = _parse_user(d.pop("user", UNSET))

        me = cls(
            permissions=permissions,
            role=role,
            workspace=workspace,
            api_key_id=api_key_id,
            minter_role=minter_role,
            user=user,
        )

        return me

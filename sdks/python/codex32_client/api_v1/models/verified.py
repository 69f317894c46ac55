from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar

from attrs import define as _attrs_define

if TYPE_CHECKING:
    from ..models.verified_user import VerifiedUser
    from ..models.verified_workspace import VerifiedWorkspace


T = TypeVar("T", bound="Verified")


@_attrs_define
class Verified:
    """
    Attributes:
        user (VerifiedUser):
        workspace (VerifiedWorkspace):
    """

    user: VerifiedUser
    workspace: VerifiedWorkspace

    def to_dict(self) -> dict[str, Any]:
        user = self.user.to_dict()

        workspace = self.workspace.to_dict()

        field_dict: dict[str, Any] = {}

        field_dict.update(
            {
                "user": user,
                "workspace": workspace,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.verified_user import VerifiedUser
        from ..models.verified_workspace import VerifiedWorkspace

        d = dict(src_dict)
        user = VerifiedUser.from_dict(d.pop("user"))

        workspace = VerifiedWorkspace.from_dict(d.pop("workspace"))

        verified = cls(
            user=user,
            workspace=workspace,
        )

        return verified

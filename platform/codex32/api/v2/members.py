"""API v2 members of the workspace: list, change role, remove. The same service calls as v1;
invitations stay in v1 (their shape does not change)."""

from __future__ import annotations

from codex32.api.blueprint import Blueprint
from codex32.api.v1 import members as v1
from codex32.api.v2.lists import list_of, whole
from codex32.auth.guard import current_principal, requires
from codex32.auth.rbac import Permission
from codex32.db import db
from tenants import members

blp = Blueprint("v2_members", __name__, url_prefix="/api/v2/members",
                description="Members of the workspace.")


@blp.route("", methods=["GET"])
@requires(Permission.VIEW_MEMBERS)
@blp.response(200, list_of(v1.MemberSchema, "MemberList"))
def list_members():
    """Members of the workspace with their roles, oldest first, in one answer."""
    return whole(members.list_members(db.session))


@blp.route("/<uuid:user_id>", methods=["PATCH"])
@requires(Permission.MANAGE_USERS)
@blp.arguments(v1.RoleSchema)
@blp.response(200, v1.MemberSchema)
def change_role(data, user_id):
    """Give a member another role; the last admin cannot be demoted (409)."""
    return members.change_role(db.session, current_principal(), user_id, data["role"])


@blp.route("/<uuid:user_id>", methods=["DELETE"])
@requires(Permission.MANAGE_USERS)
@blp.response(204)
def remove_member(user_id):
    """Remove a member; the last admin cannot be removed (409)."""
    members.remove(db.session, current_principal(), user_id)

"""Member and invitation endpoints: list, invite, withdraw, accept, change role, remove."""

from __future__ import annotations

from flask import current_app
from marshmallow import fields, validate

from codex32 import runtime
from codex32.api import transaction
from codex32.api.blueprint import Blueprint
from codex32.api.schemas import Output, Strict
from codex32.api.v1.auth import MAILS_PER_ADDRESS_PER_HOUR
from codex32.auth.guard import current_principal, limit_rate, origin, requires
from codex32.auth.rbac import ROLES, Permission
from codex32.db import db
from codex32.services.mail import Mailer
from tenants import invitations, members

blp = Blueprint("members", __name__, url_prefix="/api/v1",
                description="Members of the workspace and invitations to join it.")


def limit_invitation_mail(workspace_id: object, email: str) -> None:
    """Bound the invitation mails one workspace sends one address (429 past it), as sign-ups
    bound verification mails: inviting must not make the platform a mail cannon."""
    limit_rate(f"invite-mail:{workspace_id}:{email.lower()}",
               limit=MAILS_PER_ADDRESS_PER_HOUR, window=3600)


class MemberSchema(Output):
    user_id = fields.UUID(required=True)
    email = fields.String(required=True)
    role = fields.String(required=True)
    joined_at = fields.DateTime(required=True)


class RoleSchema(Strict):
    role = fields.String(required=True, validate=validate.OneOf(ROLES))


class InvitationCreateSchema(Strict):
    email = fields.Email(required=True, validate=validate.Length(max=320))
    role = fields.String(required=True, validate=validate.OneOf(ROLES))


class InvitationSchema(Output):
    id = fields.UUID(required=True)
    email = fields.String(required=True)
    role = fields.String(required=True)
    expires_at = fields.DateTime(required=True)


class PendingInvitationSchema(InvitationSchema):
    invited_by = fields.UUID(allow_none=True, metadata={"description": "the inviting member"})
    created_at = fields.DateTime(required=True)


class AcceptSchema(Strict):
    password = fields.String(required=True, load_only=True)


class AcceptResultSchema(Output):
    workspace_id = fields.UUID(required=True)
    email = fields.String(required=True)
    message = fields.String(required=True)


@blp.route("/members", methods=["GET"])
@requires(Permission.VIEW_MEMBERS)
@blp.response(200, MemberSchema(many=True))
def list_members():
    """Members of the workspace with their roles."""
    return members.list_members(db.session)


@blp.route("/members/<uuid:user_id>", methods=["PATCH"])
@requires(Permission.MANAGE_USERS)
@blp.arguments(RoleSchema)
@blp.response(200, MemberSchema)
def change_role(data, user_id):
    """Give a member another role; the last admin cannot be demoted (409)."""
    return members.change_role(db.session, current_principal(), user_id, data["role"])


@blp.route("/members/<uuid:user_id>", methods=["DELETE"])
@requires(Permission.MANAGE_USERS)
@blp.response(204)
def remove_member(user_id):
    """Remove a member; the last admin cannot be removed (409)."""
    members.remove(db.session, current_principal(), user_id)


@blp.route("/invitations", methods=["GET"])
@requires(Permission.MANAGE_USERS)
@blp.response(200, PendingInvitationSchema(many=True))
def list_invitations():
    """Invitations of the workspace still open (not accepted, not expired), newest first; the
    tokens are never shown again."""
    return invitations.list_pending(db.session)


@blp.route("/invitations", methods=["POST"])
@requires(Permission.MANAGE_USERS)
@blp.arguments(InvitationCreateSchema)
@blp.response(201, InvitationSchema)
def invite(data):
    """Invite an email with a role; its token is mailed to that address only (in development:
    the server log), so only whoever controls the address can accept."""
    return send_invitation(data["email"], data["role"])


def send_invitation(email: str, role: str) -> invitations.IssuedInvitation:
    """Invite ``email`` to the caller's workspace with ``role`` (the per-address mail limit
    first), store it, then mail its token (the API's route and the console's form)."""
    principal = current_principal()
    limit_invitation_mail(principal.workspace_id, email)
    issued = invitations.invite(db.session, principal, email, role)
    transaction.end()  # the invitation is stored before its token is mailed
    mailer = Mailer.from_settings(runtime.of(current_app).settings)
    mailer.send(invitations.invitation_message(issued, mailer.api_base))
    return issued


@blp.route("/invitations/<uuid:invitation_id>", methods=["DELETE"])
@requires(Permission.MANAGE_USERS)
@blp.response(204)
def withdraw_invitation(invitation_id):
    """Withdraw an invitation not yet accepted.

    Its token then answers 404, like an unknown one. Withdrawing it again, or another
    workspace's, is 404; an accepted one is 409 (remove the member instead)."""
    invitations.withdraw(db.session, current_principal(), invitation_id)


@blp.route("/invitations/<string:token>/accept", methods=["POST"])
@blp.arguments(AcceptSchema)
@blp.response(200, AcceptResultSchema)
def accept(data, token):
    """Accept an invitation (this verifies the address): a new account takes the password, an
    existing one keeps its own. Then sign in at /api/v1/auth/token."""
    attempts = runtime.of(current_app).settings.login_attempts_per_15_minutes
    limit_rate(f"accept:{origin().ip}", limit=attempts, window=900)
    email, workspace_id = invitations.accept(db.session, token, data["password"], origin())
    return {"workspace_id": workspace_id, "email": email,
            "message": "joined; sign in at /api/v1/auth/token with this address's password"}

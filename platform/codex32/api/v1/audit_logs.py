"""Audit log endpoint: the workspace's mutations, newest first, filtered."""

from __future__ import annotations

from marshmallow import fields, validate

from codex32.api.blueprint import Blueprint
from codex32.api.schemas import Output, PageArgs, page_of
from codex32.auth.guard import requires
from codex32.auth.rbac import Permission
from codex32.db import db
from codex32.services import audit
from codex32.services.pages import PageRequest

blp = Blueprint("audit_logs", __name__, url_prefix="/api/v1/audit-logs",
                description="Who changed what, when, from where.")


class AuditArgs(PageArgs):
    action = fields.String(validate=validate.Length(max=100))
    resource_type = fields.String(validate=validate.Length(max=50))
    resource_id = fields.String(validate=validate.Length(max=100))
    user_id = fields.UUID()


class AuditEntrySchema(Output):
    id = fields.UUID(required=True)
    actor_type = fields.String(required=True)
    actor_id = fields.UUID(allow_none=True)
    action = fields.String(required=True)
    resource_type = fields.String(required=True)
    resource_id = fields.String(allow_none=True)
    changes = fields.Dict(required=True)
    request_id = fields.String(allow_none=True)
    ip = fields.String(allow_none=True)
    created_at = fields.DateTime(required=True)


AuditPageSchema = page_of(AuditEntrySchema, "AuditPage")


@blp.route("", methods=["GET"])
@requires(Permission.VIEW_AUDIT)
@blp.arguments(AuditArgs, location="query")
@blp.response(200, AuditPageSchema)
def list_audit_logs(args):
    """Audit rows of the workspace, newest first."""
    page = PageRequest(args.pop("page"), args.pop("page_size"))
    return audit.list_entries(db.session, page, **args)

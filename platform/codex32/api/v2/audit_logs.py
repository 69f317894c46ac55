"""API v2 audit log: the workspace's mutations, newest first, keyset-paginated."""

from __future__ import annotations

from codex32.api.blueprint import Blueprint
from codex32.api.v1 import audit_logs as v1
from codex32.api.v2.lists import ListArgs, envelope, keyset, list_of
from codex32.auth.guard import requires
from codex32.auth.rbac import Permission
from codex32.db import db
from codex32.services import audit

blp = Blueprint("v2_audit_logs", __name__, url_prefix="/api/v2/audit-logs",
                description="Who changed what, when, from where.")
FILTERS = ("action", "resource_type", "resource_id", "user_id")

AuditListArgs = type("AuditListArgs", (ListArgs,),
                     {name: v1.AuditArgs._declared_fields[name] for name in FILTERS})


@blp.route("", methods=["GET"])
@requires(Permission.VIEW_AUDIT)
@blp.arguments(AuditListArgs, location="query")
@blp.response(200, list_of(v1.AuditEntrySchema, "AuditList"))
def list_audit_logs(args):
    """Audit rows of the workspace, newest first."""
    return envelope(audit.list_entries(db.session, keyset(args, "audit"), **args), "audit")

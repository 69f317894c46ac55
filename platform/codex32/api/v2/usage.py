"""API v2 LLM usage report: v1's report with a typed answer."""

from __future__ import annotations

from marshmallow import fields

from codex32.api.blueprint import Blueprint
from codex32.api.schemas import Output
from codex32.api.v1.llm_schemas import UsageQuerySchema
from codex32.auth.guard import requires
from codex32.auth.rbac import Permission
from codex32.db import db
from codex32.services.gateway import ledger

blp = Blueprint("v2_usage", __name__, url_prefix="/api/v2/usage",
                description="The workspace's LLM usage and cost.")


class UsageGroupSchema(Output):
    day = fields.String(metadata={"description": "present when grouped by day"})
    model = fields.String()
    provider = fields.String()
    purpose = fields.String()
    user = fields.String(allow_none=True)
    bot = fields.String(allow_none=True)
    api_key = fields.String(allow_none=True)
    requests = fields.Integer(required=True)
    input_tokens = fields.Integer(required=True)
    cached_input_tokens = fields.Integer(required=True)
    output_tokens = fields.Integer(required=True)
    reasoning_tokens = fields.Integer(required=True)
    unpriced_requests = fields.Integer(required=True, metadata={
        "description": "cost unknown (no price for the model), pending ones excepted; "
                       "cost_usd leaves them out"})
    cache_hits = fields.Integer(required=True)
    failed_requests = fields.Integer(required=True, metadata={
        "description": "status error, timeout or cancelled (not pending, not unsettled)"})
    pending_requests = fields.Integer(required=True, metadata={
        "description": "still being answered or recorded (their cost is not known yet)"})
    unsettled_requests = fields.Integer(required=True, metadata={
        "description": "answer never recorded (its process ended first; the provider most "
                       "likely answered): charged at the reserved maximum, not failed"})
    cost_usd = fields.String(required=True, metadata={"description": "exact decimal, USD"})


class UsageReportSchema(Output):
    start = fields.DateTime(data_key="from", allow_none=True, required=True)
    end = fields.DateTime(data_key="to", allow_none=True, required=True)
    group_by = fields.List(fields.String(), required=True)
    groups = fields.List(fields.Nested(UsageGroupSchema), required=True)


@blp.route("", methods=["GET"])
@requires(Permission.VIEW_ANALYTICS)
@blp.arguments(UsageQuerySchema, location="query")
@blp.response(200, UsageReportSchema)
def get_usage(query):
    """The workspace's LLM usage and cost between ``from`` and ``to``, grouped by any of
    day, model, provider, purpose, user, bot, api_key (comma-separated ``group_by``)."""
    group_by = [name.strip() for name in query["group_by"].split(",") if name.strip()]
    report = ledger.report(db.session, query["start"], query["end"], group_by)
    return {**report, "start": report["from"], "end": report["to"]}

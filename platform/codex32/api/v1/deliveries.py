"""Delivery endpoints: how each notifier's delivery of an execution's outcome went. Thin: the
service reads the rows the worker's delivery jobs wrote."""

from __future__ import annotations

from marshmallow import fields

from codex32.api.blueprint import Blueprint
from codex32.api.schemas import Output
from codex32.auth.guard import requires
from codex32.auth.rbac import Permission
from codex32.db import db
from codex32.services import deliveries

blp = Blueprint("deliveries", __name__, url_prefix="/api/v1",
                description="Notification deliveries of an execution: status, attempts, errors.")


class DeliverySchema(Output):
    id = fields.UUID(required=True)
    execution_id = fields.UUID(required=True)
    notifier = fields.String(required=True)
    event = fields.String(required=True, metadata={"description": "e.g. execution.failed"})
    status = fields.String(required=True, metadata={"enum": list(deliveries.STATUSES)})
    attempts = fields.Integer(required=True, metadata={
        "description": "delivery jobs run so far (a notifier may retry inside each)"})
    last_error = fields.String(allow_none=True, metadata={
        "description": "why the last failed attempt failed (kept once delivered)"})
    created_at = fields.DateTime(required=True)
    updated_at = fields.DateTime(required=True)
    delivered_at = fields.DateTime(allow_none=True)


@blp.route("/executions/<uuid:execution_id>/deliveries", methods=["GET"])
@requires(Permission.VIEW_BOTS)
@blp.response(200, DeliverySchema(many=True))
def list_deliveries(execution_id):
    """The execution's notifications: one per notifier and event, pending until delivered or
    given up (failed)."""
    return deliveries.list_for_execution(db.session, execution_id)

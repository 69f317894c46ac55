"""Workspace endpoints: sign up a new workspace, read and update the current one."""

from __future__ import annotations

import hmac
from typing import Any

from flask import current_app, request
from marshmallow import ValidationError, fields, validate
from packaging.requirements import InvalidRequirement, Requirement

from codex32 import runtime
from codex32.api import transaction
from codex32.api.blueprint import Blueprint
from codex32.api.schemas import MergePatch, Output, Strict, name_length
from codex32.api.v1.auth import VERIFY_HINT, limit_verification_mail
from codex32.api.v1.llm_schemas import LLMSettingsSchema
from codex32.auth.guard import current_principal, limit_rate, origin, requires
from codex32.auth.rbac import Permission
from codex32.db import db
from codex32.errors import Forbidden, Invalid
from codex32.plugins import kinds
from codex32.services.knowledge import documents as knowledge_documents
from codex32.services.knowledge import indexes
from codex32.services.mail import Mailer
from tenants import accounts, workspaces

blp = Blueprint("workspaces", __name__, url_prefix="/api/v1",
                description="Workspaces: sign-up, settings.")


class SignupSchema(Strict):
    name = fields.String(required=True, validate=name_length)
    slug = fields.String(load_default=None, validate=validate.Length(min=1, max=63))
    admin_email = fields.Email(required=True, validate=validate.Length(max=320))
    admin_password = fields.String(required=True, load_only=True)


class WorkspaceSchema(Output):
    id = fields.UUID(required=True)
    name = fields.String(required=True)
    slug = fields.String(required=True)
    settings = fields.Dict(required=True)
    created_at = fields.DateTime(required=True)
    updated_at = fields.DateTime(required=True)


class SignupResultSchema(Output):
    workspace = fields.Nested(WorkspaceSchema, required=True)
    email = fields.String(required=True, metadata={"description": "where the token was sent"})
    message = fields.String(required=True)


def _platforms(name: str):
    """A validator: at most the platform's own maximum ``name`` (a workspace only lowers it)."""
    def at_most(value: int) -> None:
        bound = getattr(runtime.of(current_app).settings, name)
        if value > bound:
            raise ValidationError(f"above the platform's maximum ({bound}): a workspace can "
                                  "only lower it")
    return at_most


class ExecutionMaximaSchema(MergePatch):
    """Workspace maxima of bot settings; each only lowers the platform's own maximum."""

    max_timeout_seconds = fields.Integer(validate=[validate.Range(min=1),
                                                   _platforms("max_timeout_seconds")])
    max_memory_mb = fields.Integer(validate=[validate.Range(min=64), _platforms("max_memory_mb")])
    max_retries = fields.Integer(validate=[validate.Range(min=0), _platforms("max_retries")])
    max_retry_backoff_seconds = fields.Integer(validate=[
        validate.Range(min=0), _platforms("max_retry_backoff_seconds")])
    allow_network = fields.Boolean()


def _repair_rounds(value: int) -> None:
    bound = runtime.of(current_app).settings.builder_max_repair_rounds
    if not 0 <= value <= bound:
        raise ValidationError(f"must be between 0 and {bound}")



def _allowlist_entry(entry: str) -> None:
    try:
        found = Requirement(entry)
    except InvalidRequirement as exc:
        raise ValidationError("a distribution name, optionally with a version specifier "
                              "(requests>=2.31,<3)") from exc
    if found.extras or found.url or found.marker:
        raise ValidationError("no extras, URL or marker: a name and a version specifier")


class BuilderSettingsSchema(MergePatch):
    """The AI builder's workspace settings; each only narrows the platform's."""

    allowed_requirements = fields.List(
        fields.String(validate=[validate.Length(min=1, max=200), _allowlist_entry]),
        validate=validate.Length(max=500), allow_none=True,
        metadata={"description": "what generated bots may pin in requirements.txt (names, "
                                 "optionally with version specifiers); a pin must also be on "
                                 "the platform's CODEX32_BUILDER_ALLOWED_REQUIREMENTS. "
                                 "none (null removes it): the platform's list"})
    max_repair_rounds = fields.Integer(validate=_repair_rounds, metadata={
        "description": "repair rounds after a failed validation (default 3)"})


class OIDCAdmissionSchema(MergePatch):
    """Who may join through an OpenID provider besides invited addresses."""

    allowed_domains = fields.List(
        fields.String(validate=validate.Regexp(r"^[a-z0-9.-]{1,253}$")),
        validate=validate.Length(max=50),
        metadata={"description": "email domains whose verified addresses join at sign-in "
                                 "(lowercase); empty or none: invitation only"})
    default_role = fields.String(validate=validate.OneOf(["user", "viewer"]),
                                 metadata={"description": "the role they join with (default "
                                                          "user)"})


class WorkspaceSettingsSchema(MergePatch):
    defaults = fields.Dict(keys=fields.String(validate=validate.OneOf(kinds.names())),
                           values=fields.String(validate=validate.Length(min=1, max=100)),
                           metadata={"description": "default plugin id per kind"})
    llm_fallback = fields.List(fields.String(validate=validate.Length(min=1, max=100)),
                               validate=validate.Length(max=10),
                               metadata={"description": "ordered LLM provider ids"})
    execution = fields.Nested(ExecutionMaximaSchema,
                              metadata={"description": "workspace maxima for bot runs"})
    builder = fields.Nested(BuilderSettingsSchema, metadata={
        "description": "the AI builder: the requirements generated bots may use, repair rounds"})
    llm = fields.Nested(LLMSettingsSchema, metadata={
        "description": "the LLM gateway: aliases, prices, cache, rate limits, cooldown"})
    oidc = fields.Nested(OIDCAdmissionSchema, metadata={
        "description": "sign-in with OpenID providers: admission by email domain"})


class WorkspaceUpdateSchema(Strict):
    name = fields.String(validate=name_length)
    settings = fields.Nested(WorkspaceSettingsSchema, metadata={
        "description": "a JSON merge patch (RFC 7396) of the settings: an object merges into "
                       "the stored one key by key, null removes a key, anything else "
                       "replaces it"})


def _checked_settings(merged: dict[str, Any]) -> None:
    """422 unless the settings a merge made are valid as a whole (the limits of a mapping,
    the bounds of the platform that apply now), as a patch's own values are."""
    try:
        WorkspaceSettingsSchema().load(merged)
    except ValidationError as exc:
        raise Invalid("the settings after this change are invalid",
                      errors={"json": {"settings": exc.normalized_messages()}}) from exc


@blp.route("/workspaces", methods=["POST"])
@blp.arguments(SignupSchema)
@blp.response(202, SignupResultSchema)
@blp.doc(parameters=[{"in": "header", "name": "X-Platform-Token", "required": False,
                      "schema": {"type": "string"},
                      "description": "required when the signup mode is 'token'"}])
def sign_up(data):
    """Create a workspace with a pending admin, and mail the admin's address a verification
    token (in development: the server log). Sign in after ``POST /auth/verify``. The answer
    is the same whether or not the address already has an account."""
    settings = runtime.of(current_app).settings
    if settings.signup_mode == "token":
        given = request.headers.get("X-Platform-Token", "")
        if not settings.platform_token or not hmac.compare_digest(  # bytes: any text
                given.encode(), settings.platform_token.encode()):
            raise Forbidden("sign-up needs a valid X-Platform-Token")
    limit_rate(f"signup:{origin().ip}", limit=settings.signups_per_hour, window=3600)
    limit_verification_mail(data["admin_email"])
    created = workspaces.sign_up(
        db.session, name=data["name"], slug=data["slug"], admin_email=data["admin_email"],
        admin_password=data["admin_password"], origin=origin())
    transaction.end()  # the sign-up is stored before its token is mailed
    mailer = Mailer.from_settings(settings)
    if created.pending is not None:  # always, for a sign-up through the API
        mailer.send(accounts.verification_message(created.pending, mailer.api_base))
    return {"workspace": created.workspace, "email": data["admin_email"],
            "message": VERIFY_HINT}


@blp.route("/workspace", methods=["GET"])
@requires(Permission.VIEW_WORKSPACE)
@blp.response(200, WorkspaceSchema)
def get_workspace():
    """The current workspace."""
    return workspaces.get(db.session, current_principal())


@blp.route("/workspace", methods=["PATCH"])
@requires(Permission.MANAGE_WORKSPACE)
@blp.arguments(WorkspaceUpdateSchema)
@blp.response(200, WorkspaceSchema)
def update_workspace(data):
    """Rename the workspace or change its settings (plugin defaults, LLM fallback...):
    ``settings`` is a JSON merge patch (RFC 7396), ``null`` removes a key."""
    principal = current_principal()
    workspace = workspaces.update(db.session, principal, data, check_settings=_checked_settings)
    if "settings" in data:  # another default embedder or vector store: its own generation
        indexes.sync(db.session, principal.workspace_id)
    return workspace


class KnowledgeErasedSchema(Output):
    collections = fields.Integer(required=True)
    documents = fields.Integer(required=True)
    chunks = fields.Integer(required=True, metadata={"description": "documents' and bots'"})
    generations = fields.Integer(required=True, metadata={"description": "index generations"})


@blp.route("/workspace/knowledge", methods=["DELETE"])
@requires(Permission.MANAGE_WORKSPACE)
@blp.response(202, KnowledgeErasedSchema)
def erase_knowledge():
    """Erase the workspace's knowledge: every collection, document and passage now, and every
    vector in every store by a queued job (202). Bots stay; a new version indexes them again."""
    return knowledge_documents.erase_workspace(db.session, current_principal())

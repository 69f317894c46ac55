"""Admin pages: budgets, LLM providers, members and invitations, API keys, the audit log.

Thin, as an API view: each form is parsed by the REST endpoint's own schema, one service call
(the same the endpoint makes, with the same permission) does the work and audits it, and the
page is rendered. Secrets are write-only: a provider's secrets show as names, a new API key
only on the page that minted it.
"""

from __future__ import annotations

import json
from typing import Any

from flask import current_app, redirect, render_template, request, url_for
from marshmallow import Schema, ValidationError

from codex32 import runtime
from codex32.api import transaction
from codex32.api.v1.api_keys import ApiKeyCreateSchema
from codex32.api.v1.audit_logs import AuditArgs
from codex32.api.v1.llm_schemas import BudgetsInSchema
from codex32.api.v1.members import InvitationCreateSchema, RoleSchema, limit_invitation_mail
from codex32.api.v1.plugins import ProviderPutSchema
from codex32.auth.guard import current_principal
from codex32.auth.rbac import ROLES, Permission
from codex32.console.blueprint import blp, page
from codex32.db import db
from codex32.errors import Invalid
from codex32.services import api_keys, audit, provider_instances, providers
from codex32.services.gateway import budgets as budget_service
from codex32.services.knowledge import indexes
from codex32.services.mail import Mailer
from codex32.services.pages import PageRequest
from tenants import invitations, members

SECTIONS = (  # the admin area's pages and the permission each needs (as its API)
    ("Budgets", "console.admin_budgets", Permission.MANAGE_WORKSPACE),
    ("LLM providers", "console.admin_providers", Permission.MANAGE_PROVIDERS),
    ("Members and invitations", "console.admin_members", Permission.MANAGE_USERS),
    ("API keys", "console.admin_keys", Permission.MANAGE_KEYS),
    ("Audit log", "console.admin_audit", Permission.VIEW_AUDIT),
)


def parsed(schema: Schema, data: dict[str, Any]) -> dict[str, Any]:
    """``data`` loaded by an API schema; its errors are the API's 422."""
    try:
        return schema.load(data)
    except ValidationError as exc:
        fields = ", ".join(sorted(str(name) for name in exc.normalized_messages()))
        raise Invalid(f"check these fields: {fields}",
                      errors={"form": exc.normalized_messages()}) from exc


def _form(*names: str) -> dict[str, str]:
    """The named fields a form sent, without the empty ones (the schema's defaults apply)."""
    return {name: request.form[name] for name in names if request.form.get(name)}


def _back(endpoint: str):
    return redirect(url_for(endpoint), code=303)


@blp.route("/admin", methods=["GET"])
@page(Permission.MANAGE_USERS)
def admin():
    """The admin area's sections that the role may use."""
    return render_template("console/admin/index.html", sections=SECTIONS)


# -- budgets --------------------------------------------------------------------------------


@blp.route("/admin/budgets", methods=["GET"])
@page(Permission.MANAGE_WORKSPACE)
def admin_budgets():
    """The workspace's budgets with their current period, and a form to change them."""
    return render_template("console/admin/budgets.html",
                           budgets=budget_service.list_budgets(db.session))


@blp.route("/admin/budgets", methods=["POST"])
@page(Permission.MANAGE_WORKSPACE)
def admin_budgets_save():
    """Replace the budgets with the form's rows (as ``PUT /api/v1/budgets``); a row without
    limits is left out, so emptying a row deletes its budget."""
    rows = zip(request.form.getlist("scope"), request.form.getlist("scope_id"),
               request.form.getlist("period"), request.form.getlist("soft_limit_usd"),
               request.form.getlist("hard_limit_usd"), strict=False)
    items = [{"scope": scope, "period": period,
              **({"scope_id": scope_id.strip()} if scope_id.strip() else {}),
              **({"soft_limit_usd": soft.strip()} if soft.strip() else {}),
              **({"hard_limit_usd": hard.strip()} if hard.strip() else {})}
             for scope, scope_id, period, soft, hard in rows if soft.strip() or hard.strip()]
    data = parsed(BudgetsInSchema(), {"budgets": items})
    budget_service.replace(db.session, current_principal(), data["budgets"])
    return _back("console.admin_budgets")


# -- providers ------------------------------------------------------------------------------


@blp.route("/admin/providers", methods=["GET"])
@page(Permission.MANAGE_PROVIDERS)
def admin_providers():
    """Every kind's plugins, what is configured (secrets as names only), forms to change."""
    kinds = providers.catalogue(db.session, current_principal())
    return render_template("console/admin/providers.html", kinds=kinds, json=json)


@blp.route("/admin/providers/<string:kind>/<string:plugin_id>", methods=["POST"])
@page(Permission.MANAGE_PROVIDERS)
def admin_provider_save(kind, plugin_id):
    """Configure a plugin (as ``PUT /api/v1/providers/<kind>/<id>``): the config as JSON; a
    secret left empty keeps its stored value, one marked for removal is removed."""
    try:
        config = json.loads(request.form.get("config") or "{}")
    except ValueError as exc:
        raise Invalid("the configuration is not valid JSON",
                      errors={"form": {"config": [str(exc)]}}) from exc
    secrets: dict[str, str | None] = {}
    for name in request.form.getlist("secret_name"):
        if request.form.get(f"remove:{name}"):
            secrets[name] = None
        elif request.form.get(f"secret:{name}"):
            secrets[name] = request.form[f"secret:{name}"]
    data = parsed(ProviderPutSchema(), {"config": config, "secrets": secrets})
    principal = current_principal()
    providers.put(db.session, principal, kind, plugin_id, data["config"], data["secrets"])
    if kind in indexes.KINDS:  # as the API: a new embedder or vector store, its own index
        indexes.sync(db.session, principal.workspace_id)
    return _back("console.admin_providers")


@blp.route("/admin/providers/<string:kind>/<string:plugin_id>/delete", methods=["POST"])
@page(Permission.MANAGE_PROVIDERS)
def admin_provider_delete(kind, plugin_id):
    """Forget the workspace's configuration of a plugin (as the API's DELETE)."""
    principal = current_principal()
    providers.remove(db.session, principal, kind, plugin_id)
    if kind in indexes.KINDS:
        indexes.sync(db.session, principal.workspace_id)
    return _back("console.admin_providers")


@blp.route("/admin/providers/<string:kind>/<string:plugin_id>/test", methods=["POST"])
@page(Permission.MANAGE_PROVIDERS)
def admin_provider_test(kind, plugin_id):
    """Run the plugin's health check with the stored configuration; show the answer."""
    probe = provider_instances.prepare_test(db.session, current_principal(), kind, plugin_id)
    transaction.end()  # the provider may take seconds: hold no connection meanwhile
    health = probe.run()
    kinds = providers.catalogue(db.session, current_principal())
    return render_template("console/admin/providers.html", kinds=kinds, json=json,
                           tested={"kind": kind, "id": plugin_id, "ok": health.ok,
                                   "detail": health.detail, "latency_ms": health.latency_ms})


# -- members and invitations ----------------------------------------------------------------


def _members_page(invited: Any = None):
    return render_template("console/admin/members.html",
                           members=members.list_members(db.session), roles=ROLES,
                           invited=invited, pending=invitations.list_pending(db.session))


@blp.route("/admin/members", methods=["GET"])
@page(Permission.MANAGE_USERS)
def admin_members():
    """Members with their roles, open invitations; forms to change a role, remove, invite,
    withdraw."""
    return _members_page()


@blp.route("/admin/members/<uuid:user_id>/role", methods=["POST"])
@page(Permission.MANAGE_USERS)
def admin_member_role(user_id):
    """Give a member another role (as ``PATCH /api/v1/members/<id>``)."""
    data = parsed(RoleSchema(), _form("role"))
    members.change_role(db.session, current_principal(), user_id, data["role"])
    return _back("console.admin_members")


@blp.route("/admin/members/<uuid:user_id>/remove", methods=["POST"])
@page(Permission.MANAGE_USERS)
def admin_member_remove(user_id):
    """Remove a member (as ``DELETE /api/v1/members/<id>``)."""
    members.remove(db.session, current_principal(), user_id)
    return _back("console.admin_members")


@blp.route("/admin/invitations", methods=["POST"])
@page(Permission.MANAGE_USERS)
def admin_invite():
    """Invite an address (as ``POST /api/v1/invitations``): the token goes to it by mail."""
    data = parsed(InvitationCreateSchema(), _form("email", "role"))
    limit_invitation_mail(current_principal().workspace_id, data["email"])
    issued = invitations.invite(db.session, current_principal(), data["email"], data["role"])
    transaction.end()  # the invitation is stored before its token is mailed
    mailer = Mailer.from_settings(runtime.of(current_app).settings)
    mailer.send(invitations.invitation_message(issued, mailer.api_base))
    return _members_page(invited=issued)


@blp.route("/admin/invitations/<uuid:invitation_id>/withdraw", methods=["POST"])
@page(Permission.MANAGE_USERS)
def admin_invitation_withdraw(invitation_id):
    """Withdraw an open invitation; its token works no more (as the API's DELETE)."""
    invitations.withdraw(db.session, current_principal(), invitation_id)
    return _back("console.admin_members")


# -- API keys -------------------------------------------------------------------------------


def _keys_page(minted: Any = None, status: int = 200):
    minters = {member.user_id: member.email for member in members.list_members(db.session)}
    return render_template("console/admin/api_keys.html", keys=api_keys.list_keys(db.session),
                           minters=minters, roles=ROLES, minted=minted), status


@blp.route("/admin/api-keys", methods=["GET"])
@page(Permission.MANAGE_KEYS)
def admin_keys():
    """The workspace's keys (never their secret part) and a form to mint one."""
    return _keys_page()


@blp.route("/admin/api-keys", methods=["POST"])
@page(Permission.MANAGE_KEYS)
def admin_key_create():
    """Mint a key (as ``POST /api/v1/api-keys``) and show it this once."""
    data = parsed(ApiKeyCreateSchema(), _form("name", "role", "expires_at"))
    minted = api_keys.mint(db.session, current_principal(), data["name"], data["role"],
                           data["expires_at"])
    return _keys_page(minted, 201)


@blp.route("/admin/api-keys/<uuid:key_id>/delete", methods=["POST"])
@page(Permission.MANAGE_KEYS)
def admin_key_delete(key_id):
    """Delete a key; it stops working at once (as the API's DELETE)."""
    api_keys.remove(db.session, current_principal(), key_id)
    return _back("console.admin_keys")


# -- the audit log --------------------------------------------------------------------------


@blp.route("/admin/audit", methods=["GET"])
@page(Permission.VIEW_AUDIT)
def admin_audit():
    """The workspace's audit rows, newest first, filtered by action and resource."""
    args = parsed(AuditArgs(), {name: value for name, value in request.args.items()
                                if value and name in ("action", "resource_type", "page")})
    found = audit.list_entries(db.session, PageRequest(args.pop("page"), 50), **{
        name: args[name] for name in ("action", "resource_type") if name in args})
    return render_template("console/admin/audit.html", page=found, json=json,
                           action=args.get("action", ""),
                           resource_type=args.get("resource_type", ""))

"""Admin pages: budgets, LLM providers, members and invitations, API keys, the audit log.

Thin, as an API view: each form is parsed by the REST endpoint's own schema, one service call
(the same the endpoint makes, with the same permission) does the work and audits it, and the
page is rendered. An invalid form answers its page again (422) with the member's input and
each error beside its field (:mod:`codex32.console.forms`). Secrets are write-only: a
provider's secrets show as names, a new API key only on the page that minted it.
"""

from __future__ import annotations

import json
from typing import Any

from flask import redirect, render_template, request, url_for
from marshmallow import Schema, ValidationError

from codex32.api import transaction
from codex32.api.v1.api_keys import ApiKeyCreateSchema
from codex32.api.v1.audit_logs import AuditArgs
from codex32.api.v1.llm_schemas import BudgetsInSchema
from codex32.api.v1.members import InvitationCreateSchema, RoleSchema, send_invitation
from codex32.api.v1.plugins import ProviderPutSchema
from codex32.auth.guard import current_principal
from codex32.auth.rbac import ROLES, Permission
from codex32.console.blueprint import blp, page
from codex32.console.forms import NOTHING, Refill, refill
from codex32.db import db
from codex32.errors import Invalid
from codex32.services import api_keys, audit, provider_instances, providers
from codex32.services.gateway import budgets as budget_service
from codex32.services.knowledge import indexes
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


BUDGET_FIELDS = ("scope", "scope_id", "period", "soft_limit_usd", "hard_limit_usd")


def _budgets_page(refill: Refill = NOTHING):
    """The budgets and their form: the stored rows and a blank one, or the rows as sent."""
    if not refill:
        rows = [{name: str(b.get(name) or "") for name in BUDGET_FIELDS} | {
                    "spent_usd": b["spent_usd"], "reserved_usd": b["reserved_usd"]}
                for b in budget_service.list_budgets(db.session)]
        rows.append(dict.fromkeys(BUDGET_FIELDS, ""))
    else:
        rows = _sent_rows()
        refill = _by_row(refill, rows)
    return render_template("console/admin/budgets.html", rows=rows, refill=refill)


def _sent_rows() -> list[dict[str, str]]:
    """The budget rows of the form as sent, each with whether it names a limit (``used``)."""
    columns = [request.form.getlist(name) for name in BUDGET_FIELDS]
    rows = [dict(zip(BUDGET_FIELDS, values, strict=False)) for values in zip(*columns,
                                                                                 strict=False)]
    for row in rows:
        row["used"] = "yes" if row["soft_limit_usd"].strip() or row[
            "hard_limit_usd"].strip() else ""
    return rows


def _by_row(found: Refill, rows: list[dict[str, str]]) -> Refill:
    """``found`` with ``budgets.<i>.<field>`` (the i-th row that names a limit) as
    ``row<n>.<field>`` (the form's n-th row, from 1)."""
    numbers = [n for n, row in enumerate(rows, 1) if row["used"]]
    errors = {}
    for path, said in found.errors.items():
        parts = path.split(".", 2)
        if len(parts) >= 2 and parts[0] == "budgets" and parts[1].isdecimal() \
                and int(parts[1]) < len(numbers):
            path = ".".join([f"row{numbers[int(parts[1])]}", *parts[2:]])
        errors[path] = said
    return Refill(found.message, found.values, errors)


@blp.route("/admin/budgets", methods=["GET"])
@page(Permission.MANAGE_WORKSPACE)
def admin_budgets():
    """The workspace's budgets with their current period, and a form to change them."""
    return _budgets_page()


@blp.route("/admin/budgets", methods=["POST"])
@page(Permission.MANAGE_WORKSPACE)
@refill(_budgets_page)
def admin_budgets_save():
    """Replace the budgets with the form's rows (as ``PUT /api/v1/budgets``); a row without
    limits is left out, so emptying a row deletes its budget."""
    optional = ("scope_id", "soft_limit_usd", "hard_limit_usd")  # left out when empty
    items = [{"scope": row["scope"], "period": row["period"],
              **{name: row[name].strip() for name in optional if row[name].strip()}}
             for row in _sent_rows() if row["used"]]
    data = parsed(BudgetsInSchema(), {"budgets": items})
    budget_service.replace(db.session, current_principal(), data["budgets"])
    return _back("console.admin_budgets")


# -- providers ------------------------------------------------------------------------------


def _providers_page(kind: str = "", plugin_id: str = "", refill: Refill = NOTHING,
                    tested: dict[str, Any] | None = None):
    """Every kind's plugins and their forms; ``refill`` is the form of ``kind``/``plugin_id``
    sent again."""
    kinds = providers.catalogue(db.session, current_principal())
    return render_template("console/admin/providers.html", kinds=kinds, json=json,
                           tested=tested, refill=refill,
                           refilled=f"{kind}-{plugin_id}" if refill else "")


@blp.route("/admin/providers", methods=["GET"])
@page(Permission.MANAGE_PROVIDERS)
def admin_providers():
    """Every kind's plugins, what is configured (secrets as names only), forms to change."""
    return _providers_page()


@blp.route("/admin/providers/<string:kind>/<string:plugin_id>", methods=["POST"])
@page(Permission.MANAGE_PROVIDERS)
@refill(_providers_page)
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
    return _providers_page(tested={"kind": kind, "id": plugin_id, "ok": health.ok,
                                   "detail": health.detail, "latency_ms": health.latency_ms})


# -- members and invitations ----------------------------------------------------------------


def _members_page(*_ids: Any, invited: Any = None, refill: Refill = NOTHING, **_named: Any):
    return render_template("console/admin/members.html",
                           members=members.list_members(db.session), roles=ROLES,
                           invited=invited, pending=invitations.list_pending(db.session),
                           refill=refill)


@blp.route("/admin/members", methods=["GET"])
@page(Permission.MANAGE_USERS)
def admin_members():
    """Members with their roles, open invitations; forms to change a role, remove, invite,
    withdraw."""
    return _members_page()


@blp.route("/admin/members/<uuid:user_id>/role", methods=["POST"])
@page(Permission.MANAGE_USERS)
@refill(_members_page)
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
@refill(_members_page)
def admin_invite():
    """Invite an address (as ``POST /api/v1/invitations``): the token goes to it by mail."""
    data = parsed(InvitationCreateSchema(), _form("email", "role"))
    return _members_page(invited=send_invitation(data["email"], data["role"]))


@blp.route("/admin/invitations/<uuid:invitation_id>/withdraw", methods=["POST"])
@page(Permission.MANAGE_USERS)
def admin_invitation_withdraw(invitation_id):
    """Withdraw an open invitation; its token works no more (as the API's DELETE)."""
    invitations.withdraw(db.session, current_principal(), invitation_id)
    return _back("console.admin_members")


# -- API keys -------------------------------------------------------------------------------


def _keys_page(minted: Any = None, status: int = 200, refill: Refill = NOTHING):
    minters = {member.user_id: member.email for member in members.list_members(db.session)}
    return render_template("console/admin/api_keys.html", keys=api_keys.list_keys(db.session),
                           minters=minters, roles=ROLES, minted=minted, refill=refill), status


@blp.route("/admin/api-keys", methods=["GET"])
@page(Permission.MANAGE_KEYS)
def admin_keys():
    """The workspace's keys (never their secret part) and a form to mint one."""
    return _keys_page()


@blp.route("/admin/api-keys", methods=["POST"])
@page(Permission.MANAGE_KEYS)
@refill(_keys_page)
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

"""Plugin endpoints: what is installed, per-workspace provider settings, bot templates."""

from __future__ import annotations

from flask import current_app
from marshmallow import fields, validate

from codex32 import runtime
from codex32.api import transaction
from codex32.api.blueprint import Blueprint
from codex32.api.schemas import Output, Strict
from codex32.auth.guard import current_principal, requires
from codex32.auth.rbac import Permission
from codex32.db import db
from codex32.services import provider_instances, providers, templates
from codex32.services.knowledge import indexes

blp = Blueprint("plugins", __name__, url_prefix="/api/v1",
                description="Installed plugins, the workspace's providers, bot templates.")


class LoadedPluginSchema(Output):
    name = fields.String(required=True)
    distribution = fields.String(allow_none=True)
    version = fields.String(allow_none=True)
    hooks = fields.List(fields.String(), required=True)
    registered = fields.Dict(keys=fields.String(), values=fields.List(fields.String()))
    error = fields.String(allow_none=True)


class PluginsSchema(Output):
    plugins = fields.List(fields.Nested(LoadedPluginSchema), required=True)
    isolation = fields.Dict(metadata={"description": "isolation level per executor"})


class ProviderKindSchema(Output):
    kind = fields.String(required=True)
    default = fields.String(allow_none=True)
    fallback = fields.List(fields.String())
    plugins = fields.List(fields.Dict(), required=True)


class ProviderPutSchema(Strict):
    config = fields.Dict(load_default=dict)
    secrets = fields.Dict(keys=fields.String(validate=validate.Length(max=100)),
                          values=fields.String(allow_none=True,
                                               validate=validate.Length(max=10_000)),
                          load_default=dict, metadata={"description": "null removes one"})


class ProviderConfigSchema(Output):
    config = fields.Dict(required=True)
    secrets = fields.Dict(required=True, metadata={"description": "names only, masked"})
    version = fields.Integer(required=True)
    updated_at = fields.DateTime(required=True)


class HealthSchema(Output):
    ok = fields.Boolean(required=True)
    detail = fields.String()
    latency_ms = fields.Float(allow_none=True)


class TemplateSchema(Output):
    id = fields.String(required=True)
    generator = fields.String(required=True)
    title = fields.String(required=True)
    description = fields.String(required=True)
    parameters = fields.Dict(required=True, metadata={"description": "JSON Schema"})
    requires = fields.Dict(required=True, metadata={
        "description": "what its bots may need, e.g. {\"network\": true}; a bot created from "
                       "it gets the network unless its settings say otherwise"})


@blp.route("/plugins", methods=["GET"])
@requires(Permission.VIEW_WORKSPACE)
@blp.response(200, PluginsSchema)
def list_plugins():
    """Every loaded plugin with what it registered, and load errors (never a config value;
    their text, scrubbed, for admins only); the isolation each executor enforces, as read at
    start (a listing never starts a process)."""
    return {"plugins": providers.loaded_plugins(current_principal()),
            "isolation": runtime.of(current_app).isolation}


@blp.route("/providers", methods=["GET"])
@requires(Permission.VIEW_PROVIDERS)
@blp.response(200, ProviderKindSchema(many=True))
def list_providers():
    """Per kind: the installed plugins with config schemas, the default, what is configured;
    a saved configuration whose plugin did not load is listed ``available: false`` with the
    load error."""
    return providers.catalogue(db.session, current_principal())


@blp.route("/providers/<string:kind>/<string:plugin_id>", methods=["PUT"])
@requires(Permission.MANAGE_PROVIDERS)
@blp.arguments(ProviderPutSchema)
@blp.response(200, ProviderConfigSchema)
def put_provider(data, kind, plugin_id):
    """Configure a plugin for the workspace; secrets are encrypted and shown masked."""
    principal = current_principal()
    stored = providers.put(db.session, principal, kind, plugin_id, data["config"],
                           data["secrets"])
    if kind in indexes.KINDS:  # a new embedder or vector store: its own index generation
        indexes.sync(db.session, principal.workspace_id)
    return stored


@blp.route("/providers/<string:kind>/<string:plugin_id>", methods=["DELETE"])
@requires(Permission.MANAGE_PROVIDERS)
@blp.response(204)
def delete_provider(kind, plugin_id):
    """Remove the workspace's configuration of a plugin."""
    principal = current_principal()
    providers.remove(db.session, principal, kind, plugin_id)
    if kind in indexes.KINDS:
        indexes.sync(db.session, principal.workspace_id)


@blp.route("/providers/<string:kind>/<string:plugin_id>/test", methods=["POST"])
@requires(Permission.MANAGE_PROVIDERS)
@blp.response(200, HealthSchema)
def test_provider(kind, plugin_id):
    """Run the plugin's health check with the workspace's configuration; a notifier sends a
    test notification. A configured plugin that did not load answers ``ok: false``."""
    probe = provider_instances.prepare_test(db.session, current_principal(), kind, plugin_id)
    transaction.end()  # the provider may take seconds: hold no connection meanwhile
    return probe.run()


@blp.route("/templates", methods=["GET"])
@requires(Permission.VIEW_BOTS)
@blp.response(200, TemplateSchema(many=True))
def list_templates():
    """Templates offered by every installed code generator."""
    return templates.list_templates(db.session, current_principal())

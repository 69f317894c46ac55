"""API v1 blueprints, registered in order by :func:`register`."""

from __future__ import annotations

from flask_smorest import Api

from codex32.api.v1 import (
    api_keys,
    audit_logs,
    auth,
    bots,
    builder,
    collections,
    deliveries,
    executions,
    llm,
    members,
    oidc,
    openai_compat,
    openai_errors,
    plugins,
    schedules,
    search,
    secrets,
    suggestions,
    versions,
    workspaces,
)


def register(api: Api) -> None:
    """Register every v1 blueprint on ``api``."""
    for module in (workspaces, auth, members, api_keys, bots, versions, executions, schedules,
                   audit_logs, plugins, secrets, deliveries, llm, openai_compat, builder,
                   suggestions, collections, search, oidc):
        api.register_blueprint(module.blp)
    api.document(openai_errors.document)
    builder.register_schemas(api)

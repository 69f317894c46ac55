"""API v2 blueprints (docs/api.md): keyset lists in one envelope, problem details, expand.

Each module is a thin view over the same services as v1, reusing v1's input schemas.
"""

from __future__ import annotations

from flask_smorest import Api

from codex32.api.v2 import (
    api_keys,
    audit_logs,
    bots,
    executions,
    members,
    schedules,
    usage,
    versions,
)


def register(api: Api) -> None:
    """Register every v2 blueprint on ``api`` (v2's own OpenAPI document)."""
    for module in (bots, versions, executions, schedules, audit_logs, members, api_keys,
                   usage):
        api.register_blueprint(module.blp)

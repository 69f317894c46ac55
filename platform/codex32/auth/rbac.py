"""Roles and the permissions they grant: data, in one place (documented in docs/security.md)."""

from __future__ import annotations

from enum import StrEnum


class Permission(StrEnum):
    """What a principal may do; routes declare the one they need with ``@requires``."""

    VIEW_BOTS = "view_bots"
    CREATE_BOT = "create_bot"
    UPDATE_BOT = "update_bot"
    DELETE_BOT = "delete_bot"
    EXECUTE_BOT = "execute_bot"
    VIEW_ANALYTICS = "view_analytics"
    VIEW_MEMBERS = "view_members"
    MANAGE_USERS = "manage_users"
    MANAGE_KEYS = "manage_keys"
    VIEW_AUDIT = "view_audit"
    VIEW_WORKSPACE = "view_workspace"
    MANAGE_WORKSPACE = "manage_workspace"
    VIEW_PROVIDERS = "view_providers"
    MANAGE_PROVIDERS = "manage_providers"
    USE_BUILDER = "use_builder"
    USE_LLM = "use_llm"
    VIEW_KNOWLEDGE = "view_knowledge"
    MANAGE_KNOWLEDGE = "manage_knowledge"


class Role(StrEnum):
    """A member's or API key's role in a workspace."""

    ADMIN = "admin"
    USER = "user"
    VIEWER = "viewer"
    API_USER = "api_user"


P = Permission
ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset(Permission),
    Role.USER: frozenset({
        P.VIEW_BOTS, P.CREATE_BOT, P.UPDATE_BOT, P.DELETE_BOT, P.EXECUTE_BOT, P.VIEW_ANALYTICS,
        P.VIEW_MEMBERS, P.VIEW_WORKSPACE, P.VIEW_PROVIDERS, P.USE_BUILDER, P.USE_LLM,
        P.VIEW_KNOWLEDGE, P.MANAGE_KNOWLEDGE,
    }),
    Role.VIEWER: frozenset({P.VIEW_BOTS, P.VIEW_ANALYTICS, P.VIEW_MEMBERS, P.VIEW_WORKSPACE,
                            P.VIEW_KNOWLEDGE}),
    # Machine access: run and read bots, nothing about people, keys or settings.
    Role.API_USER: frozenset({P.VIEW_BOTS, P.EXECUTE_BOT, P.VIEW_ANALYTICS, P.VIEW_WORKSPACE,
                              P.USE_LLM, P.VIEW_KNOWLEDGE}),
}

ROLES = tuple(role.value for role in Role)


def permissions_of(role: str) -> frozenset[Permission]:
    """The permissions ``role`` grants (none for an unknown role)."""
    try:
        return ROLE_PERMISSIONS[Role(role)]
    except ValueError:
        return frozenset()

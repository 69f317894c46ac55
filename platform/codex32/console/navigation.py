"""The console's navigation: data, in one place. An entry shows only to a role that has its
permission (the page refuses the others anyway)."""

from __future__ import annotations

from dataclasses import dataclass

from codex32.auth.rbac import Permission


@dataclass(frozen=True)
class Entry:
    """One navigation link: its label, its address under /app and who sees it."""

    label: str
    path: str
    permission: Permission


NAVIGATION: tuple[Entry, ...] = (
    Entry("Bots", "/app/bots", Permission.VIEW_BOTS),
    Entry("Builder", "/app/builder", Permission.USE_BUILDER),
    Entry("Runs", "/app/runs", Permission.VIEW_BOTS),
    Entry("Usage", "/app/usage", Permission.VIEW_ANALYTICS),
    Entry("Admin", "/app/admin", Permission.MANAGE_USERS),
)

"""Demo data: a workspace with an admin and a few bots, created once (idempotent)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from codex32.auth.principal import Origin, Principal
from codex32.db import tenancy
from codex32.db.models import Bot
from codex32.services import bots
from tenants import workspaces

DEMO_SLUG = "demo"
DEMO_EMAIL = "admin@demo.codex32.test"
DEMO_PASSWORD = "demo-password-change-me"

DEMO_BOTS = {
    "hello-world": ("Greets whoever is named in the event.",
                    'def main(event, context):\n'
                    '    name = event.get("name", "world")\n'
                    '    context.logger.info("greeting %s", name)\n'
                    '    return {"greeting": f"Hello, {name}!"}\n'),
    "sum-numbers": ("Adds the numbers in event['numbers'].",
                    'def main(event, context):\n'
                    '    numbers = event.get("numbers", [])\n'
                    '    return {"total": sum(numbers), "count": len(numbers)}\n'),
}


@dataclass
class DemoResult:
    created_workspace: bool
    created_bots: list[str]
    email: str = DEMO_EMAIL
    password: str = DEMO_PASSWORD


def seed(session: Session) -> DemoResult:
    """Create the demo workspace and bots that do not exist yet."""
    workspace_id = session.execute(text("SELECT auth_workspace_id(:s)"),
                                   {"s": DEMO_SLUG}).scalar()
    created_workspace = workspace_id is None
    if workspace_id is None:
        created = workspaces.sign_up(session, name="Demo", slug=DEMO_SLUG,
                                     admin_email=DEMO_EMAIL, admin_password=DEMO_PASSWORD,
                                     origin=Origin(request_id="seed-demo"), verified=True)
        workspace_id = created.workspace.id
    tenancy.bind(session, workspace_id)
    principal = Principal(workspace_id=workspace_id, role="admin",
                          origin=Origin(request_id="seed-demo"))
    added = []
    for name, (description, code) in DEMO_BOTS.items():
        if session.execute(select(Bot.id).where(Bot.name == name)).first():
            continue
        bots.create(session, principal, name=name, description=description, code=code,
                    status="active")
        added.append(name)
    return DemoResult(created_workspace, added)

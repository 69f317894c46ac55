"""The transaction rule (docs/architecture.md, "Transactions"): the request or the job owns the
session and its commit; services never commit, roll back or close a session they did not open.
"""

from __future__ import annotations

import ast
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import select

import codex32
import tenants
from codex32.auth.principal import Origin, Principal
from codex32.db import db, tenancy
from codex32.db.models import Workspace
from codex32.plugins.interfaces import ChatRequest, Message
from codex32.services import bots, executions, gateway, provider_instances, versions

CORE = Path(codex32.__file__).parent
# The owners of sessions: the request's transaction, the job bodies, the CLI's commands, and
# the LLM gateway, which works in sessions it opens itself (its budget reservation must be
# committed before the provider call, whoever calls), and the connection lent to a plugin that
# keeps its data in the platform's database (plugins/database.py: a session of its own per call,
# unless the caller shares its transaction), a running execution's live logs (a session of
# their own per write) and the maintenance loop's sweeps.
OWNERS = {"api/transaction.py", "execution/worker.py", "execution/scheduler.py",
          "execution/live_logs.py", "execution/sweeps.py",
          "execution/notifications.py", "execution/builder_jobs.py", "execution/indexing.py",
          "execution/rebuilding.py",
          "cli.py", "services/gateway/", "plugins/database.py"}
ENDING = {"commit", "rollback", "close"}


def _session_endings(path: Path) -> list[str]:
    """``session.commit()``-like calls in a module: ``<name>.commit/rollback/close()`` on a
    name or attribute spelled ``session``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr in ENDING):
            target = node.func.value
            name = target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", "")
            if "session" in name:
                found.append(f"{path.name}:{node.lineno} {name}.{node.func.attr}()")
    return found


def test_only_the_owners_of_sessions_end_transactions():
    modules = [path for path in sorted(CORE.rglob("*.py"))
               if not any(path.relative_to(CORE).as_posix().startswith(owner)
                          for owner in OWNERS)]
    modules += sorted(Path(tenants.__file__).parent.glob("*.py"))
    found = [call for path in modules for call in _session_endings(path)]
    assert found == []


@contextmanager
def unit_of_work(app, tenant) -> Iterator[Principal]:
    """The tenant's workspace bound in an open transaction holding a change of the caller's
    own (the workspace renamed), as a request or a job holds one."""
    with app.app_context():
        tenancy.bind(db.session, tenant.workspace_id)
        principal = Principal(workspace_id=uuid.UUID(tenant.workspace_id), role="admin",
                              user_id=uuid.UUID(tenant.user_id),
                              origin=Origin(request_id="test"))
        db.session.get(Workspace, principal.workspace_id).name = "renamed by the caller"
        try:
            yield principal
        finally:
            db.session.rollback()
            db.session.remove()
            tenancy.unbind()


PREPARED = {
    "templates": lambda principal: bots.prepare_from_template(
        db.session, principal, name=f"t-{uuid.uuid4().hex[:8]}",
        template="http_health_check"),
    "provider test": lambda principal: provider_instances.prepare_test(
        db.session, principal, "llm", "builtin"),
}


@pytest.mark.parametrize("prepare", PREPARED.values(), ids=PREPARED.keys())
def test_preparing_a_slow_call_leaves_the_callers_transaction_as_it_was(app, tenant, superuser,
                                                                        prepare):
    with unit_of_work(app, tenant) as principal:
        transaction = db.session().get_transaction()
        prepare(principal)
        assert db.session().get_transaction() is transaction
        # The caller's change is still there, in its transaction: neither dropped nor committed.
        assert db.session.execute(select(Workspace.name)).scalar() == "renamed by the caller"
        assert _committed_name(superuser, tenant.workspace_id) != "renamed by the caller"


def test_the_gateway_leaves_the_callers_transaction_as_it_was(app, tenant, superuser):
    """The gateway commits in a session of its own: the caller's change stays uncommitted."""
    with unit_of_work(app, tenant) as principal:
        transaction = db.session().get_transaction()
        answer = gateway.chat(principal.workspace_id,
                              ChatRequest(messages=(Message("user", "say hello"),)),
                              purpose="test")
        assert answer.text and answer.usage_id is not None
        assert db.session().get_transaction() is transaction
        assert db.session.execute(select(Workspace.name)).scalar() == "renamed by the caller"
        assert _committed_name(superuser, tenant.workspace_id) != "renamed by the caller"
    (recorded,) = superuser.execute("SELECT count(*) FROM llm_usage WHERE id = %s",
                                    (answer.usage_id,)).fetchone()
    assert recorded == 1


def test_a_chat_handed_the_callers_transaction_commits_it_before_the_provider_call(
        app, tenant, superuser, monkeypatch):
    """An HTTP chat hands the gateway the request's transaction: it commits with the budget
    reservation, and no connection is held while the provider works."""
    from codex32.services.gateway.router import Router

    during: dict[str, object] = {}
    complete = Router.complete

    def watched(self, *args, **kwargs):
        during["in_transaction"] = db.session().in_transaction()
        during["committed"] = _committed_name(superuser, tenant.workspace_id)
        return complete(self, *args, **kwargs)

    monkeypatch.setattr(Router, "complete", watched)
    with unit_of_work(app, tenant) as principal:
        answer = gateway.chat(principal.workspace_id,
                              ChatRequest(messages=(Message("user", "say hello"),)),
                              purpose="test", session=db.session())
        assert answer.text and not db.session().in_transaction()
    assert during == {"in_transaction": False, "committed": "renamed by the caller"}
    (recorded,) = superuser.execute("SELECT count(*) FROM llm_usage WHERE id = %s",
                                    (answer.usage_id,)).fetchone()
    assert recorded == 1


def _committed_name(superuser, workspace_id: str) -> str:
    return superuser.execute("SELECT name FROM workspaces WHERE id = %s",
                             (workspace_id,)).fetchone()[0]


def test_writing_services_leave_the_commit_to_their_caller(app, tenant, superuser):
    bot_id = uuid.UUID(tenant.create_bot()["id"])
    before = _committed_name(superuser, tenant.workspace_id)
    with unit_of_work(app, tenant) as principal:
        transaction = db.session().get_transaction()
        bots.update(db.session, principal, bot_id, {"description": "changed"})
        versions.create(db.session, principal, bot_id,
                        "def main(event, context):\n    return 2\n")
        executions.enqueue(db.session, principal, bot_id, idempotency_key="k1")
        assert db.session().get_transaction() is transaction
        assert _committed_name(superuser, tenant.workspace_id) == before  # nothing committed
    rows = superuser.execute(
        "SELECT (SELECT description FROM bots WHERE id = %(b)s), "
        "(SELECT count(*) FROM bot_versions WHERE bot_id = %(b)s), "
        "(SELECT count(*) FROM bot_executions WHERE bot_id = %(b)s)", {"b": bot_id}).fetchone()
    assert rows == ("", 1, 0)  # the caller rolled back: all of it is gone

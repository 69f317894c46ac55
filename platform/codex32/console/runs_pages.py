"""Run pages: the workspace's runs, one run live (status, logs, result, error, figures,
deliveries) and cancelling it.

Thin, as an API view: read the query, call the execution and delivery services the REST API
calls (``/api/v1/executions``), render. A running run's page polls a fragment of itself
(htmx) until the run ends; the fragment stops asking once it shows a final status.
"""

from __future__ import annotations

import uuid

from flask import redirect, render_template, request, url_for

from codex32.auth.guard import current_principal
from codex32.auth.rbac import Permission
from codex32.console import run_figures
from codex32.console.blueprint import blp, page
from codex32.console.names import bot_names
from codex32.db import db
from codex32.services import deliveries, executions
from codex32.services.pages import PageRequest

PAGE_SIZE = 25
POLL_SECONDS = 1


def _choice(name: str, allowed: tuple[str, ...]) -> str | None:
    value = request.args.get(name, "")
    return value if value in allowed else None


@blp.route("/runs", methods=["GET"])
@page(Permission.VIEW_BOTS)
def runs():
    """The workspace's runs, newest first, filtered by status and trigger (as the API's)."""
    status = _choice("status", executions.STATUSES)
    trigger = _choice("trigger", executions.TRIGGERS)
    try:
        bot_id = uuid.UUID(request.args.get("bot_id", ""))
    except ValueError:
        bot_id = None
    number = max(1, min(request.args.get("page", 1, type=int) or 1, 10_000))
    found = executions.list_executions(db.session, PageRequest(number, PAGE_SIZE),
                                       bot_id=bot_id, status=status, trigger=trigger)
    names = bot_names({item["bot_id"] for item in found.items})
    return render_template("console/runs/list.html", page=found, names=names,
                           status=status or "", trigger=trigger or "",
                           bot_id=bot_id, statuses=executions.STATUSES,
                           triggers=executions.TRIGGERS, figures=run_figures)


def _shown(execution_id: uuid.UUID) -> dict:
    """What a run's page shows: the execution and its deliveries as the API shows them, and
    its bot's name."""
    execution = executions.detail(db.session, execution_id)
    return {"run": execution, "bot_name": bot_names({execution["bot_id"]})[execution["bot_id"]],
            "deliveries": deliveries.list_for_execution(db.session, execution_id),
            "figures": run_figures, "poll_seconds": POLL_SECONDS}


@blp.route("/runs/<uuid:execution_id>", methods=["GET"])
@page(Permission.VIEW_BOTS)
def run(execution_id):
    """One run: status, logs, result or error with traceback, timings, deliveries."""
    return render_template("console/runs/detail.html", **_shown(execution_id))


@blp.route("/runs/<uuid:execution_id>/live", methods=["GET"])
@page(Permission.VIEW_BOTS)
def run_live(execution_id):
    """The changing part of a run's page (htmx polls it while the run is going)."""
    return render_template("console/runs/live.html", **_shown(execution_id))


@blp.route("/runs/<uuid:execution_id>/cancel", methods=["POST"])
@page(Permission.EXECUTE_BOT)
def cancel_run(execution_id):
    """Cancel the run (as ``POST /api/v1/executions/<id>/cancel``); back to its page."""
    executions.cancel(db.session, current_principal(), execution_id)
    if request.headers.get("HX-Request"):
        return render_template("console/runs/live.html", **_shown(execution_id))
    return redirect(url_for("console.run", execution_id=execution_id), code=303)

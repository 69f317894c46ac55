"""The usage and cost page: spend and tokens per day, model and purpose, against the budget.

Thin, as an API view: the ledger report the REST API serves (``GET /api/v1/usage``) grouped
three ways, and the budgets (``GET /api/v1/budgets``) only for a role that may read them there;
:mod:`codex32.console.usage_figures` turns them into chart points, :mod:`codex32.console.charts`
draws them.
"""

from __future__ import annotations

from datetime import UTC, datetime

from flask import render_template, request

from codex32.auth.guard import current_principal
from codex32.auth.rbac import Permission
from codex32.console import charts, usage_figures
from codex32.console.blueprint import blp, page
from codex32.console.names import bot_names
from codex32.db import db
from codex32.services import api_keys
from codex32.services.gateway import budgets as budget_service
from codex32.services.gateway import ledger

UNITS = {"cost": "usd", "tokens": "tokens"}
WORDS = {"cost": "Spend", "tokens": "Tokens"}


@blp.route("/usage", methods=["GET"])
@page(Permission.VIEW_ANALYTICS)
def usage():
    """Charts of the last 7, 30 or 90 days, by cost or tokens, with a data table each."""
    days = request.args.get("days", 30, type=int)
    days = days if days in usage_figures.WINDOWS else 30
    metric = request.args.get("metric", "cost")
    metric = metric if metric in usage_figures.METRICS else "cost"
    start, end, dates = usage_figures.window(days, datetime.now(UTC).date())
    by_day = ledger.report(db.session, start, end, ["day"])["groups"]
    by_model = ledger.report(db.session, start, end, ["model"])["groups"]
    by_purpose = ledger.report(db.session, start, end, ["purpose"])["groups"]
    totals = ledger.report(db.session, start, end, [])["groups"]
    budgets = (budget_service.list_budgets(db.session)
               if current_principal().can(Permission.MANAGE_WORKSPACE) else None)
    unit, word = UNITS[metric], WORDS[metric]
    limit = usage_figures.daily_limit(budgets or []) if metric == "cost" else None
    figures = [
        charts.columns("per-day", f"{word} per day", usage_figures.daily_points(
            by_day, dates, metric), unit=unit, limit=limit),
        charts.bars("per-model", f"{word} per model", usage_figures.category_points(
            by_model, "model", metric), unit=unit),
        charts.bars("per-purpose", f"{word} per purpose", usage_figures.category_points(
            by_purpose, "purpose", metric), unit=unit),
    ]
    return render_template(
        "console/usage/page.html", days=days, metric=metric, windows=usage_figures.WINDOWS,
        metrics=usage_figures.METRICS, words=WORDS, charts=figures,
        totals=totals[0] if totals else None, start=start, end=end,
        gauges=usage_figures.gauges(budgets, _owners(budgets)) if budgets is not None else None,
        format_value=charts.format_value)


def _owners(budgets: list[dict]) -> dict[str, str]:
    """The names of the API keys and bots that budgets are for, by id (what the role may
    read: keys need the permission the keys' API needs)."""
    names = {}
    if any(budget["scope"] == "api_key" for budget in budgets) and current_principal().can(
            Permission.MANAGE_KEYS):
        names.update({str(key.id): key.name for key in api_keys.list_keys(db.session)})
    bots = bot_names(budget["scope_id"] for budget in budgets if budget["scope"] == "bot")
    names.update({str(bot_id): name for bot_id, name in bots.items()})
    return names

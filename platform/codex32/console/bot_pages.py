"""Bot pages: the list with search and status, and one bot's page.

Thin, as an API view: read the form or query, call the bot services the REST API calls, render.
"""

from __future__ import annotations

from flask import render_template, request

from codex32.auth.rbac import Permission
from codex32.console.blueprint import blp, page
from codex32.db import db
from codex32.services import bots as bot_service
from codex32.services.pages import PageRequest

PAGE_SIZE = 25


@blp.route("/bots", methods=["GET"])
@page(Permission.VIEW_BOTS)
def bots():
    """The workspace's bots, newest first, filtered by text and status."""
    q = request.args.get("q", "").strip()[:200]
    status = request.args.get("status", "")
    status = status if status in bot_service.STATUSES else ""
    number = max(1, min(request.args.get("page", 1, type=int) or 1, 10_000))
    found = bot_service.list_bots(db.session, PageRequest(number, PAGE_SIZE), status=status or None,
                           q=q or None)
    template = ("console/bots/rows.html" if request.headers.get("HX-Request")
                else "console/bots/list.html")
    return render_template(template, page=found, q=q, status=status, statuses=bot_service.STATUSES)



@blp.route("/bots/<uuid:bot_id>", methods=["GET"])
@page(Permission.VIEW_BOTS)
def bot(bot_id):
    """One bot: its versions, settings, secrets' names, schedule, runs and suggestions."""
    found = bot_service.get(db.session, bot_id)
    return render_template("console/bots/detail.html", bot=found)

"""The builder: describe a bot, answer its questions, watch it generate and validate, accept.

Thin, as ``/api/v1/builder``: the same conversation and build services; a turn calls a model,
so the view ends its transaction first, exactly as the API view does.
"""

from __future__ import annotations

from flask import render_template

from codex32.auth.rbac import Permission
from codex32.console.blueprint import blp, page
from codex32.db import db
from codex32.services.builder import conversations
from codex32.services.pages import PageRequest


@blp.route("/builder", methods=["GET"])
@page(Permission.VIEW_BOTS)
def builder():
    """The builder's start: a box to describe a bot, and the recent conversations."""
    recent = conversations.list_conversations(db.session, PageRequest(1, 10))
    return render_template("console/builder/start.html", recent=recent)


@blp.route("/builder", methods=["POST"])
@page(Permission.USE_BUILDER)
def builder_start():
    """Start a conversation from the description (as ``POST /api/v1/builder/conversations``)."""
    raise NotImplementedError


@blp.route("/builder/<uuid:conversation_id>", methods=["GET"])
@page(Permission.VIEW_BOTS)
def conversation(conversation_id):
    """One conversation: the chat, the specification, the build's progress and files."""
    found = conversations.detail(db.session, conversation_id)
    return render_template("console/builder/conversation.html", conversation=found)

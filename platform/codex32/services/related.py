"""Related objects of a listed page, each kind loaded in one query (API v2's ``expand=``).

A page of bots asks for their current versions, a page of executions for their bots: one
statement per kind for the whole page, never one per item. Reads only; RLS scopes them.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session

from codex32.db.models import Bot, BotVersion
from codex32.services.bots import LIST_COLUMNS

VERSION_COLUMNS = (BotVersion.id, BotVersion.bot_id, BotVersion.number, BotVersion.message,
                   BotVersion.created_by, BotVersion.created_at)


def current_versions(session: Session,
                     bots: Iterable[tuple[uuid.UUID, int]]) -> dict[uuid.UUID, dict[str, Any]]:
    """The current version (without code) of each ``(bot id, current_version)``, by bot id."""
    pairs = [(bot_id, number) for bot_id, number in bots if number]
    if not pairs:
        return {}
    rows = session.execute(select(*VERSION_COLUMNS).where(
        tuple_(BotVersion.bot_id, BotVersion.number).in_(pairs))).mappings()
    return {row["bot_id"]: dict(row) for row in rows}


def bots_by_id(session: Session, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, dict[str, Any]]:
    """The bots with these ids (as listed), by id; an id of a deleted bot is left out."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    rows = session.execute(select(*LIST_COLUMNS).where(Bot.id.in_(wanted))).mappings()
    return {row["id"]: dict(row) for row in rows}

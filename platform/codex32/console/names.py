"""Names of the bots (and API keys) that a console page refers to by id, read through the
services the API reads them with. A bot deleted since shows the start of its id."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from codex32.db import db
from codex32.errors import NotFound
from codex32.services import bots as bot_service


def bot_names(bot_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, str]:
    """Each bot's name by id (a page shows a handful: one read each)."""
    names = {}
    for bot_id in set(bot_ids):
        try:
            names[bot_id] = bot_service.get(db.session, bot_id).name
        except NotFound:
            names[bot_id] = str(bot_id)[:8]
    return names

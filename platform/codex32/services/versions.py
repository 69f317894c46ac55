"""Bot versions: immutable, numbered from 1 per bot; rollback adds a new version.

A version row is appended by :func:`codex32.services.bots.add_version` (a bot and its
``current_version`` change together); this module is the versions resource on top of it.
"""

from __future__ import annotations

import uuid

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from codex32.auth.principal import Principal
from codex32.db.models import BotVersion
from codex32.errors import NotFound
from codex32.services import audit
from codex32.services.bots import add_version
from codex32.services.bots import get as get_bot
from codex32.services.code import check_code
from codex32.services.pages import KeysetRequest, Page, PageRequest, Slice, fetch, paged

# bot_versions.number is a 32-bit INTEGER: a larger number cannot exist, and PostgreSQL would
# refuse to compare with it ("integer out of range") instead of finding nothing.
MAX_NUMBER = 2**31 - 1


def create(session: Session, principal: Principal, bot_id: uuid.UUID, code: str,
           message: str = "") -> BotVersion:
    """A new version of a bot's code, which becomes current."""
    check_code(code)
    bot = get_bot(session, bot_id, lock=True)
    version = add_version(session, principal, bot, code, message or "New version")
    audit.record(session, principal, "version.create", "bot", bot.id,
                 {"version": version.number, **audit.code_summary(code)})
    session.flush()
    return version


def rollback(session: Session, principal: Principal, bot_id: uuid.UUID,
             number: int) -> BotVersion:
    """A new version carrying the code of version ``number``."""
    bot = get_bot(session, bot_id, lock=True)
    source = get(session, bot_id, number)
    version = add_version(session, principal, bot, source.code, f"Rollback to version {number}",
                          source.files)
    audit.record(session, principal, "bot.rollback", "bot", bot.id,
                 {"from_version": number, "version": version.number})
    session.flush()
    return version


def get(session: Session, bot_id: uuid.UUID, number: int) -> BotVersion:
    """One version of a bot."""
    if not 1 <= number <= MAX_NUMBER:
        raise NotFound(f"version {number} not found")
    version = session.execute(select(BotVersion).where(
        BotVersion.bot_id == bot_id, BotVersion.number == number)).scalar()
    if version is None:
        raise NotFound(f"version {number} not found")
    return version


def list_versions(session: Session, bot_id: uuid.UUID,
                  page: PageRequest | KeysetRequest) -> Page | Slice:
    """Versions of a bot, newest first, without their code."""
    found = fetch(session, page, _LIST, {"bot_id": bot_id})
    if not found.items:  # no versions: a bot without code, or no such bot (404)
        get_bot(session, bot_id)
    return found


_LIST = paged((BotVersion.id, BotVersion.bot_id, BotVersion.number, BotVersion.message,
               BotVersion.created_by, BotVersion.created_at),
              [BotVersion.bot_id == bindparam("bot_id")], (BotVersion.number.desc(),))

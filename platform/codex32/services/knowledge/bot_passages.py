"""Bots as searchable passages: name and description, README, configuration and code of the
current version; and the hooks that queue their indexing when a bot changes.

The hooks only defer a job in the caller's transaction (it commits with the change, and the
request never waits for an embedder): :func:`reindex_later` where a version is created or a
bot's name or description changes, :func:`forget_later` before a bot is deleted (its chunks go
with it by cascade; their vectors by the job).
"""

from __future__ import annotations

import uuid
from dataclasses import replace

from sqlalchemy import select
from sqlalchemy.orm import Session

from codex32.db.knowledge_models import KnowledgeChunk
from codex32.db.models import Bot, BotVersion
from codex32.execution import queue
from codex32.services.knowledge import chunking, parsing

README_NAMES = ("README.md", "readme.md", "README.txt", "README")
CONFIG_NAMES = ("config.yaml", "config.yml", "config.json")


def reindex_later(session: Session, workspace_id: uuid.UUID | str,
                  bot_id: uuid.UUID | str) -> None:
    """Queue the re-indexing of a bot in the caller's transaction."""
    queue.defer_knowledge(session, queue.INDEX_BOT_TASK, workspace_id, bot_id=str(bot_id))


def forget_later(session: Session, workspace_id: uuid.UUID | str,
                 bot_id: uuid.UUID | str) -> None:
    """Queue the deletion of a bot's vectors (call before the bot's rows are deleted)."""
    ids = [str(i) for i in session.execute(select(KnowledgeChunk.id).where(
        KnowledgeChunk.bot_id == uuid.UUID(str(bot_id)))).scalars()]
    if ids:
        queue.defer_knowledge(session, queue.FORGET_VECTORS_TASK, workspace_id, ids=ids)


def chunks(bot: Bot, version: BotVersion | None, *, max_tokens: int,
           overlap: int) -> list[chunking.Chunk]:
    """The bot's passages, each located by ``file`` and character offsets within it."""
    files = dict(version.files or {}) if version is not None else {}
    parts: list[tuple[str, tuple[str, ...], parsing.Parsed]] = []
    about = f"{bot.name}\n\n{bot.description}".strip()
    parts.append(("", (), parsing.Parsed(about, [parsing.Section((), 0, len(about))])))
    readme = next((files[name] for name in README_NAMES if files.get(name)), None)
    if readme:
        parts.append(("README.md", ("README",), parsing.markdown(readme)))
    config_name = next((name for name in CONFIG_NAMES if files.get(name)), None)
    if config_name:
        config = files[config_name]
        parts.append((config_name, ("Configuration",),
                      parsing.Parsed(config, [parsing.Section((), 0, len(config))])))
    if version is not None and version.code:
        parts.append(("bot.py", ("Code",),
                      parsing.Parsed(version.code, [parsing.Section((), 0, len(version.code))])))
    found: list[chunking.Chunk] = []
    for file, prefix, parsed in parts:
        sections = [replace(s, headings=(bot.name, *prefix, *s.headings))
                    for s in parsed.sections]
        for piece in chunking.chunk(replace(parsed, sections=sections),
                                    max_tokens=max_tokens, overlap=overlap):
            location = {**piece.location, **({"file": file} if file else {})}
            found.append(replace(piece, ordinal=len(found), location=location))
    return found

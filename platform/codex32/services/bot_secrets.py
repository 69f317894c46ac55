"""Bot secrets: the values a bot reads as ``context.secrets``, set for the whole workspace or
for one bot.

A run sees every workspace secret and its own bot's secrets; a bot's secret wins over a
workspace secret of the same name. Values are write-only: encrypted at rest under
CODEX32_SECRETS_KEYS (the providers' key box, so ``codex32 secrets rotate`` re-encrypts them
too) and never returned, logged or audited; only names are. No Flask here.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from codex32 import runtime
from codex32.auth.principal import Principal
from codex32.crypto import SecretBox, SecretsUndecryptable
from codex32.db.models import BotSecret
from codex32.errors import Conflict, Invalid, NotFound, TooLarge
from codex32.services import audit, bots

# The names the templates accept for the secrets they ask for (template_generator.py).
NAME_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
MAX_VALUE_BYTES = 16 * 1024
MAX_PER_SCOPE = 100


def check_name(name: str) -> None:
    """422 unless ``name`` is an ASCII identifier of at most 64 characters (case matters)."""
    if not NAME_PATTERN.fullmatch(name):
        raise Invalid("a secret's name is 1 to 64 ASCII letters, digits and _, not starting "
                      "with a digit", errors={"path": {"name": [
                          "must match ^[A-Za-z_][A-Za-z0-9_]{0,63}$"]}})


def _scope(bot_id: uuid.UUID | None) -> Any:
    return BotSecret.bot_id.is_(None) if bot_id is None else BotSecret.bot_id == bot_id


def _shown(row: BotSecret) -> dict[str, Any]:
    return {"name": row.name, "scope": "workspace" if row.bot_id is None else "bot",
            "bot_id": row.bot_id, "updated_at": row.updated_at}


def _bot(session: Session, bot_id: uuid.UUID | None) -> None:
    """404 unless ``bot_id`` (when given) names a bot of the bound workspace."""
    if bot_id is not None:
        bots.get(session, bot_id)


def list_names(session: Session, bot_id: uuid.UUID | None = None) -> list[dict[str, Any]]:
    """Names (never values) by name: the workspace's secrets, or what a run of ``bot_id``
    sees (its own secrets and the workspace secrets they do not override)."""
    _bot(session, bot_id)
    scope = _scope(None) if bot_id is None else or_(_scope(None), _scope(bot_id))
    found = session.execute(select(BotSecret.name, BotSecret.bot_id, BotSecret.updated_at)
                            .where(scope)).all()
    visible = _by_name(found)
    return [_shown(visible[name]) for name in sorted(visible)]


def put(session: Session, principal: Principal, name: str, value: str,
        bot_id: uuid.UUID | None = None) -> tuple[dict[str, Any], bool]:
    """Set a secret (workspace-wide without ``bot_id``); returns it shown and whether it is
    new. The value it holds already (compared decrypted) is no mutation: not re-encrypted,
    no ``updated_at``, not audited."""
    check_name(name)
    if len(value.encode("utf-8", "surrogatepass")) > MAX_VALUE_BYTES:
        raise TooLarge(f"a secret's value is at most {MAX_VALUE_BYTES} bytes")
    _bot(session, bot_id)
    row = session.execute(select(BotSecret).where(_scope(bot_id), BotSecret.name == name)
                          .with_for_update()).scalar()
    created = row is None
    now = datetime.now(UTC)
    if row is None:
        count = session.execute(select(func.count()).select_from(BotSecret)
                                .where(_scope(bot_id))).scalar() or 0
        if count >= MAX_PER_SCOPE:
            where = "a bot" if bot_id else "the workspace"
            raise Invalid(f"{where} holds at most {MAX_PER_SCOPE} secrets: delete one first")
        row = BotSecret(workspace_id=principal.workspace_id, id=uuid.uuid4(), bot_id=bot_id,
                        name=name, created_at=now)
        session.add(row)
    elif _holds(row, value):  # the value it has: no mutation, nothing written
        return _shown(row), False
    row.value = _box().seal({"value": value})
    row.updated_by = principal.user_id
    row.updated_at = now
    _audit(session, principal, "secret.create" if created else "secret.update", name, bot_id)
    try:
        session.flush()
    except IntegrityError as exc:  # the same name was created concurrently
        raise Conflict(f"secret {name} was changed concurrently: try again") from exc
    return _shown(row), created


def _holds(row: BotSecret, value: str) -> bool:
    """Whether ``row`` holds ``value`` (one no configured key opens holds nothing)."""
    try:
        return bool(_box().open(row.value).get("value") == value)
    except SecretsUndecryptable:
        return False


def remove(session: Session, principal: Principal, name: str,
           bot_id: uuid.UUID | None = None) -> None:
    """Delete a secret; runs already started keep the value they were given."""
    _bot(session, bot_id)
    row = session.execute(select(BotSecret).where(_scope(bot_id), BotSecret.name == name)
                          .with_for_update()).scalar()
    if row is None:
        raise NotFound(f"no secret named {name[:64]!r} is set here")
    _audit(session, principal, "secret.delete", name, bot_id)
    session.delete(row)
    session.flush()


def _resource(name: str, bot_id: uuid.UUID | None) -> str:
    return name if bot_id is None else f"{bot_id}/{name}"


def _audit(session: Session, principal: Principal, action: str, name: str,
           bot_id: uuid.UUID | None) -> None:
    """The audit row of a change: the secret's name and scope, never its value."""
    audit.record(session, principal, action, "secret", _resource(name, bot_id),
                 {"name": name, "scope": "workspace" if bot_id is None else "bot",
                  "bot_id": None if bot_id is None else str(bot_id)})


def for_run(session: Session, bot_id: uuid.UUID) -> dict[str, str]:
    """The plain secrets a run of ``bot_id`` gets: the workspace's, overridden by the bot's.

    Raises ``SecretsUndecryptable`` when a value was sealed with a key no longer configured.
    """
    found = session.execute(select(BotSecret.name, BotSecret.bot_id, BotSecret.value)
                            .where(or_(_scope(None), _scope(bot_id)))).all()
    box = _box()
    return {name: box.open(row.value)["value"] for name, row in _by_name(found).items()}


def _by_name(rows: Any) -> dict[str, Any]:
    """The row each name resolves to: a bot's own secret replaces the workspace's."""
    return {row.name: row for row in sorted(rows, key=lambda row: row.bot_id is not None)}


def rotate(session: Session) -> tuple[int, list[str]]:
    """Re-encrypt every secret's value under the newest key, in the session's transaction
    (which must see every workspace); returns how many, and the rows no key opens."""
    rows = session.execute(select(BotSecret)).scalars().all()
    return len(rows), _box().rotate_each(
        rows, "value", lambda row: f"{row.workspace_id}/{_resource(row.name, row.bot_id)}")


def _box() -> SecretBox:
    return runtime.current().box

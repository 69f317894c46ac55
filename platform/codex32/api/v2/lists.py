"""API v2 lists: query arguments, the ``{data, next_cursor}`` envelope, ``expand=``.

Every v2 list is keyset-paginated (:class:`codex32.services.pages.KeysetRequest`): ``limit``
items, then ``next_cursor`` to pass as ``cursor`` for the next ones, null at the end. The
cursor is opaque and signed (:mod:`codex32.api.v2.cursors`).
"""

from __future__ import annotations

import secrets
from typing import Any

from flask import current_app
from marshmallow import Schema, fields, validate
from webargs.fields import DelimitedList

from codex32 import runtime
from codex32.api.schemas import Output, Strict, page_size
from codex32.api.v2 import cursors
from codex32.auth.guard import current_principal
from codex32.services.pages import KeysetRequest, Page, Slice


class ListArgs(Strict):
    """Query arguments of every v2 list."""

    cursor = fields.String(validate=validate.Length(min=1, max=cursors.MAX_LENGTH),
                           metadata={"description": "next_cursor of the previous answer"})
    limit = fields.Integer(load_default=20, validate=page_size,
                           metadata={"description": "items per answer, at most 100"})


def expand_field(*choices: str) -> fields.Field:
    """An ``expand`` argument: a comma-separated list of the related objects to include."""
    return DelimitedList(fields.String(validate=validate.OneOf(choices)), load_default=list,
                         metadata={"description": "related objects to include: "
                                                  + ", ".join(choices)})


def list_of(item: type[Schema], name: str) -> type[Schema]:
    """The list envelope schema of ``item``: ``data`` and ``next_cursor``."""
    attrs: dict[str, Any] = {
        "data": fields.List(fields.Nested(item), required=True),
        "next_cursor": fields.String(required=True, allow_none=True, metadata={
            "description": "pass as cursor for the next items; null: no more"}),
    }
    return type(name, (Output,), attrs)


def _secret() -> str:
    """The key cursors are signed with: SECRET_KEY (production refuses to start without
    one); in development without it, a key of this process."""
    settings = runtime.of(current_app).settings
    return settings.secret_key or current_app.extensions.setdefault(
        "codex32.cursor_key", secrets.token_hex(32))


def keyset(args: dict[str, Any], list_name: str) -> KeysetRequest:
    """The keyset request of ``args`` (``cursor`` and ``limit`` are taken out of them)."""
    cursor, limit = args.pop("cursor", None), args.pop("limit")
    after = None if cursor is None else cursors.decode(
        cursor, list_name=list_name, workspace_id=current_principal().workspace_id,
        secret=_secret())
    return KeysetRequest(after=after, size=limit)


def envelope(found: Page | Slice, list_name: str) -> dict[str, Any]:
    """The answer of a list: its items and the cursor after the last one."""
    assert isinstance(found, Slice), "a keyset request answers a slice"
    next_cursor = None if found.next_key is None else cursors.encode(
        found.next_key, list_name=list_name, workspace_id=current_principal().workspace_id,
        secret=_secret())
    return {"data": found.items, "next_cursor": next_cursor}


def whole(items: list[Any]) -> dict[str, Any]:
    """The envelope of a list answered in one piece (members, API keys: small by nature)."""
    return {"data": items, "next_cursor": None}

"""Opaque list cursors: a position in one list, bound to the workspace, signed.

A cursor is ``base64url(JSON payload) "." base64url(HMAC-SHA256)`` under a key derived from
the platform's secret key. The payload names the list and the workspace and carries the sort
key of the last item returned. A cursor that was altered, truncated, made by hand, or made for
another list or another workspace is a 400 (RLS would keep the rows hidden anyway; the check
makes the mistake visible instead of silently restarting the list).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import uuid
from datetime import datetime
from typing import Any

from codex32.errors import Malformed

MAX_LENGTH = 1024
_PURPOSE = b"codex32 api v2 list cursor"


def _mac_key(secret: str) -> bytes:
    return hmac.new(secret.encode(), _PURPOSE, hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


def encode(key: tuple[Any, ...], *, list_name: str, workspace_id: uuid.UUID,
           secret: str) -> str:
    """The cursor continuing ``list_name`` after the item whose sort key is ``key``."""
    payload = json.dumps({"l": list_name, "w": str(workspace_id),
                          "k": [_plain(part) for part in key]},
                         separators=(",", ":")).encode()
    mac = hmac.new(_mac_key(secret), payload, hashlib.sha256).digest()
    return f"{_b64(payload)}.{_b64(mac)}"


def decode(cursor: str, *, list_name: str, workspace_id: uuid.UUID,
           secret: str) -> tuple[Any, ...]:
    """The sort key ``cursor`` carries; 400 unless this server made it for this list and
    workspace."""
    try:
        if len(cursor) > MAX_LENGTH:
            raise ValueError("too long")
        encoded, _, signature = cursor.partition(".")
        payload, mac = _unb64(encoded), _unb64(signature)
        expected = hmac.new(_mac_key(secret), payload, hashlib.sha256).digest()
        if not hmac.compare_digest(mac, expected):
            raise ValueError("bad signature")
        data = json.loads(payload)
    except (ValueError, binascii.Error, UnicodeError) as exc:
        raise _invalid("the cursor is malformed or was altered; use next_cursor as given") \
            from exc
    if (not isinstance(data, dict) or data.get("l") != list_name
            or data.get("w") != str(workspace_id) or not isinstance(data.get("k"), list)):
        raise _invalid("the cursor belongs to another list")
    return tuple(data["k"])


def _invalid(message: str) -> Malformed:
    return Malformed(message, errors={"query": {"cursor": [message]}})

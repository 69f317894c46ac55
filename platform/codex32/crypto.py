"""Encryption at rest for workspace secrets: Fernet over the keys in CODEX32_SECRETS_KEYS.

The first key encrypts; every key decrypts, so keys rotate by putting a new one first and
dropping the old one after ``codex32 secrets rotate`` re-encrypted what it protected.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Iterable
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet


def secret_digest(secret: str) -> str:
    """The stored form of a high-entropy bearer secret (an API key, an invitation token):
    SHA-256 hex. A fast hash is right for these, unlike passwords."""
    return hashlib.sha256(secret.encode()).hexdigest()


class SecretsUndecryptable(RuntimeError):
    """Stored secrets were encrypted with a key that is no longer configured."""


def _fernet(key: str) -> Fernet:
    # Operators may give any string; derive a Fernet key from it so the format never matters.
    digest = hashlib.sha256(key.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


class SecretBox:
    """Encrypts and decrypts JSON objects of secrets."""

    def __init__(self, keys: list[str]) -> None:
        if not keys:
            raise ValueError("at least one secrets key is required")
        self._box = MultiFernet([_fernet(key) for key in keys])

    def seal(self, secrets: dict[str, Any]) -> str:
        """The encrypted token of ``secrets`` (under the newest key)."""
        return self._box.encrypt(json.dumps(secrets, sort_keys=True).encode()).decode()

    def open(self, token: str | None) -> dict[str, Any]:
        """The secrets in ``token`` (an empty dict for none)."""
        if not token:
            return {}
        try:
            return json.loads(self._box.decrypt(token.encode()))
        except InvalidToken as exc:
            raise SecretsUndecryptable("stored secrets cannot be decrypted with the configured "
                                       "CODEX32_SECRETS_KEYS") from exc

    def rotate(self, token: str) -> str:
        """Re-encrypt ``token`` under the newest key."""
        return self._box.rotate(token.encode()).decode()

    def rotate_each(self, rows: Iterable[Any], column: str,
                    label: Callable[[Any], str]) -> list[str]:
        """Re-encrypt each row's ``column`` under the newest key; returns the ``label`` of every
        row no configured key opens (left as it was)."""
        unreadable = []
        for row in rows:
            try:
                setattr(row, column, self.rotate(getattr(row, column)))
            except InvalidToken:
                unreadable.append(label(row))
        return unreadable

    def __repr__(self) -> str:
        return "<SecretBox>"

"""JWT access and refresh tokens (flask-jwt-extended): issue, decode, and the revocation list.

Access tokens carry the user (``sub``), the workspace (``ws``), the login family (``fam``), when
the membership they were issued for began (``joined``: a member removed and invited back has a
new one, which the old tokens do not name),
``gen``, the account's session generation it was issued in (a password reset starts a new
one, ending every sign-in issued before it; absent for the first),
and ``ws_only`` when the sign-in is good in its workspace only (see :func:`issue_pair`);
refresh tokens rotate within their family, and a reused old refresh token revokes the family.
A workspace switch moves a sign-in to its family's successor (:func:`successor_family`, derived
from the old id) and leaves a ``switched:<family>`` mark, so the reuse of a token from before
the switch still finds, and revokes, the sign-in it became (:func:`revoke_lineage`).
"""

from __future__ import annotations

import hashlib
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

import jwt as pyjwt
from flask import Flask, current_app
from flask_jwt_extended import JWTManager, create_access_token, create_refresh_token
from sqlalchemy import text
from sqlalchemy.orm import Session

from codex32.errors import Unauthorized

jwt_manager = JWTManager()

# How many switched families revoke_lineage looks up per statement, and at most how many times.
LINEAGE_BATCH = 32
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
LINEAGE_BATCHES = 64



@dataclass(frozen=True)
class TokenPair:
    """A freshly issued pair and the access token's lifetime in seconds."""

    access_token: str
    refresh_token: str
    expires_in: int

    def as_dict(self) -> dict[str, Any]:
        return {"access_token": self.access_token, "refresh_token": self.refresh_token,
                "token_type": "bearer", "expires_in": self.expires_in}


def init_app(app: Flask) -> None:
    """Configure flask-jwt-extended: HS256 only, tokens from our own header parsing."""
    app.config.setdefault("JWT_ALGORITHM", "HS256")
    app.config["JWT_DECODE_ALGORITHMS"] = ["HS256"]
    app.config.setdefault("JWT_TOKEN_LOCATION", ["headers"])
    jwt_manager.init_app(app)


def issue_pair(user_id: uuid.UUID | str, workspace_id: uuid.UUID | str,
               family: str | None = None, *, joined: int | None = None,
               generation: int = 0, workspace_only: bool = False) -> TokenPair:
    """Issue an access and a refresh token for one membership, in ``family`` or a new one.
    ``joined``: when that membership began (:func:`joined_claim`; a refresh keeps it).
    ``generation``: the account's session generation (:func:`generation_of`; a refresh keeps
    it).
    ``workspace_only``: the sign-in may not be switched to another workspace (the claim
    ``ws_only``; a refresh keeps it), for what a workspace's own identity provider vouches."""
    claims: dict[str, Any] = {"ws": str(workspace_id), "fam": family or uuid.uuid4().hex}
    if joined is not None:
        claims["joined"] = joined
    if generation:
        claims["gen"] = generation
    if workspace_only:
        claims["ws_only"] = True
    access = create_access_token(identity=str(user_id), additional_claims=claims)
    refresh = create_refresh_token(identity=str(user_id), additional_claims=claims)
    lifetime = current_app.config["JWT_ACCESS_TOKEN_EXPIRES"]
    return TokenPair(access, refresh, int(lifetime.total_seconds()))


def decode(token: str, expected_type: str) -> dict[str, Any]:
    """Verify signature, expiry, algorithm and type; any failure is 401."""
    try:
        claims = _verified(current_app.config["JWT_SECRET_KEY"], token)
    except pyjwt.ExpiredSignatureError as exc:
        raise Unauthorized("the token has expired") from exc
    except Unauthorized:
        raise
    except Exception as exc:  # bad signature, alg none, malformed, tampered
        raise Unauthorized("the token is invalid") from exc
    if claims["exp"] <= time.time():  # also for a token verified earlier
        raise Unauthorized("the token has expired")
    if claims.get("type") != expected_type:
        raise Unauthorized(f"a {expected_type} token is required")
    return dict(claims)


@lru_cache(maxsize=4096)
def _verified(secret: str, token: str) -> dict[str, Any]:
    """The claims of a token whose signature and claims check out (cached: a client sends the
    same token on every request until it expires). Failures raise and are not cached; ``nbf``
    and ``iat`` only become more valid with time, and :func:`decode` checks ``exp`` on every
    use."""
    # One verified decode (flask-jwt-extended's decode_token parses the token three times).
    claims = pyjwt.decode(token, secret, algorithms=["HS256"],
                          options={"require": ["exp", "iat", "sub", "jti"]})
    for claim in ("sub", "ws", "fam", "jti", "exp"):
        if not claims.get(claim):
            raise Unauthorized("the token is invalid")
    try:
        uuid.UUID(str(claims["sub"]))
        uuid.UUID(str(claims["ws"]))
    except ValueError as exc:
        raise Unauthorized("the token is invalid") from exc
    if not isinstance(claims["exp"], int | float):
        raise Unauthorized("the token is invalid")
    return claims


def revoke(session: Session, ids: list[str], expires_at: datetime) -> None:
    """Add token or family ids to the revocation list (idempotent)."""
    session.execute(text(
        "INSERT INTO token_blocklist (jti, expires_at) SELECT unnest(CAST(:ids AS text[])), :exp "
        "ON CONFLICT (jti) DO NOTHING"), {"ids": ids, "exp": expires_at})


def use_once(session: Session, jti: str, expires_at: datetime) -> bool:
    """Mark a refresh token used, atomically: True for exactly one caller, however many race
    (the loser's INSERT waits for the winner's row and then finds it)."""
    return session.execute(text(
        "INSERT INTO token_blocklist (jti, expires_at) VALUES (:jti, :exp) "
        "ON CONFLICT (jti) DO NOTHING RETURNING jti"), {"jti": jti, "exp": expires_at}
    ).first() is not None


def joined_claim(joined_at: datetime) -> int:
    """The ``joined`` claim for a membership that began at ``joined_at``: microseconds since
    the epoch (exact, unlike a float)."""
    return (joined_at - EPOCH) // timedelta(microseconds=1)


def names_membership(claims: dict[str, Any], joined_at: datetime) -> bool:
    """Whether a token was issued for the membership that began at ``joined_at``: not for an
    older one of the same user and workspace (removed since). A token without the claim
    (issued before it existed) is taken as this membership's."""
    joined = claims.get("joined")
    return joined is None or joined == joined_claim(joined_at)


def generation_of(claims: dict[str, Any]) -> int:
    """The session generation a token was issued in (0 without the claim): a token whose
    generation is not the account's current one was issued before a password reset."""
    generation = claims.get("gen", 0)
    return generation if isinstance(generation, int) else -1


def successor_family(family: str) -> str:
    """The family a workspace switch moves the sign-in of ``family`` to: derived from it, so
    the reuse of a token from before the switch can reach the sign-in it became."""
    return hashlib.sha256(f"switch:{family}".encode()).hexdigest()[:32]


def mark_switched(session: Session, claims: dict[str, Any], expires_at: datetime) -> None:
    """Revoke the family of ``claims`` as a switch does, leaving the mark that says it went on
    as :func:`successor_family` (kept until ``expires_at``, the successor's refresh expiry)."""
    revoke(session, [family_id(claims), f"switched:{claims['fam']}"], expires_at)


def revoke_lineage(session: Session, claims: dict[str, Any]) -> None:
    """Revoke the family of ``claims`` and every family a workspace switch moved it to (kept
    revoked as long as a refresh token issued now could live: a successor's tokens may)."""
    ids, family = [], str(claims["fam"])
    for _ in range(LINEAGE_BATCHES):
        chain = [family]
        while len(chain) < LINEAGE_BATCH:
            chain.append(successor_family(chain[-1]))
        marked = set(session.execute(text(
            "SELECT jti FROM token_blocklist WHERE jti = ANY(CAST(:ids AS text[]))"),
            {"ids": [f"switched:{found}" for found in chain]}).scalars())
        ended = next((found for found in chain if f"switched:{found}" not in marked), None)
        ids += [f"fam:{found}" for found in chain[:chain.index(ended) + 1 if ended else None]]
        if ended is not None:
            break
        family = successor_family(chain[-1])
    lifetime = current_app.config["JWT_REFRESH_TOKEN_EXPIRES"]
    revoke(session, ids, datetime.now(UTC) + lifetime)


def family_id(claims: dict[str, Any]) -> str:
    """The revocation-list id of a token's login family."""
    return f"fam:{claims['fam']}"


def expiry(claims: dict[str, Any]) -> datetime:
    """The token's expiry as an aware datetime."""
    return datetime.fromtimestamp(int(claims["exp"]), tz=UTC)

"""Sign-in flows: password login, refresh-token rotation, revocation and "who am I".

Unknown email, unverified address, wrong password and a right password for an account that
belongs to no workspace fail the same way, in the same time.
Attempts are throttled per (email, client address) pair and, more loosely, per client address,
never per email alone: a stranger's wrong passwords cannot lock the owner out. The lookup of
an account by its verified address is here, in the core, for the tenancy domain to use too.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, NoReturn

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from codex32.auth import tokens
from codex32.auth.passwords import burn_verify, verify_password
from codex32.auth.principal import (
    Origin,
    Principal,
    granted_role,
    membership,
    membership_role,
)
from codex32.db import tenancy
from codex32.db.models import Membership, User, Workspace
from codex32.errors import Forbidden, RateLimited, Unauthorized
from codex32.ratelimit import RateLimiter
from codex32.services import audit

LOGIN_WINDOW = 15 * 60
ADDRESS_FACTOR = 10  # one address may try this many accounts' worth of attempts
# One answer for an unknown email, a wrong password, an unverified address and a right
# password with no workspace to sign in to: none may tell a guesser that the guess was right.
BAD_CREDENTIALS = ("invalid email or password (a new account must verify its email first; an "
                   "account that belongs to no workspace has nothing to sign in to)")
WORKSPACE_ONLY = ("this sign-in, through the workspace's own identity provider, is good in "
                  "this workspace only; sign in to the other workspace itself")


@dataclass(frozen=True)
class Throttle:
    """The limiter and the attempts allowed per (email, address) pair per window."""

    limiter: RateLimiter
    attempts: int

    def keys(self, email: str, ip: str | None) -> list[tuple[str, int]]:
        """The counters one attempt hits, with their allowances, the address's first: an
        attempt it refuses counts (and leaves) nothing per email."""
        return [(f"login:ip:{ip}", self.attempts * ADDRESS_FACTOR),
                (f"login:pair:{ip}:{email.lower()}", self.attempts)]


def login(session: Session, email: str, password: str, workspace: str | None,
          throttle: Throttle, origin: Origin) -> tokens.TokenPair:
    """Verify the password and issue tokens for one of the user's workspaces (audited as
    ``auth.login`` in that workspace)."""
    keys = throttle.keys(email, origin.ip)
    for key, allowed in keys:
        decision = throttle.limiter.hit(key, allowed, LOGIN_WINDOW)
        if not decision.allowed:
            raise RateLimited("too many sign-in attempts; try again later", decision.reset_after)
    user = find_by_email(session, email)
    if user is None:
        burn_verify(password)
        raise Unauthorized(BAD_CREDENTIALS)
    if not verify_password(user.password_hash, password):
        raise Unauthorized(BAD_CREDENTIALS)
    workspace_id = _choose_workspace(session, user.id, workspace)
    throttle.limiter.reset(keys[1][0], LOGIN_WINDOW)  # the pair's failures
    stamp = record_sign_in(session, user.id, workspace_id, origin, {"method": "password"})
    return tokens.issue_pair(user.id, workspace_id, joined=stamp.joined,
                             generation=stamp.generation)


@dataclass(frozen=True)
class Stamp:
    """What a sign-in's tokens carry about the account: when the membership began (the
    ``joined`` claim, :func:`codex32.auth.tokens.joined_claim`) and the account's session
    generation (``gen``, which a password reset advances)."""

    joined: int | None
    generation: int


def record_sign_in(session: Session, user_id: uuid.UUID, workspace_id: uuid.UUID | str,
                   origin: Origin, details: dict[str, Any]) -> Stamp:
    """Audit a sign-in (``auth.login``) in the workspace it signs in to, which it binds; what
    its tokens carry (:class:`Stamp`)."""
    tenancy.bind(session, workspace_id)
    found = session.execute(select(Membership.role, Membership.created_at)
                            .where(Membership.user_id == user_id)).first()
    generation = session.execute(select(User.session_generation)
                                 .where(User.id == user_id)).scalar_one()
    role = found.role if found is not None else ""
    principal = Principal(workspace_id=uuid.UUID(str(workspace_id)), role=role,
                          user_id=user_id, origin=origin)
    audit.record(session, principal, "auth.login", "user", user_id, details)
    joined = tokens.joined_claim(found.created_at) if found is not None else None
    return Stamp(joined, generation)


def find_by_email(session: Session, email: str) -> User | None:
    """The account that holds this verified address, ignoring case (pending ones never do)."""
    return session.execute(select(User).where(func.lower(User.email) == email.lower(),
                                              User.email_verified_at.is_not(None))).scalar()


def _choose_workspace(session: Session, user_id: uuid.UUID, wanted: str | None) -> str:
    rows = session.execute(text("SELECT workspace_id, slug FROM auth_user_workspaces(:u)"),
                           {"u": user_id}).all()
    if wanted:
        for row in rows:
            if wanted in (str(row.workspace_id), row.slug):
                return str(row.workspace_id)
        # The same answer as a bad password: do not reveal memberships.
        raise Unauthorized(BAD_CREDENTIALS)
    if not rows:  # the answer of a wrong password: a right one must not show
        raise Unauthorized(BAD_CREDENTIALS)
    return str(rows[0].workspace_id)


def _live_membership(session: Session, claims: dict[str, Any], origin: Origin
                     ) -> dict[str, Any]:
    """The membership a refresh token's sign-in stands on (its workspace bound): a revoked
    token is reuse (its family ends), no membership (or a membership anew) a 401."""
    found = membership(session, claims)
    if found is not None and found["revoked"]:
        _reject_reuse(session, claims, found, origin)
    granted_role(found)
    assert found is not None
    return found


def refresh(session: Session, refresh_token: str, origin: Origin) -> tokens.TokenPair:
    """Rotate a refresh token: it works once; any other use, even a concurrent one, revokes
    its whole family (a stolen token's thief and its owner both lose the sign-in)."""
    claims = tokens.decode(refresh_token, "refresh")
    found = _live_membership(session, claims, origin)
    if not tokens.use_once(session, claims["jti"], tokens.expiry(claims)):
        _reject_reuse(session, claims, found, origin)  # another request used it first
    return tokens.issue_pair(claims["sub"], claims["ws"], family=claims["fam"],
                             joined=tokens.joined_claim(found["joined_at"]),
                             generation=found["generation"],
                             workspace_only=bool(claims.get("ws_only")))


def _reject_reuse(session: Session, claims: dict[str, Any], found: dict[str, Any] | None,
                  origin: Origin) -> NoReturn:
    """End the token's whole sign-in, and what a workspace switch made of it, and answer 401 (a
    used or revoked token came back); the revocation stands although the request fails, with
    its audit row (``auth.reuse``: a refresh token presented again, used or signed out, is a
    sign it was stolen), while the user is still a member of the token's workspace."""
    tokens.revoke_lineage(session, claims)
    if found is not None and found.get("role"):
        principal = Principal(workspace_id=uuid.UUID(claims["ws"]), role=found["role"],
                              user_id=uuid.UUID(claims["sub"]), origin=origin)
        audit.record(session, principal, "auth.reuse", "token", claims["jti"],
                     {"family": tokens.family_id(claims), "sign_in_ended": True})
    raise Unauthorized("the refresh token has already been used or revoked", keep_writes=True)


def revoke(session: Session, token: str, origin: Origin) -> None:
    """Revoke the presented token; a refresh token takes its whole login family with it."""
    try:
        claims = tokens.decode(token, "access")
        ids = [claims["jti"]]
    except Unauthorized:
        claims = tokens.decode(token, "refresh")
        ids = [claims["jti"], tokens.family_id(claims)]
    role = membership_role(session, claims)  # also binds the token's workspace
    tokens.revoke(session, ids, tokens.expiry(claims))
    principal = Principal(workspace_id=uuid.UUID(claims["ws"]), role=role,
                          user_id=uuid.UUID(claims["sub"]), origin=origin)
    audit.record(session, principal, "auth.revoke", "token", claims["jti"],
                 {"type": claims["type"], "family": claims["type"] == "refresh"})


def workspaces_of(session: Session, user_id: uuid.UUID | str) -> list[dict[str, Any]]:
    """The workspaces the user is a member of (``workspace_id``, ``slug``, ``role``), oldest
    membership first."""
    rows = session.execute(text("SELECT workspace_id, slug, role FROM auth_user_workspaces(:u)"),
                           {"u": user_id}).mappings().all()
    return [dict(row) for row in rows]


def switch(session: Session, refresh_token: str, wanted: str, origin: Origin
           ) -> tokens.TokenPair:
    """Trade a sign-in for one in another of the user's workspaces (a slug or id): a new pair
    there, the presented token's family revoked, audited as ``auth.login`` in the new one. A
    workspace the user is not a member of is 401, as for a password sign-in; a sign-in good in
    its workspace only (``ws_only``: a workspace's own identity provider) is 403. The token is
    spent as a refresh spends it: it works once, and its reuse (even in a concurrent switch)
    ends the sign-in and the one it was switched to."""
    claims = tokens.decode(refresh_token, "refresh")
    found = _live_membership(session, claims, origin)
    if claims.get("ws_only"):
        raise Forbidden(WORKSPACE_ONLY)
    workspace_id = _choose_workspace(session, uuid.UUID(claims["sub"]), wanted)
    if not tokens.use_once(session, claims["jti"], tokens.expiry(claims)):
        _reject_reuse(session, claims, found, origin)  # another request used it first
    stamp = record_sign_in(session, uuid.UUID(claims["sub"]), workspace_id, origin,
                           {"method": "switch", "from": claims["ws"]})
    pair = tokens.issue_pair(claims["sub"], workspace_id, joined=stamp.joined,
                             generation=stamp.generation,
                             family=tokens.successor_family(claims["fam"]))
    tokens.mark_switched(session, claims, tokens.expiry(tokens.decode(pair.refresh_token,
                                                                      "refresh")))
    return pair


def me(session: Session, principal: Principal) -> dict[str, Any]:
    """The caller: user (or API key), workspace, role and permissions."""
    user = session.get(User, principal.user_id) if principal.user_id else None
    workspace = session.get_one(Workspace, principal.workspace_id)
    return {
        "user": {"id": user.id, "email": user.email} if user else None,
        "api_key_id": principal.api_key_id,
        "workspace": {"id": workspace.id, "name": workspace.name, "slug": workspace.slug},
        "role": principal.role,
        "minter_role": principal.minter_role,
        "permissions": sorted(p.value for p in principal.permissions),
    }

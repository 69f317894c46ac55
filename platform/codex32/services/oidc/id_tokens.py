"""Verifying an ID token (OpenID Connect Core 1.0, section 3.1.3.7) with joserfc.

The signature is checked against the provider's published keys, with one of the asymmetric
algorithms the provider announces (never ``none``, never HMAC, whose key would be the public
one); a key id the keys do not hold asks for the keys again once (rotation). Then the claims:
``iss`` is the provider's issuer, ``aud`` holds our client id (and with several audiences,
``azp`` is ours), ``exp`` and ``iat`` are present and current within :data:`LEEWAY_SECONDS`,
``sub`` is a short string, and ``nonce`` is the one this sign-in sent. No network, no database:
the caller hands in how to get the keys.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable, Collection
from typing import Any

from joserfc import jws, jwt
from joserfc.errors import (
    ExpiredTokenError,
    InvalidClaimError,
    InvalidKeyIdError,
    JoseError,
    MissingClaimError,
)
from joserfc.jwk import KeySet

LEEWAY_SECONDS = 60
MAX_TOKEN_BYTES = 16 * 1024


class InvalidIDToken(Exception):
    """The ID token is malformed, forged, for someone else, expired or replayed."""


def verify(id_token: Any, *, keys: Callable[[bool], KeySet], algorithms: Collection[str],
           issuer: str, client_id: str, nonce: str) -> dict[str, Any]:
    """The claims of ``id_token`` once its signature and claims check out.

    ``keys(refresh)`` returns the provider's key set, refetched when ``refresh``.
    """
    if not isinstance(id_token, str) or not id_token or len(id_token) > MAX_TOKEN_BYTES:
        raise InvalidIDToken("the ID token is missing or too large")
    try:
        header = jws.extract_compact(id_token.encode()).protected
    except (JoseError, ValueError, TypeError):
        raise InvalidIDToken("the ID token is malformed") from None
    algorithm = header.get("alg")
    if not isinstance(algorithm, str) or algorithm not in algorithms:
        raise InvalidIDToken(f"the ID token's algorithm ({str(algorithm)[:20]}) is not "
                             "accepted")
    key_set = keys(False)
    refreshed = not _holds(key_set, header.get("kid"))
    if refreshed:
        key_set = keys(True)  # the provider may have rotated its keys
    try:
        token = _decode(id_token, key_set, algorithm)
    except InvalidIDToken:
        if refreshed:
            raise
        # A provider that names no key id rotates unseen: ask for its keys once more (the
        # cache bounds how often a stream of forged tokens can make us ask).
        token = _decode(id_token, keys(True), algorithm)
    claims = token.claims
    registry = jwt.JWTClaimsRegistry(
        leeway=LEEWAY_SECONDS,
        iss={"essential": True, "value": issuer},
        aud={"essential": True, "value": client_id},
        sub={"essential": True},
        exp={"essential": True},
        iat={"essential": True},
    )
    try:
        registry.validate(claims)
    except ExpiredTokenError:
        raise InvalidIDToken("the ID token has expired") from None
    except (MissingClaimError, InvalidClaimError) as exc:
        raise InvalidIDToken(f"the ID token's claims are invalid ({exc.error})") from None
    except JoseError:
        raise InvalidIDToken("the ID token's claims are invalid") from None
    _check_times_and_parties(claims, client_id)
    found = claims.get("nonce")
    if not isinstance(found, str) or not hmac.compare_digest(found.encode(), nonce.encode()):
        raise InvalidIDToken("the ID token's nonce is not this sign-in's")
    subject = claims["sub"]
    if not isinstance(subject, str) or not 0 < len(subject) <= 255:
        raise InvalidIDToken("the ID token's subject is invalid")
    return dict(claims)


def _decode(id_token: str, key_set: KeySet, algorithm: str) -> jwt.Token:
    try:
        return jwt.decode(id_token, key_set, algorithms=[algorithm])
    except InvalidKeyIdError:
        raise InvalidIDToken("the ID token is signed with an unknown key") from None
    except (JoseError, ValueError, TypeError):
        raise InvalidIDToken("the ID token's signature is invalid") from None


def _holds(key_set: KeySet, kid: Any) -> bool:
    if kid is None:
        return len(key_set.keys) == 1
    return any(key.kid == kid for key in key_set)


def _check_times_and_parties(claims: dict[str, Any], client_id: str) -> None:
    """What the registry leaves to us: ``exp`` and ``iat`` must be numbers, ``iat`` not in the
    future, and with several audiences, ``azp`` must be us."""
    now = time.time()
    for name in ("exp", "iat"):
        if not isinstance(claims.get(name), int | float) or isinstance(claims[name], bool):
            raise InvalidIDToken(f"the ID token's {name} is not a time")
    if claims["exp"] <= now - LEEWAY_SECONDS:
        raise InvalidIDToken("the ID token has expired")
    if claims["iat"] > now + LEEWAY_SECONDS:
        raise InvalidIDToken("the ID token was issued in the future")
    audience = claims.get("aud")
    if isinstance(audience, list) and len(audience) > 1 and claims.get("azp") != client_id:
        raise InvalidIDToken("the ID token was issued to another party (azp)")

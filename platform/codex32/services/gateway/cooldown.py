"""Cooldowns: a (workspace, provider, model) that failed ``failures`` times within ``window``
seconds is skipped for ``cooldown`` seconds, in every process.

Shared through Redis when REDIS_URL is set (counters with expiry), else through the
``llm_cooldowns`` table (one upsert per failure; a success writes nothing). Redis that is
unreachable at start, or fails later, falls back to the table with a warning: cooldowns are
never kept in one process only. Only failures
that are the deployment's fault count (see :data:`retry.COOLDOWN_KINDS`).

A rest put in the table while Redis failed outlasts the outage: the process remembers how
long the rests it wrote or read there last (:func:`database_rests`), and until they end the
Redis store consults the table too (its read joins a chat's first reads: no round trip
more). Once they ended, a healthy Redis is the only store read.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from codex32 import runtime
from codex32.db import driver
from codex32.db.gateway_models import LLMCooldown
from codex32.services.gateway.calls import Deployment, stored_number, stored_section
from codex32.services.gateway.retry import COOLDOWN_KINDS

log = logging.getLogger(__name__)
# The bounds settings.llm.cooldown accepts (the API's schema uses these).
MAX_FAILURES = 100
MAX_SECONDS = 3600


@dataclass(frozen=True)
class CooldownPolicy:
    """How many failures in how long put a deployment to rest, and for how long."""

    failures: int = 3
    window: float = 60.0
    cooldown: float = 30.0

    @classmethod
    def from_settings(cls, llm_settings: dict[str, Any]) -> CooldownPolicy:
        """The policy of ``settings.llm.cooldown``; a stored value out of the API's bounds
        takes the default."""
        found = stored_section(llm_settings, "cooldown")
        return cls(failures=int(stored_number(found, "failures", cls.failures, 1,
                                              MAX_FAILURES)),
                   window=float(stored_number(found, "window_seconds", cls.window, 1,
                                              MAX_SECONDS)),
                   cooldown=float(stored_number(found, "cooldown_seconds", cls.cooldown, 1,
                                                MAX_SECONDS)))


# time.monotonic() until which a rest this process put in llm_cooldowns, or read there, lasts.
_database_rests_until = 0.0
_remembering = threading.Lock()


def _rest_in_database(seconds: Any) -> None:
    """Remember that a rest in the database lasts ``seconds`` more (None: no rest)."""
    global _database_rests_until
    if seconds is None or seconds <= 0:
        return
    with _remembering:
        _database_rests_until = max(_database_rests_until, time.monotonic() + float(seconds))


def database_rests() -> bool:
    """Whether a rest this process put in the database (or read there) may last still: the
    Redis store then reads the database too, so a rest begun while Redis failed is kept
    after it answers again."""
    return time.monotonic() < _database_rests_until


class Store(Protocol):
    def reads_database(self) -> bool: ...

    def keys(self, workspace_id: str, deployments: list[Deployment]) -> list[str]: ...

    def resting(self, session: Session, workspace_id: str, deployments: list[Deployment],
                read: driver.Rows | None = None,
                values: list[bytes | None] | None = None) -> set[Deployment]: ...

    def failed(self, session: Session, workspace_id: str, deployment: Deployment, kind: str,
               policy: CooldownPolicy) -> None: ...

    def state(self, session: Session, workspace_id: str) -> dict[tuple[str, str], dict]: ...


class DatabaseStore:
    """Cooldowns in ``llm_cooldowns`` (row-level security keeps them per workspace)."""

    # The bound workspace's deployments at rest and the seconds each rests still (the gateway
    # batches it with its first reads).
    RESTING = text("SELECT provider, model, EXTRACT(EPOCH FROM cooldown_until - now()) "
                   "FROM llm_cooldowns WHERE cooldown_until > now()")

    def reads_database(self) -> bool:
        """Whether :meth:`resting` reads the database (its :attr:`RESTING` may be read
        beforehand, with a chat's first reads)."""
        return True

    def keys(self, workspace_id: str, deployments: list[Deployment]) -> list[str]:
        """No Redis keys: see :meth:`RedisStore.keys`."""
        return []

    def resting(self, session: Session, workspace_id: str, deployments: list[Deployment],
                read: driver.Rows | None = None,
                values: list[bytes | None] | None = None) -> set[Deployment]:
        """Which of ``deployments`` rest; ``read``: the rows of :attr:`RESTING`, when the
        caller ran it already."""
        rows = (read or driver.execute(session, self.RESTING, {}))[1]
        resting = set()
        for provider, model, seconds in rows:
            resting.add((provider, model))
            _rest_in_database(seconds)
        return {d for d in deployments if (d.provider, d.model or "") in resting}

    def failed(self, session: Session, workspace_id: str, deployment: Deployment, kind: str,
               policy: CooldownPolicy) -> None:
        rests = session.execute(text("""
            INSERT INTO llm_cooldowns (workspace_id, provider, model, failures, window_start,
                                       last_error, cooldown_until)
            VALUES (:ws, :provider, :model, 1, now(), :kind,
                    CASE WHEN :limit <= 1 THEN now() + make_interval(secs => :cooldown) END)
            ON CONFLICT (workspace_id, provider, model) DO UPDATE SET
              failures = CASE WHEN llm_cooldowns.window_start
                                   < now() - make_interval(secs => :window)
                              THEN 1 ELSE llm_cooldowns.failures + 1 END,
              window_start = CASE WHEN llm_cooldowns.window_start
                                       < now() - make_interval(secs => :window)
                                  THEN now() ELSE llm_cooldowns.window_start END,
              last_error = :kind,
              cooldown_until = CASE
                WHEN llm_cooldowns.window_start >= now() - make_interval(secs => :window)
                     AND llm_cooldowns.failures + 1 >= :limit
                THEN now() + make_interval(secs => :cooldown)
                ELSE llm_cooldowns.cooldown_until END
            RETURNING EXTRACT(EPOCH FROM cooldown_until - now())"""),
            {"ws": workspace_id, "provider": deployment.provider,
             "model": deployment.model or "", "kind": kind, "limit": policy.failures,
             "window": policy.window, "cooldown": policy.cooldown}).scalar()
        _rest_in_database(rests)

    def state(self, session: Session, workspace_id: str) -> dict[tuple[str, str], dict]:
        now = datetime.now(UTC)
        found = {}
        for row in session.execute(select(LLMCooldown)).scalars():
            until = row.cooldown_until if row.cooldown_until and row.cooldown_until > now else None
            found[(row.provider, row.model)] = {
                "recent_failures": row.failures, "last_error": row.last_error,
                "cooldown_until": until}
        return found


class RedisStore:
    """Cooldowns in Redis: a failure counter per window and a resting key with an expiry.

    While Redis fails, each call falls back to the database store (still shared by every
    process) and the limiter that owns the client warns and marks Redis failing in /health.
    """

    def __init__(self, limiter: Any) -> None:
        self._limiter = limiter
        self._client = limiter.redis_client
        self._database = DatabaseStore()

    @staticmethod
    def _key(workspace_id: str, deployment: Deployment, what: str) -> str:
        return f"codex32:cooldown:{workspace_id}:{deployment.provider}:{deployment.model}:{what}"

    def _fell_back(self, exc: Exception) -> None:
        self._limiter.redis_failed(exc, "cooldowns live in the database")

    def reads_database(self) -> bool:
        """Whether :meth:`resting` reads the database too: while rests put there when Redis
        failed last (:func:`database_rests`)."""
        return database_rests()

    def keys(self, workspace_id: str, deployments: list[Deployment]) -> list[str]:
        """The Redis keys whose values :meth:`resting` reads: another round trip to Redis
        may read them (the rate limits' count does) and pass them as its ``values``."""
        return [self._key(workspace_id, d, "until") for d in deployments]

    def resting(self, session: Session, workspace_id: str, deployments: list[Deployment],
                read: driver.Rows | None = None,
                values: list[bytes | None] | None = None) -> set[Deployment]:
        """Which of ``deployments`` rest in Redis, or in the database while rests put there
        last (``read``: the rows of :attr:`DatabaseStore.RESTING`, when read already;
        ``values``: those of :meth:`keys`, when read already)."""
        if not deployments:
            return set()
        try:
            if values is None:
                values = self._client.mget(self.keys(workspace_id, deployments))
        except Exception as exc:
            self._fell_back(exc)
            return self._database.resting(session, workspace_id, deployments, read)
        found = {d for d, value in zip(deployments, values, strict=True) if value is not None}
        if database_rests():
            found |= self._database.resting(session, workspace_id, deployments, read)
        return found

    def failed(self, session: Session, workspace_id: str, deployment: Deployment, kind: str,
               policy: CooldownPolicy) -> None:
        fails = self._key(workspace_id, deployment, "fails")
        try:
            pipe = self._client.pipeline(transaction=True)
            pipe.incr(fails)
            pipe.expire(fails, max(1, int(policy.window)), nx=True)
            count = pipe.execute()[0]
            if int(count) >= policy.failures:
                until = time.time() + policy.cooldown
                self._client.set(self._key(workspace_id, deployment, "until"),
                                 f"{until}:{kind}", px=max(1, int(policy.cooldown * 1000)))
                self._client.delete(fails)
        except Exception as exc:
            self._fell_back(exc)
            self._database.failed(session, workspace_id, deployment, kind, policy)

    def state(self, session: Session, workspace_id: str) -> dict[tuple[str, str], dict]:
        try:
            found = self._redis_state(workspace_id)
        except Exception as exc:
            self._fell_back(exc)
            return self._database.state(session, workspace_id)
        if database_rests():  # rests put in the database when Redis failed last
            for key, entry in self._database.state(session, workspace_id).items():
                if entry["cooldown_until"] and not found.get(key, {}).get("cooldown_until"):
                    found[key] = entry
        return found

    def _redis_state(self, workspace_id: str) -> dict[tuple[str, str], dict]:
        found: dict[tuple[str, str], dict] = {}
        prefix = f"codex32:cooldown:{workspace_id}:"
        for raw in self._client.scan_iter(match=prefix + "*", count=200):
            key = raw.decode() if isinstance(raw, bytes) else raw
            # provider:model:what, where a model may hold colons ("llama3:8b") and a
            # provider id never does
            provider, _, rest = key[len(prefix):].partition(":")
            model, _, what = rest.rpartition(":")
            entry = found.setdefault((provider, model), {"recent_failures": 0,
                                                         "last_error": None,
                                                         "cooldown_until": None})
            value = self._client.get(key)
            if value is None:
                continue
            value = value.decode() if isinstance(value, bytes) else value
            if what == "fails":
                entry["recent_failures"] = int(value)
            else:
                until, _, kind = value.partition(":")
                entry["cooldown_until"] = datetime.fromtimestamp(float(until), UTC)
                entry["last_error"] = kind
        return found


def store() -> Store:
    """Where cooldowns live: the runtime's Redis when it has one, else (and while Redis fails,
    :attr:`~codex32.ratelimit.RateLimiter.redis_usable`) the database."""
    limiter = runtime.current().limiter
    return RedisStore(limiter) if limiter.redis_usable else DatabaseStore()


def recorder(session: Session, workspace_id: str, llm_settings: dict[str, Any]
             ) -> Callable[[Deployment, str], None]:
    """A router's ``on_failure``: count a failure towards the deployment's cooldown, in a
    short transaction of its own. Failures of the request itself do not count."""
    policy = CooldownPolicy.from_settings(llm_settings)

    def record(deployment: Deployment, kind: str) -> None:
        if kind not in COOLDOWN_KINDS:
            return
        try:
            store().failed(session, workspace_id, deployment, kind, policy)
            session.commit()
        except Exception:  # a cooldown that cannot be written must not fail the request
            session.rollback()
            log.warning("could not record a cooldown failure", exc_info=True)
        finally:
            session.close()
    return record


def workspace_key(workspace_id: uuid.UUID | str) -> str:
    return str(uuid.UUID(str(workspace_id)))

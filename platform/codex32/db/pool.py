"""Connection pool health and use: ping a pooled connection before use when it has sat idle,
and count the connections checked out.

SQLAlchemy's ``pool_pre_ping`` pings on every checkout: one more round trip per request, and
under load a connection checked in a millisecond ago is pinged again. Like HikariCP's
``aliveBypassWindowMs``, a connection used within the last ``idle_seconds`` is trusted; one that
sat idle longer (when a database restart or an idle timeout may have closed it) is pinged, and
a dead one is replaced before the request sees it (the pool retries with a fresh connection).
"""

from __future__ import annotations

from time import monotonic
from typing import Any

from sqlalchemy import event, exc
from sqlalchemy.engine import Engine

from codex32.observability.metrics import DB_CONNECTIONS

_USED_AT = "codex32_used_at"


def watch(engine: Engine, name: str, ping_idle_seconds: float | None) -> None:
    """Instrument ``engine``'s pool: count its checked-out connections as
    ``database_connections{pool=name}``, and (unless ``ping_idle_seconds`` is None) ping
    connections idle that long or more before handing them out (0: every checkout)."""
    if ping_idle_seconds is not None:
        _ping_when_idle(engine, ping_idle_seconds)
    # After the ping: a checkout whose ping fails is retried on a fresh connection, and only
    # the attempt that succeeds reaches this listener.
    checked_out = DB_CONNECTIONS.labels(pool=name)
    event.listen(engine, "checkout", lambda *_: checked_out.inc())
    event.listen(engine, "checkin", lambda *_: checked_out.dec())


def _ping_when_idle(engine: Engine, idle_seconds: float) -> None:
    errors = engine.dialect.loaded_dbapi.Error

    @event.listens_for(engine, "checkout")
    def _ping_if_idle(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        used_at = record.info.get(_USED_AT)
        if used_at is not None and monotonic() - used_at < idle_seconds:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except errors as error:
            raise exc.DisconnectionError(f"a pooled connection failed its ping: {error}") \
                from error

    @event.listens_for(engine, "checkin")
    def _note_use(dbapi_connection: Any, record: Any) -> None:
        record.info[_USED_AT] = monotonic()

"""Pooled connections are pinged when they sat idle, and a dead one never reaches a request."""

from __future__ import annotations

import time

import pytest

from codex32.db import db


@pytest.fixture
def pings(monkeypatch):
    """Counts the pings of every engine's dialect."""
    from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg

    count = {"n": 0}
    original = PGDialect_psycopg.do_ping

    def counted(self, dbapi_connection):
        count["n"] += 1
        return original(self, dbapi_connection)

    monkeypatch.setattr(PGDialect_psycopg, "do_ping", counted)
    return count


def _backend_pids(app) -> set[int]:
    with app.app_context():
        pid = db.session.connection().exec_driver_sql("SELECT pg_backend_pid()").scalar()
        db.session.remove()
    return {pid}


def test_a_connection_used_within_the_window_is_not_pinged_again(make_app, pings):
    app = make_app(pool_ping_idle_seconds=0.3)
    _backend_pids(app)  # a new connection: pinged once
    first = pings["n"]
    assert first == 1
    _backend_pids(app)
    _backend_pids(app)
    assert pings["n"] == first  # checked in moments ago: trusted
    time.sleep(0.35)  # let the window pass (time, not work, is what is awaited)
    _backend_pids(app)
    assert pings["n"] == first + 1  # idle past the window: pinged


def test_a_connection_killed_while_idle_is_replaced_before_use(make_app, kill_backend, pings):
    app = make_app(pool_ping_idle_seconds=0)
    (pid,) = _backend_pids(app)
    kill_backend(pid)
    (fresh,) = _backend_pids(app)  # would raise OperationalError without the ping
    assert fresh != pid


def test_pre_ping_off_installs_no_ping(make_app, pings):
    app = make_app(pool_pre_ping=False)
    _backend_pids(app)
    _backend_pids(app)
    assert pings["n"] == 0


def test_checked_out_connections_are_counted(make_app):
    from prometheus_client import REGISTRY

    def checked_out() -> float:
        return REGISTRY.get_sample_value("database_connections", {"pool": "web"}) or 0.0

    app = make_app()
    before = checked_out()
    with app.app_context():
        db.session.connection()
        assert checked_out() == before + 1
        db.session.remove()
    assert checked_out() == before

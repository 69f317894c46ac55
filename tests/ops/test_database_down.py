"""The database as operators meet it failing: a server that accepts connections and never
answers (readiness must say 503 in bounded time, not hold a thread forever), and a statement
that fails (its error's text, which reaches the logs and Sentry, carries no bound value)."""

from __future__ import annotations

import threading
import time

import pytest

from codex32.app import create_app
from codex32.db.urls import resolve
from tests.conftest import make_settings


def test_readiness_answers_503_in_bounded_time_when_the_database_hangs(tmp_path, silent_port,
                                                                       monkeypatch):
    # The default bound, shortened for the test (libpq waits at least 2 s).
    monkeypatch.setattr("codex32.db.urls.CONNECT_TIMEOUT_SECONDS", 2)
    settings = make_settings(
        tmp_path, startup_checks=False,
        database_url=f"postgresql://codex32_runtime:pw@127.0.0.1:{silent_port}/codex32")
    app = create_app(settings, resolve(settings))
    answered: list = []

    def probe() -> None:
        started = time.monotonic()
        response = app.test_client().get("/health/ready")
        answered.append((response.status_code, response.json, time.monotonic() - started))

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(30)
    assert answered, "readiness still waiting on the database after 30 s"
    (status, body, took), = answered
    assert status == 503 and body["checks"]["database"]["ok"] is False
    assert took < 10


def test_a_failed_statement_names_no_parameter_value_in_what_is_logged(app, database,
                                                                        tmp_path):
    # A statement's error reaches the error log and Sentry as its text; SQLAlchemy appends the
    # bound values ("[parameters: ...]"): bot code, chat text, a token before it is hashed.
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    from codex32.db import db
    from codex32.runtime import bootstrap

    worker = bootstrap.build(make_settings(tmp_path), database.urls, "worker")
    engines = {"web": None, "worker": worker.engine}
    try:
        for process, engine in engines.items():
            with app.app_context():
                engine = engine or db.engine
                with engine.connect() as connection, pytest.raises(DBAPIError) as failed:
                    connection.execute(text("SELECT CAST(:value AS text), 1 / 0"),
                                       {"value": "sk-parameter-value-123"})
            assert "sk-parameter-value-123" not in str(failed.value), process
    finally:
        worker.engine.dispose()

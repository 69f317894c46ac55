"""codex32.db.driver: hot reads on the driver keep SQLAlchemy's failure behaviour."""

from __future__ import annotations

import pytest
from sqlalchemy import bindparam, literal, select
from sqlalchemy.exc import DBAPIError, OperationalError, ProgrammingError

from codex32.db import db, driver


def test_a_statement_runs_in_the_sessions_transaction(app):
    statement = select(literal(1).label("one"), bindparam("two", type_=None).label("two"))
    with app.app_context():
        db.session.connection().exec_driver_sql("SET LOCAL application_name = 'in-tx'")
        keys, rows = driver.execute(db.session, statement, {"two": "2"})
        same = driver.execute(db.session, "SELECT current_setting('application_name')", {})
        db.session.remove()
    assert keys == ["one", "two"] and rows == [(1, "2")]
    assert same[1] == [("in-tx",)]


def test_a_driver_error_is_sqlalchemys(app):
    with app.app_context():
        with pytest.raises(ProgrammingError):
            driver.execute(db.session, "SELECT * FROM no_such_table", {})
        db.session.remove()


def test_a_dead_connection_is_invalidated_and_replaced(app, kill_backend):
    with app.app_context():
        pid = driver.execute(db.session, "SELECT pg_backend_pid()", {})[1][0][0]
        kill_backend(pid)
        with pytest.raises(OperationalError) as raised:
            driver.execute(db.session, "SELECT 1", {})
        assert isinstance(raised.value, DBAPIError) and raised.value.connection_invalidated
        db.session.remove()
        fresh = driver.execute(db.session, "SELECT pg_backend_pid()", {})[1][0][0]
        db.session.remove()
    assert fresh != pid

"""codex32.db.driver: hot reads on the driver keep SQLAlchemy's failure behaviour."""

from __future__ import annotations

import pytest
from sqlalchemy import bindparam, literal, select, text
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


def test_a_batch_runs_in_order_in_one_transaction_and_gives_each_statements_rows(app):
    with app.app_context():
        found = driver.execute_batch(db.session, [
            ("SELECT set_config('application_name', %(name)s, true)", {"name": "batched"}),
            ("SELECT current_setting('application_name') AS name", {}),
            ("CREATE TEMP TABLE batch_probe (n int) ON COMMIT DROP", {}),
            ("INSERT INTO batch_probe VALUES (1), (2) RETURNING n", {})])
        db.session.remove()
    assert found[1] == (["name"], [("batched",)])
    assert found[2] == ([], []) and found[3] == (["n"], [(1,), (2,)])


def test_a_failing_statement_of_a_batch_raises_sqlalchemys_error(app):
    with app.app_context():
        with pytest.raises(ProgrammingError):
            driver.execute_batch(db.session, [("SELECT 1", {}),
                                              ("SELECT * FROM no_such_table", {}),
                                              ("SELECT 3", {})])
        db.session.rollback()
        after = driver.execute(db.session, "SELECT 4", {})  # the connection is usable again
        db.session.remove()
    assert after[1] == [(4,)]


def test_a_bound_batch_binds_its_transaction_before_its_statements(app, tenant, other_tenant):
    from codex32.db import tenancy

    query = ("SELECT id FROM workspaces", {})
    with app.app_context():
        try:
            first = tenancy.execute_bound(db.session, tenant.workspace_id, [query])
            assert tenancy.current_workspace() == tenant.workspace_id
            db.session.commit()
            # A transaction already open is bound again, in a round trip of its own.
            db.session.connection()
            second = tenancy.execute_bound(db.session, other_tenant.workspace_id, [query])
        finally:
            db.session.remove()
            tenancy.unbind()
    assert [str(row[0]) for row in first[0][1]] == [tenant.workspace_id]
    assert [str(row[0]) for row in second[0][1]] == [other_tenant.workspace_id]


def test_a_transaction_bound_to_the_workspace_is_not_bound_again(app, tenant, other_tenant):
    from sqlalchemy import event

    from codex32.db import tenancy

    sent: list[str] = []

    def record(_connection, _cursor, statement, *_args) -> None:
        if "set_config" in statement:
            sent.append(statement)

    with app.app_context():
        event.listen(db.engine, "before_cursor_execute", record)
        try:
            tenancy.execute_bound(db.session, tenant.workspace_id, [("SELECT 1", {})])
            tenancy.bind(db.session, tenant.workspace_id)  # bound already: nothing sent
            assert sent == []
            tenancy.bind(db.session, other_tenant.workspace_id)
            assert len(sent) == 1
            # A savepoint rolled back may undo a binding made in it: the next bind is sent.
            db.session.begin_nested().rollback()
            tenancy.bind(db.session, other_tenant.workspace_id)
            assert len(sent) == 2
            seen = driver.execute(db.session, "SELECT id FROM workspaces", {})[1]
        finally:
            event.remove(db.engine, "before_cursor_execute", record)
            db.session.remove()
            tenancy.unbind()
    assert [str(row[0]) for row in seen] == [other_tenant.workspace_id]


def test_a_batch_that_begins_and_commits_its_transaction_is_one_round_trip(app):
    """Its BEGIN goes in the batch (psycopg's own would wait for its answer), the statements
    share that transaction, and the connection is back in psycopg's hands after it."""
    with app.app_context():
        raw = db.session.connection().connection.driver_connection
        found = driver.execute_batch(db.session, [
            ("CREATE TEMP TABLE whole_probe (n int) ON COMMIT DROP", {}),
            ("INSERT INTO whole_probe VALUES (1) RETURNING n, txid_current_if_assigned()", {}),
            ("SELECT txid_current_if_assigned()", {})], commit=True)
        db.session.commit()
        assert found[1][1][0][0] == 1 and found[1][1][0][1] == found[2][1][0][0] is not None
        assert raw.autocommit is False and raw.info.transaction_status.name == "IDLE"
        db.session.remove()


@pytest.mark.parametrize(("commit", "left"), [(True, "IDLE"), (False, "INERROR")])
def test_a_batch_that_begins_its_transaction_and_fails_keeps_none_of_it(app, commit, left):
    """Committing, it is rolled back at once (the connection idle, as the pool expects it);
    not, its failed transaction waits for the session's rollback. Either way nothing of it
    is kept, and the connection is in psycopg's hands again."""
    with app.app_context():
        raw = db.session.connection().connection.driver_connection
        with pytest.raises(ProgrammingError):
            driver.execute_batch(db.session, [
                ("CREATE TEMP TABLE failed_probe (n int)", {}),
                ("SELECT * FROM no_such_table", {})], commit=commit)
        assert raw.autocommit is False and raw.info.transaction_status.name == left
        db.session.rollback()
        kept = raw.execute("SELECT to_regclass('failed_probe')").fetchall()  # same connection
        raw.rollback()
        db.session.remove()
    assert kept == [(None,)]  # the table of the failed batch was rolled back


def test_a_batch_that_begins_its_transaction_leaves_it_open_in_psycopgs_hands(app):
    """Its BEGIN goes in the batch; what follows (SQLAlchemy's statements, a rollback or a
    commit) runs in that transaction, and the next one is psycopg's as usual."""
    with app.app_context():
        raw = db.session.connection().connection.driver_connection
        first = driver.execute_batch(db.session, [
            ("CREATE TEMP TABLE begun_probe (n int)", {}),
            ("SELECT txid_current()", {})])[1][1][0][0]
        assert raw.autocommit is False and raw.info.transaction_status.name == "INTRANS"
        db.session.execute(text("INSERT INTO begun_probe VALUES (1)"))
        assert db.session.execute(text("SELECT txid_current()")).scalar() == first
        db.session.rollback()  # the table and its row go together
        assert raw.autocommit is False and raw.info.transaction_status.name == "IDLE"
        # The connection went back to the pool: what follows may run on another one.
        assert driver.execute(db.session, "SELECT to_regclass('begun_probe')", {})[1] == [
            (None,)]
        db.session.commit()
        db.session.execute(text("SELECT 1"))  # psycopg's own BEGIN again
        again = db.session.connection().connection.driver_connection  # maybe another one
        assert again.autocommit is False and again.info.transaction_status.name == "INTRANS"
        db.session.remove()

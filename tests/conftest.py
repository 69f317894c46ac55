"""Shared fixtures: a real PostgreSQL (embedded, or TEST_DATABASE_URL), the app, factories.

TEST_DATABASE_URL names a superuser (or CREATEROLE + CREATEDB) connection to a server where a
fresh database is created for the run, with separate owner and runtime roles, exactly as in
production. Without it, an embedded PostgreSQL is started in a temporary folder; its roles log
in with the generated passwords its URLs carry (never logged: `DatabaseUrls` masks them).

Under pytest-xdist (``make test`` runs ``-n``) each worker is a process with its own session:
its own embedded server (or its own database on the TEST_DATABASE_URL server, the roles shared
and created once under ``embedded.prepare``'s advisory lock), its own data folder and app.
"""

from __future__ import annotations

import fcntl
import gc
import logging
import os
import shutil
import tempfile
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest
from _pytest.nodeid import NodeId
from werkzeug.serving import make_server

from codex32.config import Settings
from codex32.db import embedded
from codex32.db.migrate import upgrade
from codex32.db.urls import DatabaseUrls
from tests.run_data import (  # noqa: F401  hooks: the run's data folder, the checkout's guard
    pytest_configure,
    pytest_sessionfinish,
    release_run_data,
)

PASSWORD = "correct horse battery staple"


class Mailbox(logging.Handler):
    """The platform's mail as it reaches the log (tests set no CODEX32_SMTP_URL): what a
    developer reads to verify an address or accept an invitation."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self._tokens: dict[str, list[str]] = {}
        self._guard = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        to, token = getattr(record, "mail_to", None), getattr(record, "mail_token", None)
        if to and token:
            with self._guard:
                self._tokens.setdefault(to.lower(), []).append(token)

    def tokens_for(self, email: str) -> list[str]:
        """Every token mailed to ``email``, oldest first."""
        with self._guard:
            return list(self._tokens.get(email.lower(), []))

    def token_for(self, email: str) -> str:
        """The last token mailed to ``email``."""
        tokens = self.tokens_for(email)
        assert tokens, f"no mail reached {email}"
        return tokens[-1]


MAILBOX = Mailbox()
logging.getLogger("codex32.services.mail").addHandler(MAILBOX)


@dataclass(frozen=True)
class TestDatabase:
    urls: DatabaseUrls
    superuser_dsn: str
    name: str


def _server_database(admin_dsn: str) -> TestDatabase:
    name = f"codex32_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    embedded.prepare(admin_dsn, name)
    info = psycopg.conninfo.conninfo_to_dict(admin_dsn)
    host, port = info.get("host", "127.0.0.1"), info.get("port", "5432")
    base = f"postgresql+psycopg://{{role}}@{host}:{port}/{name}"
    urls = DatabaseUrls(runtime=base.format(role=embedded.RUNTIME),
                        owner=base.format(role=embedded.OWNER))
    dsn = psycopg.conninfo.make_conninfo(admin_dsn, dbname=name)
    return TestDatabase(urls=urls, superuser_dsn=dsn, name=name)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under ``--dist loadgroup``, give each test marked ``xdist_group`` its group's suffix.

    pytest-xdist 3.8 sends the group to the scheduler as a suffix of the test's id, written to
    ``item._nodeid``, which pytest 9.2 no longer reads (pytest-dev/pytest-xdist#1386): the marks
    would silently be ignored. This writes the same suffix where pytest 9.2 keeps the id, and
    does nothing when xdist's own suffix took (older pytest, or a fixed xdist).
    """
    if not getattr(config.option, "loadgroup", False):
        return
    for item in items:
        groups = sorted({str(mark.args[0] if mark.args else mark.kwargs.get("name", "default"))
                         for mark in item.iter_markers("xdist_group")})
        if groups and "@" not in item.nodeid and hasattr(item, "_id"):
            item._id = NodeId.parse(f"{item.nodeid}@{'_'.join(groups)}")


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config: pytest.Config) -> None:
    """Freeze the heap once the run is over (each xdist worker's too): the interpreter's
    last collections would otherwise walk every object the run made only to free memory the
    OS takes back at exit, about a second for two test modules' worth (0.96 s against 0.09 s
    from the end of ``pytest.main`` to the process's exit), more for a worker's share."""
    release_run_data()
    gc.freeze()


@pytest.fixture(scope="session")
def database() -> Iterator[TestDatabase]:
    """A migrated database with an owner and a runtime role, for the whole run; dropped (or
    its embedded server stopped and removed) afterwards."""
    admin = os.environ.get("TEST_DATABASE_URL")
    if admin:
        admin = admin.replace("postgresql+psycopg://", "postgresql://")
        test_db = _server_database(admin)
        upgrade(test_db.urls.owner, test_db.urls.runtime)
        yield test_db
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{test_db.name}" WITH (FORCE)')
        return
    folder = Path(tempfile.mkdtemp(prefix="codex32-test-"))
    _ensure_server_account()
    started = embedded.start(folder, "codex32_test")
    dsn = started.superuser_url.replace("postgresql+psycopg://", "postgresql://")
    _commit_without_waiting_for_disk(dsn, "codex32_test")
    test_db = TestDatabase(urls=DatabaseUrls(runtime=started.runtime_url,
                                             owner=started.owner_url, embedded=True),
                           superuser_dsn=dsn, name="codex32_test")
    upgrade(test_db.urls.owner, test_db.urls.runtime)
    yield test_db
    embedded.stop(folder, immediate=True)  # no checkpoint: the folder is deleted next
    shutil.rmtree(folder, ignore_errors=True)


def _commit_without_waiting_for_disk(superuser_dsn: str, name: str) -> None:
    """``synchronous_commit = off`` for every session on the run's throwaway database: a
    commit returns without waiting for its WAL record to reach the disk (a few milliseconds per
    commit here, much more while other processes write). What a commit makes visible, and
    when, is unchanged; only durability across a server crash is given up, for a database the
    run deletes anyway. Set before the migrations, so they and every process the tests start
    (workers, servers) get it."""
    with psycopg.connect(superuser_dsn, autocommit=True) as connection:
        connection.execute(f'ALTER DATABASE "{name}" SET synchronous_commit = off')


def _ensure_server_account() -> None:
    """As root the embedded server runs as its own system account, created by ``useradd`` on
    first use; xdist workers starting their servers at once on a fresh host would race to
    create it (the loser fails), so it is created here under a host-wide lock."""
    if os.geteuid() != 0:
        return
    with open(Path(tempfile.gettempdir()) / "codex32-test-account.lock", "a+b") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        embedded._system_user()


def make_settings(tmp: Path, **overrides: Any) -> Settings:
    """Test settings: cheap password hashing, generous limits, no Redis unless asked."""
    base = Settings(env="test", data_dir=tmp, secret_key="s" * 40, jwt_secret_key="j" * 40,
                    secrets_keys=["k" * 44], argon2_time_cost=1, argon2_memory_kib=1024,
                    rate_limit_per_minute=100_000, login_attempts_per_15_minutes=1000,
                    signups_per_hour=100_000,
                    log_json=False, log_level="WARNING")
    return base.with_overrides(**overrides)


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("data")


@pytest.fixture(scope="session")
def app(database, data_dir):
    """The app under test, as the runtime role."""
    from codex32.app import create_app

    return create_app(make_settings(data_dir), database.urls)


@pytest.fixture()
def client(app):
    return app.test_client()


@pytest.fixture()
def make_app(database, data_dir):
    """Build another app with some settings changed."""
    from codex32.app import create_app

    def build(**overrides: Any):
        return create_app(make_settings(data_dir, **overrides), database.urls)

    return build


@dataclass
class Tenant:
    """A signed-up workspace with its admin's tokens, as the API returned them."""

    client: Any
    workspace_id: str
    slug: str
    user_id: str
    email: str
    access_token: str
    refresh_token: str
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.access_token}"}

    def call(self, method: str, path: str, **kwargs: Any):
        headers = {**self.headers, **kwargs.pop("headers", {})}
        return self.client.open(path, method=method, headers=headers, **kwargs)

    def create_bot(self, name: str | None = None, code: str | None = "def main(event, context):"
                   "\n    return {'ok': True}\n", **fields: Any) -> dict[str, Any]:
        body = {"name": name or f"bot-{uuid.uuid4().hex[:8]}", **fields}
        if code is not None:
            body["code"] = code
        response = self.call("POST", "/api/v1/bots", json=body)
        assert response.status_code == 201, response.json
        return response.json

    def add_member(self, role: str) -> dict[str, Any]:
        """Invite and accept a new member with ``role`` (the token read from the mail), then
        sign it in; returns its tokens and ids."""
        email = f"{role}-{uuid.uuid4().hex[:8]}@example.com"
        invited = self.call("POST", "/api/v1/invitations", json={"email": email, "role": role})
        assert invited.status_code == 201, invited.json
        accepted = self.client.post(f"/api/v1/invitations/{MAILBOX.token_for(email)}/accept",
                                    json={"password": PASSWORD})
        assert accepted.status_code == 200, accepted.json
        pair = sign_in(self.client, email, self.slug)
        return {**pair, "user_id": user_id_of(pair), "workspace_id": self.workspace_id,
                "email": email, "headers": {"Authorization": f"Bearer {pair['access_token']}"}}

    def api_key(self, role: str = "api_user") -> str:
        response = self.call("POST", "/api/v1/api-keys",
                             json={"name": f"key-{uuid.uuid4().hex[:8]}", "role": role})
        assert response.status_code == 201, response.json
        return response.json["key"]


def sign_in(client, email: str, workspace: str | None = None,
            password: str = PASSWORD) -> dict[str, Any]:
    """A token pair for a verified account (in ``workspace``, a slug or id, when given)."""
    response = client.post("/api/v1/auth/token", json={
        "email": email, "password": password, **({"workspace": workspace} if workspace else {})})
    assert response.status_code == 200, response.json
    return response.json


def user_id_of(pair: dict[str, Any]) -> str:
    """The account a token pair was issued to (its ``sub`` claim)."""
    import jwt

    return jwt.decode(pair["access_token"], options={"verify_signature": False})["sub"]


def verify_email(client, email: str) -> dict[str, Any]:
    """Verify ``email`` with the last token mailed to it; the verification's answer."""
    response = client.post("/api/v1/auth/verify", json={
        "token": MAILBOX.token_for(email), "password": PASSWORD})
    assert response.status_code == 200, response.json
    return response.json


def sign_up(client, name: str | None = None, email: str | None = None) -> Tenant:
    """Sign up a workspace through the API, verify its admin's address with the mailed token,
    sign in, and return the admin as a ``Tenant``."""
    suffix = uuid.uuid4().hex[:10]
    email = email or f"admin-{suffix}@example.com"
    response = client.post("/api/v1/workspaces", json={
        "name": name or f"Workspace {suffix}", "slug": f"ws-{suffix}",
        "admin_email": email, "admin_password": PASSWORD})
    assert response.status_code == 202, response.json
    verified = verify_email(client, email)
    pair = sign_in(client, email, verified["workspace"]["slug"])
    return Tenant(client=client, workspace_id=verified["workspace"]["id"],
                  slug=verified["workspace"]["slug"], user_id=verified["user"]["id"],
                  email=email, access_token=pair["access_token"],
                  refresh_token=pair["refresh_token"])


@contextmanager
def serving(app) -> Iterator[int]:
    """``app`` served by threads on 127.0.0.1 at a free port (yielded), for clients that speak
    real HTTP (SDKs, browsers, curl); shut down afterwards."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        yield server.server_port
    finally:
        server.shutdown()
        thread.join(5)
        server.server_close()


REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture()
def redis_url() -> str:
    """The local Redis server's URL; skips the test (only it) when nothing answers there."""
    redis = pytest.importorskip("redis")
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=0.5).ping()
    except redis.RedisError as exc:
        pytest.skip(f"Redis is not reachable at {REDIS_URL}: {exc}")
    return REDIS_URL


@pytest.fixture()
def redis_cleanup(redis_url):
    """Call it with a key pattern (``codex32:cooldown:<workspace id>:*``): those keys are
    deleted after the test. Patterns name the test's own workspace or API key, so tests
    running in parallel on one Redis never touch each other's keys."""
    import redis

    patterns: list[str] = []
    yield patterns.append
    client = redis.Redis.from_url(redis_url)
    for pattern in patterns:
        found = list(client.scan_iter(match=pattern, count=1000))
        if found:
            client.delete(*found)
    client.close()


@pytest.fixture()
def tenant(client) -> Tenant:
    return sign_up(client)


@pytest.fixture()
def other_tenant(client) -> Tenant:
    return sign_up(client)


@pytest.fixture()
def superuser(database):
    """A superuser connection to the test database (for inspecting, never for the app)."""
    with psycopg.connect(database.superuser_dsn, autocommit=True) as connection:
        yield connection

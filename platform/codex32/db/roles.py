"""Database roles: create the group roles the migrations grant to, and check the runtime role.

The web and worker processes connect as a runtime role that is neither superuser, nor
BYPASSRLS, nor owner of any table, because any of those switches row-level security off.
Migrations run as an owner role. Two NOLOGIN group roles carry the privileges:
``codex32_app`` (what the runtime may do) and ``codex32_auth`` (owner of the few SECURITY
DEFINER functions that authentication needs before a workspace is known).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
from dataclasses import dataclass, field

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

log = logging.getLogger(__name__)

APP_ROLE = "codex32_app"
AUTH_ROLE = "codex32_auth"
SCRAM_ITERATIONS = 4096  # PostgreSQL's default (scram_iterations)


class UnsafeRuntimeRole(RuntimeError):
    """The runtime role could bypass row-level security; the platform refuses to serve."""


@dataclass
class RuntimeRoleReport:
    """What the runtime role may do that it should not."""

    role: str
    superuser: bool = False
    bypassrls: bool = False
    owned_tables: list[str] = field(default_factory=list)

    @property
    def problems(self) -> list[str]:
        found = []
        if self.superuser:
            found.append(f"role {self.role} is a superuser")
        if self.bypassrls:
            found.append(f"role {self.role} has BYPASSRLS")
        if self.owned_tables:
            found.append(f"role {self.role} owns tables ({', '.join(self.owned_tables[:5])})")
        return found


def inspect_runtime_role(connection: Connection) -> RuntimeRoleReport:
    """Report on the role this connection runs as."""
    row = connection.execute(text(
        "SELECT current_user, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user"
    )).one()
    owned = connection.execute(text(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') "
        "AND pg_has_role(current_user, c.relowner, 'USAGE') ORDER BY 1"
    )).scalars().all()
    return RuntimeRoleReport(role=row[0], superuser=row[1], bypassrls=row[2],
                             owned_tables=list(owned))


def check_runtime_role(engine: Engine, *, allow_owner: bool, production: bool) -> list[str]:
    """Refuse a runtime role that bypasses RLS; warn about (or refuse) a table owner.

    A superuser or BYPASSRLS role always refuses. A role that owns the tables is the single-role
    plan some PaaS give: RLS is forced, but an owner may turn it off, so development warns and
    production refuses unless the operator allowed it. Returns the warnings.
    """
    with engine.connect() as connection:
        report = inspect_runtime_role(connection)
    if report.superuser or report.bypassrls:
        raise UnsafeRuntimeRole("; ".join(report.problems) +
                                ": connect DATABASE_URL as a role without these attributes")
    if report.owned_tables:
        message = ("; ".join(report.problems) + ": a table owner can disable row-level "
                   "security; give DATABASE_URL a separate runtime role")
        if production and not allow_owner:
            raise UnsafeRuntimeRole(message + " (or set CODEX32_ALLOW_OWNER_RUNTIME=1)")
        log.warning(message)
        return [message]
    return []


def ensure_group_roles(connection: Connection, runtime_user: str | None,
                       runtime_password: str | None = None) -> None:
    """Create the NOLOGIN group roles when missing and let the owner and runtime use them.

    The owner may SET ROLE to ``codex32_auth`` (to hand it the SECURITY DEFINER functions) but
    does not inherit it, so the auth lookup policies never widen what the owner's sessions see.
    Needs CREATEROLE, or the roles created once by an operator (docs/operations.md).
    Idempotent; runs in the release step before migrations.
    """
    for role in (APP_ROLE, AUTH_ROLE):
        exists = connection.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"),
                                    {"r": role}).first()
        if not exists:
            connection.execute(text(f'CREATE ROLE "{role}" NOLOGIN'))
            log.info("created role %s", role)
    owner = connection.execute(text("SELECT current_user")).scalar_one()
    version = connection.execute(text("SHOW server_version_num")).scalar_one()
    if not _can_set_role(connection, owner, AUTH_ROLE):
        options = " WITH INHERIT FALSE, SET TRUE" if int(version) >= 160000 else ""
        connection.execute(text(f'GRANT "{AUTH_ROLE}" TO "{owner}"{options}'))
    if runtime_user and runtime_user != owner:
        _ensure_login_role(connection, runtime_user, runtime_password)
        member = connection.execute(text("SELECT pg_has_role(:m, :r, 'USAGE')"),
                                    {"m": runtime_user, "r": APP_ROLE}).scalar_one()
        if not member:
            connection.execute(text(f'GRANT "{APP_ROLE}" TO "{runtime_user}"'))


def _ensure_login_role(connection: Connection, role: str, password: str | None) -> None:
    """Create the runtime login role (plain: no superuser, no BYPASSRLS) when it is missing."""
    if connection.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"),
                          {"r": role}).first():
        return
    quoted = connection.execute(text("SELECT quote_ident(:r)"), {"r": role}).scalar_one()
    if password:
        literal = connection.execute(text("SELECT quote_literal(:p)"),
                                     {"p": scram_verifier(password)}).scalar_one()
        # Not text(): the verifier's colons would read as bind parameters.
        connection.exec_driver_sql(f"CREATE ROLE {quoted} LOGIN PASSWORD {literal}")
    else:
        connection.execute(text(f"CREATE ROLE {quoted} LOGIN"))
    log.info("created runtime role %s", role)


def _can_set_role(connection: Connection, member: str, role: str) -> bool:
    version = int(connection.execute(text("SHOW server_version_num")).scalar_one())
    privilege = "SET" if version >= 160000 else "MEMBER"
    return bool(connection.execute(text("SELECT pg_has_role(:m, :r, :p)"),
                                   {"m": member, "r": role, "p": privilege}).scalar_one())


def scram_verifier(password: str, salt: bytes | None = None,
                   iterations: int = SCRAM_ITERATIONS) -> str:
    """The SCRAM-SHA-256 verifier PostgreSQL stores for ``password`` (RFC 5802, as libpq's
    ``PQencryptPasswordConn`` builds it), so a password never travels to the server in clear.

    Passwords are taken as UTF-8 without SASLprep: the platform's own are ASCII.
    """
    salt = salt if salt is not None else os.urandom(16)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    server_key = hmac.new(salted, b"Server Key", "sha256").digest()
    stored_key = hashlib.sha256(client_key).digest()

    def b64(raw: bytes) -> str:
        return base64.b64encode(raw).decode()

    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


def scram_matches(verifier: str | None, password: str) -> bool:
    """Whether a stored SCRAM-SHA-256 verifier (``pg_authid.rolpassword``) is ``password``'s."""
    try:
        method, rest = (verifier or "").split("$", 1)
        parameters, _keys = rest.split("$", 1)
        iterations, salt = parameters.split(":", 1)
        expected = scram_verifier(password, base64.b64decode(salt, validate=True),
                                  int(iterations))
    except ValueError:  # no verifier, an md5 hash, or a malformed one
        return False
    return method == "SCRAM-SHA-256" and hmac.compare_digest(expected, verifier or "")

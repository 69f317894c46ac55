"""SQL for row-level security and grants, used by the migrations beside each table.

A tenant table gets ENABLE and FORCE ROW LEVEL SECURITY and one policy, for every role, on
``app.workspace_id``: with no workspace bound the setting is empty, NULLIF makes it NULL, and
the comparison is never true, so nothing is visible and nothing can be written.
"""

from __future__ import annotations

from codex32.db.roles import APP_ROLE, AUTH_ROLE

CURRENT_WORKSPACE = "NULLIF(current_setting('app.workspace_id', true), '')::uuid"


def tenant_table(table: str, column: str = "workspace_id",
                 privileges: str = "SELECT, INSERT, UPDATE, DELETE") -> list[str]:
    """Statements that isolate ``table`` by ``column`` and grant the runtime ``privileges``."""
    condition = f"{column} = {CURRENT_WORKSPACE}"
    return [
        f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY",
        f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY",
        f"CREATE POLICY tenant_isolation ON {table} USING ({condition}) WITH CHECK ({condition})",
        f"GRANT {privileges} ON {table} TO {APP_ROLE}",
    ]


def auth_lookup(table: str) -> list[str]:
    """Let the SECURITY DEFINER functions (owned by the auth role) read ``table``."""
    return [
        f"CREATE POLICY auth_lookup ON {table} FOR SELECT TO {AUTH_ROLE} USING (true)",
        f"GRANT SELECT ON {table} TO {AUTH_ROLE}",
    ]


def definer_function(signature: str, returns: str, body: str) -> list[str]:
    """A SQL function that runs as the auth role, callable by the runtime role only."""
    name = signature.split("(", 1)[0]
    return [
        f"CREATE FUNCTION {signature} RETURNS {returns} LANGUAGE sql STABLE SECURITY DEFINER "
        f"SET search_path = public, pg_temp AS $fn$ {body} $fn$",
        f"REVOKE ALL ON FUNCTION {signature} FROM PUBLIC",
        f"GRANT EXECUTE ON FUNCTION {signature} TO {APP_ROLE}",
        f"ALTER FUNCTION {signature} OWNER TO {AUTH_ROLE}",
    ] if name else []

"""``codex32 db backup`` / ``db restore`` on a throwaway database, and ``secrets rotate``."""

from __future__ import annotations

import psycopg
from click.testing import CliRunner
from sqlalchemy.engine import make_url

from codex32.cli import main
from tests.cli.conftest import bot_names, cli_env, url_with
from tests.conftest import make_settings, sign_up

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

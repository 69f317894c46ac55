"""``codex32 db upgrade``, ``db seed-demo`` and ``import-json``."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import pytest

from codex32.db.migrate import head_revision
from tenants import demo
from tests.cli.conftest import bot_names

GOOD_CODE = "def main(event, context):\n    return {'greeting': 'hello'}\n"


def write_registry(folder: Path, entries: dict[str, dict], files: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "registry.json").write_text(json.dumps(entries), encoding="utf-8")
    for name, code in files.items():
        (folder / f"{name}.py").write_text(code, encoding="utf-8")
    return folder


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

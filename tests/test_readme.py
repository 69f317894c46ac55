"""The README stays true: every environment variable the settings read is in its table, its
test command is the one CI runs, and its quick start really yields a working $TOKEN."""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from codex32.observability.logging import JsonFormatter
from tests.conftest import serving

ROOT = Path(__file__).resolve().parents[1]


def test_every_setting_read_from_the_environment_is_documented():
    config = (ROOT / "platform" / "codex32" / "config.py").read_text()
    readme = (ROOT / "README.md").read_text()
    # Read raw (env.get("NAME")) or through a value reader (integer(env, "NAME", ...)).
    names = set(re.findall(r'env(?:\.get\(|,\s*)"([A-Z0-9_]+)"', config))
    assert len(names) > 30
    missing = sorted(name for name in names if f"`{name}`" not in readme)
    assert not missing, f"add to the README configuration table: {missing}"


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in readme and "make test" in ci


def test_the_quick_start_commands_sign_up_verify_and_create_the_example_bot(make_app, tmp_path):
    """Run the README's quick-start block with bash and curl against a real HTTP server whose
    mail goes to a JSON log file, as `make run 2>&1 | tee server.log` gives in development."""
    if not shutil.which("curl"):
        pytest.skip("curl is not installed")
    readme = (ROOT / "README.md").read_text()
    block = next(b for b in re.findall(r"```bash\n(.*?)```", readme, re.S) if "$TOKEN" in b)
    app = make_app()
    log_file = tmp_path / "server.log"
    handler = logging.FileHandler(log_file)
    handler.setFormatter(JsonFormatter())
    mail_log = logging.getLogger("codex32.services.mail")
    mail_log.addHandler(handler)
    email = f"me-{uuid.uuid4().hex[:8]}@acme.test"
    try:
        with serving(app) as port:
            script = (block.replace("localhost:8000", f"127.0.0.1:{port}")
                      .replace("server.log", str(log_file)).replace("me@acme.test", email)
                      .replace('"Acme"', f'"Acme {email}"'))
            done = subprocess.run(["bash", "-e", "-c",
                                   script + '\necho "TOKEN=$TOKEN"\necho "KEY=$KEY"'],
                                  capture_output=True, text=True, timeout=120)
    finally:
        mail_log.removeHandler(handler)
        handler.close()
    assert done.returncode == 0, done.stderr
    token = done.stdout.rsplit("TOKEN=", 1)[1].split("\n", 1)[0].strip()
    assert token.count(".") == 2, done.stdout
    me = app.test_client().get("/api/v1/auth/me",
                                      headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200 and me.json["user"]["email"] == email
    # The example bot exists and got the network its template needs (it would fail without).
    auth = {"Authorization": f"Bearer {token}"}
    bots = app.test_client().get("/api/v1/bots", headers=auth).json["items"]
    assert [bot["name"] for bot in bots] == ["site-check"], bots
    bot = app.test_client().get(f"/api/v1/bots/{bots[0]['id']}", headers=auth).json
    assert bot["settings"]["network"] is True, bot
    # The API key it minted (what the SDK example needs) lists the same bot.
    key = done.stdout.rsplit("KEY=", 1)[1].strip()
    assert key.startswith("c32_"), done.stdout
    listed = app.test_client().get("/api/v1/bots", headers={"X-API-Key": key})
    assert [bot["name"] for bot in listed.json["items"]] == ["site-check"], listed.json

"""The Go SDK (sdks/go) against a live server: its generated files match the OpenAPI
snapshots, it compiles and vets, and its Go tests pass (the offline ones with httptest, and
``live_test.go`` pointed at ``live_server`` as ``sdk_tenant``)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import jwt
import pytest

from tests.conftest import sign_up
from tests.sdks.conftest import ROOT, SDKS, SNAPSHOTS, SdkTenant

GO_SDK = SDKS / "go"
# Repeat runs reuse compiled packages (go test caches by content, not by path or time).
GO_CACHE = Path(os.environ.get("GOCACHE") or ROOT / ".cache" / "go-build")


def go_binary() -> str:
    """The go command; `make install` (install-sdk-go) installs it where missing."""
    found = shutil.which("go") or next(
        (str(p) for p in Path("/usr/lib").glob("go-1.*/bin/go") if p.exists()), None)
    if not found:
        pytest.fail("the go command is missing: run `make install-sdk-go`")
    return found


def expired_copy(app, access_token: str) -> str:
    """The access token as it is once expired: the same claims, signed by the server's key,
    ``exp`` a minute ago."""
    claims = jwt.decode(access_token, options={"verify_signature": False})
    claims["exp"] = int(time.time()) - 60
    return jwt.encode(claims, app.config["JWT_SECRET_KEY"], algorithm="HS256")


def other_workspace_bot(app) -> str:
    """The id of a bot in a workspace of its own."""
    other = sign_up(app.test_client())
    response = other.client.post("/api/v2/bots", json={"name": "not yours"},
                                 headers=other.headers)
    assert response.status_code == 201, response.json
    return str(response.json["id"])


def test_generated_files_match_the_openapi_snapshots():
    done = subprocess.run([sys.executable, str(GO_SDK / "generate.py"), "--check"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def one_of_in_a_schema(spec: dict) -> None:
    spec["components"]["schemas"]["Bot"]["properties"]["status"] = {
        "oneOf": [{"type": "string"}, {"type": "integer"}]}


def an_operation_nobody_named(spec: dict) -> None:
    spec["paths"]["/api/v2/bots/{bot_id}/clone"] = {"post": {
        "operationId": "cloneBot", "tags": ["bots"],
        "responses": {"201": {"content": {"application/json": {
            "schema": {"$ref": "#/components/schemas/Bot"}}}}}}}


@pytest.mark.parametrize("change, complaint", [
    (one_of_in_a_schema, "v2 Bot: unknown keywords ['oneOf']"),
    (an_operation_nobody_named, "(cloneBot) is not named in OPERATIONS"),
])
def test_the_generator_refuses_what_it_does_not_understand(tmp_path, change, complaint):
    (tmp_path / "go").mkdir()
    for name in ("generate.py", "gotypes.py"):
        shutil.copy(GO_SDK / name, tmp_path / "go" / name)
    shutil.copytree(SNAPSHOTS, tmp_path / "openapi")
    spec = json.loads((tmp_path / "openapi" / "v2.json").read_text())
    change(spec)
    (tmp_path / "openapi" / "v2.json").write_text(json.dumps(spec))
    done = subprocess.run([sys.executable, str(tmp_path / "go" / "generate.py")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and complaint in done.stderr, done.stderr
    assert not list((tmp_path / "go").glob("*_gen.go"))  # nothing half-written


def test_go_sdk_vets_and_passes_its_tests_against_the_live_server(
        app, live_server: str, sdk_tenant: SdkTenant):
    go = go_binary()
    env = {**os.environ, "GOCACHE": str(GO_CACHE), "GOFLAGS": "-mod=mod", "GOPROXY": "off",
           "GOTOOLCHAIN": "local", "GOTELEMETRY": "off",
           "CODEX32_TEST_BASE_URL": live_server,
           "CODEX32_TEST_API_KEY": sdk_tenant.api_key,
           "CODEX32_TEST_ADMIN_API_KEY": sdk_tenant.admin_api_key,
           "CODEX32_TEST_EMAIL": sdk_tenant.email,
           "CODEX32_TEST_PASSWORD": sdk_tenant.password,
           "CODEX32_TEST_WORKSPACE": sdk_tenant.slug,
           "CODEX32_TEST_EXPIRED_ACCESS_TOKEN": expired_copy(app, sdk_tenant.access_token),
           "CODEX32_TEST_REFRESH_TOKEN": sdk_tenant.refresh_token,
           "CODEX32_TEST_OTHER_BOT_ID": other_workspace_bot(app)}
    command = f"{go} vet ./... && {go} test -count=1 -v ./..."
    done = subprocess.run(["sh", "-c", command], cwd=GO_SDK, env=env, capture_output=True,
                          text=True, timeout=180)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    live_tests = (GO_SDK / "live_test.go").read_text().count("\nfunc TestLive")
    assert "--- SKIP" not in output, output  # the live tests ran, every one
    assert output.count("--- PASS: TestLive") == live_tests, output

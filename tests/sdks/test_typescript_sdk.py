"""The TypeScript SDK (sdks/typescript): its types are those the snapshots generate, it
type-checks strictly (so an OpenAPI change that breaks it fails here), and its Node test
script (sdks/typescript/test/live.test.mjs) passes against ``live_server`` as ``sdk_tenant``.

The SDK is built once for the module (an incremental ``tsc`` into dist/); the script runs once,
and each of its scenarios is one test here, read from its TAP output.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import jwt
import pytest

from tests.conftest import sign_up
from tests.sdks.conftest import SDKS, SNAPSHOTS, SdkTenant

# One worker runs the module: the build writes dist/ and the Node script runs once.
pytestmark = pytest.mark.xdist_group("sdk-typescript")

SDK = SDKS / "typescript"
BIN = SDK / "node_modules" / ".bin"
SCENARIOS = [
    "api key authenticates",
    "password sign-in then bearer token",
    "expired access token is refreshed once",
    "bots versions schedules crud",
    "list paginates across pages",
    "same idempotency key gives one execution",
    "typed errors 404 422 403 on v2 and v1",
    "another workspace's bot is not found",
    "chat stream yields text chunks",
    "members api keys audit logs usage",
    "503 then 429 retried after Retry-After with the same idempotency key",
    "retry-after beyond the deadline is a RateLimited error",
    "chat stream parses split events then an error event",
    "credentials are not shown when the client or its errors are printed",
    "an unreachable server is a TransportError, retried while refused",
    "an unreadable stream event is a Codex32Error",
    "a cursor the server repeats ends the list with a Codex32Error",
    "a call past its timeout is a Timeout",
    "idempotent calls are retried on 429 502 503 504",
    "a post or patch without an idempotency key is never retried",
    "a post with an idempotency key is retried with the same key",
    "connection errors are retried only for idempotent calls",
    "an unknown enum value is kept as its raw string",
]


def _toolchain() -> None:
    if shutil.which("node") is None or not (BIN / "tsc").exists():
        pytest.fail("the TypeScript SDK's toolchain is missing: run `make install-sdk-typescript`"
                    " (Node.js 20+ and npm)")


@pytest.fixture(scope="module")
def build() -> subprocess.CompletedProcess[str]:
    """``tsc -p sdks/typescript`` (strict, incremental): the type check and the build of dist/."""
    _toolchain()
    return subprocess.run([str(BIN / "tsc"), "-p", str(SDK / "tsconfig.json"), "--pretty", "false"],
                          capture_output=True, text=True, timeout=180, cwd=SDK)


def _expired(access_token: str, secret: str) -> str:
    """The same access token, signed again with the app's key, expired a minute ago."""
    claims = jwt.decode(access_token, options={"verify_signature": False})
    now = int(time.time())
    claims.update(iat=now - 3600, nbf=now - 3600, exp=now - 60)
    return jwt.encode(claims, secret, algorithm="HS256")


@pytest.fixture(scope="module")
def node_run(app, build, live_server: str, sdk_tenant: SdkTenant) -> str:
    """The Node test script's TAP output (it ran once, against the live server)."""
    assert build.returncode == 0, build.stdout + build.stderr
    other = sign_up(app.test_client())
    env = {
        **os.environ,
        "CODEX32_BASE_URL": live_server,
        "CODEX32_API_KEY": sdk_tenant.api_key,
        "CODEX32_ADMIN_API_KEY": sdk_tenant.admin_api_key,
        "CODEX32_EMAIL": sdk_tenant.email,
        "CODEX32_PASSWORD": sdk_tenant.password,
        "CODEX32_WORKSPACE": sdk_tenant.slug,
        "CODEX32_WORKSPACE_ID": sdk_tenant.workspace_id,
        "CODEX32_EXPIRED_ACCESS_TOKEN": _expired(sdk_tenant.access_token,
                                                 app.config["JWT_SECRET_KEY"]),
        "CODEX32_REFRESH_TOKEN": sdk_tenant.refresh_token,
        "CODEX32_OTHER_BOT_ID": other.create_bot()["id"],
    }
    done = subprocess.run(["node", "--test", "--test-reporter=tap", "test/live.test.mjs"],
                          capture_output=True, text=True, timeout=120, cwd=SDK, env=env)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    assert re.search(r"^# fail 0$", done.stdout, re.M), done.stdout[-3000:]
    return done.stdout


def test_the_sdk_type_checks_strictly(build) -> None:
    assert build.returncode == 0, build.stdout + build.stderr
    assert '"strict": true' in (SDK / "tsconfig.json").read_text()


def test_the_committed_types_are_generated_from_the_snapshots(tmp_path: Path) -> None:
    """A snapshot changed without `make sdk-typescript` leaves stale types: refused here."""
    _toolchain()
    running = {version: subprocess.Popen(
        [str(BIN / "openapi-typescript"), str(SNAPSHOTS / f"{version}.json"),
         "--default-non-nullable", "false", "-o", str(tmp_path / f"{version}.ts")],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=SDK) for version in ("v1", "v2")}
    for version, process in running.items():
        assert process.wait(timeout=120) == 0, process.stderr.read() if process.stderr else ""
        committed = (SDK / "src" / "generated" / f"{version}.ts").read_text()
        assert (tmp_path / f"{version}.ts").read_text() == committed, (
            f"sdks/typescript/src/generated/{version}.ts is stale: run `make sdk-typescript`")


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_node_scenario_passes(node_run: str, scenario: str) -> None:
    assert re.search(rf"^\s*ok \d+ - {re.escape(scenario)}$", node_run, re.M), node_run[-3000:]

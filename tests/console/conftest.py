"""Fixtures of the console's tests: a signed-in browser session for the Flask test client, and
for the end-to-end tests a live server and one headless Chromium driven by playwright-core
(tests/console/browser/driver.js), both shared by the end-to-end modules (one xdist group,
so one test worker starts them once; the modules start the workers their builds and runs
need).

An end-to-end test calls ``browser.run("scenario", **args)``: the driver runs
tests/console/browser/scenarios/<scenario>.js in a fresh browser context and returns what the
scenario returned; a failing scenario fails the test with its error, the page's address and a
screenshot under the test's temporary folder.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from codex32.console import session
from tests.conftest import PASSWORD, Tenant, make_settings, serving
from tests.execution.conftest import start_worker  # noqa: F401  (a fixture used here)

BROWSER_DIR = Path(__file__).parent / "browser"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
# Where scenarios save their pages' screenshots: a throwaway folder, unless `make screenshots`
# names docs/screenshots/ (CODEX32_SCREENSHOTS) to refresh the committed ones.
SCREENSHOTS = os.environ.get("CODEX32_SCREENSHOTS")
CSRF = re.compile(r'name="csrf-token" content="([0-9a-f]+)"')


def csrf_of(client: Any, path: str = "/app/sign-in") -> str:
    """The CSRF token a console page embeds for this client's cookie jar."""
    found = CSRF.search(client.get(path).text)
    assert found, f"no CSRF token on {path}"
    return found.group(1)


class ConsoleClient:
    """A Flask test client signed in to the console as one member (its cookie jar holds the
    session); ``post`` sends the page's CSRF token unless told not to."""

    def __init__(self, client: Any, email: str, workspace: str | None = None) -> None:
        self.client = client
        form = {"email": email, "password": PASSWORD, "workspace": workspace or "",
                "csrf_token": self.csrf()}
        answer = client.post("/app/sign-in", data=form)
        assert answer.status_code == 303, answer.text

    def csrf(self, path: str = "/app/sign-in") -> str:
        return csrf_of(self.client, path)

    def get(self, path: str, **kwargs: Any):
        return self.client.get(path, **kwargs)

    def post(self, path: str, data: dict[str, Any] | None = None, *, csrf: bool = True,
             **kwargs: Any):
        data = dict(data or {})
        if csrf:
            data.setdefault("csrf_token", self.csrf("/app/bots"))
        return self.client.post(path, data=data, **kwargs)


@pytest.fixture()
def console(app, tenant: Tenant) -> ConsoleClient:
    """The tenant's admin, signed in to the console in a fresh cookie jar."""
    return ConsoleClient(app.test_client(), tenant.email, tenant.slug)


@pytest.fixture(scope="session")
def live_server(database, tmp_path_factory) -> Iterator[str]:
    """The app served on 127.0.0.1 (threads) for the run; its base URL."""
    from codex32.app import create_app

    app = create_app(make_settings(tmp_path_factory.mktemp("console-data")), database.urls)
    with serving(app) as port:
        yield f"http://127.0.0.1:{port}"


class Browser:
    """The driver process: one Chromium for the run; scenarios run one at a time, each on a
    new page with the cookies cleared (driver.js)."""

    def __init__(self, base: str, failures: Path, screenshots: Path) -> None:
        self.base = base
        self.failures = failures
        self.screenshots = screenshots
        self.process = subprocess.Popen(
            ["node", str(BROWSER_DIR / "driver.js")], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, text=True, cwd=BROWSER_DIR, start_new_session=True,
            env={**os.environ, "CHROMIUM": CHROMIUM})
        ready = self._answer()
        assert ready.get("ready"), ready

    def _answer(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise AssertionError(f"the browser driver exited ({self.process.poll()})")
        return json.loads(line)

    def run(self, scenario: str, *, screenshots: bool = False, **args: Any) -> Any:
        """Run one scenario against the live server; what it returned."""
        assert self.process.stdin is not None
        request = {"scenario": scenario, "args": {
            "base": self.base, "failures": str(self.failures),
            "screenshots": str(self.screenshots) if screenshots else None, **args}}
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        answer = self._answer()
        if not answer["ok"]:
            raise AssertionError(
                f"scenario {scenario} failed at {answer.get('url')}: {answer['error']}\n"
                f"screenshot: {answer.get('screenshot')}\npage: {answer.get('html', '')[:1500]}")
        # A script error or a refused script, style or connection (CSP) fails the scenario.
        assert not answer.get("problems"), f"scenario {scenario}: {answer['problems']}"
        return answer["result"]

    def close(self) -> None:
        if self.process.stdin:
            self.process.stdin.close()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, 9)
            self.process.wait()


@pytest.fixture(scope="session")
def browser(live_server, tmp_path_factory) -> Iterator[Browser]:
    """One headless Chromium for the run, pointed at the live server."""
    if not Path(CHROMIUM).exists() or shutil.which("node") is None:
        pytest.skip("Chromium or Node.js is missing: run `make install`")
    if not (BROWSER_DIR / "node_modules" / "playwright-core").exists():
        pytest.skip("playwright-core is missing: run `make install`")
    screenshots = (Path(SCREENSHOTS) if SCREENSHOTS
                   else tmp_path_factory.mktemp("browser-screenshots"))
    screenshots.mkdir(parents=True, exist_ok=True)
    driver = Browser(live_server, tmp_path_factory.mktemp("browser-failures"), screenshots)
    yield driver
    driver.close()


def session_cookie(client: Any) -> str | None:
    """The console session cookie in a test client's jar."""
    cookie = client.get_cookie(session.SESSION_COOKIE, path=session.PATH)
    return cookie.value if cookie else None

"""Templates that need the network give their bots the network, within what the platform and
the workspace allow; a run that fails for lack of it says which setting to change.

The runs go through a real worker process and the real sandbox; the only server reached is a
local one on 127.0.0.1.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from codex32.plugins.defaults.subprocess_executor import SubprocessExecutor
from tests.conftest import sign_up
from tests.execution.conftest import WorkerStarter, finished, run

# xdist (make test: --dist loadgroup) runs this module on one worker, so its module-scoped
# worker process and site start once per run.
pytestmark = pytest.mark.xdist_group("template_network")


def _health_check(tenant, url: str, **fields) -> dict:
    response = tenant.call("POST", "/api/v1/bots", json={
        "name": f"site-check-{len(url)}-{fields.get('settings', {}).get('network')}",
        "template": "http_health_check", "parameters": {"url": url}, **fields})
    return response


def test_a_bot_from_a_template_that_needs_the_network_gets_it(tenant):
    response = _health_check(tenant, "https://example.com")
    assert response.status_code == 201, response.json
    assert response.json["settings"]["network"] is True


def test_an_explicit_network_setting_wins_over_the_template(tenant):
    response = _health_check(tenant, "https://example.com", settings={"network": False})
    assert response.status_code == 201, response.json
    assert response.json["settings"]["network"] is False


def test_a_template_that_needs_no_network_leaves_it_off(tenant):
    response = tenant.call("POST", "/api/v1/bots", json={
        "name": "report", "template": "csv_report", "parameters": {"group_by": "region"}})
    assert response.status_code == 201, response.json
    assert "network" not in response.json["settings"]


def test_the_templates_list_says_what_each_template_needs(tenant):
    templates = {t["id"]: t for t in tenant.call("GET", "/api/v1/templates").json}
    assert templates["http_health_check"]["requires"] == {"network": True}


def test_a_platform_without_bot_network_refuses_such_a_template_clearly(make_app):
    tenant = sign_up(make_app(allow_bot_network=False).test_client())
    response = _health_check(tenant, "https://example.com")
    assert response.status_code == 422, response.json
    assert "CODEX32_ALLOW_BOT_NETWORK" in response.json["message"]
    assert "network" in response.json["errors"]["json"]["settings"]
    assert tenant.call("GET", "/api/v1/bots").json["total"] == 0
    # Without the network, on purpose, it can still be created.
    assert _health_check(tenant, "https://example.com",
                         settings={"network": False}).status_code == 201


def test_a_workspace_without_bot_network_refuses_such_a_template_clearly(tenant):
    assert tenant.call("PATCH", "/api/v1/workspace", json={
        "settings": {"execution": {"allow_network": False}}}).status_code == 200
    response = _health_check(tenant, "https://example.com")
    assert response.status_code == 422, response.json
    assert "http_health_check" in response.json["message"]
    assert "allow_network" in response.json["message"]
    assert tenant.call("GET", "/api/v1/bots").json["total"] == 0


# --- runs ------------------------------------------------------------------------------------


class _Ok(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def local_site() -> Iterator[str]:
    """An HTTP server on 127.0.0.1 answering 200 to every GET."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    thread.join()


@pytest.fixture(scope="module")
def worker(database, tmp_path_factory) -> Iterator[None]:
    if SubprocessExecutor().isolation_level() != "namespace":
        pytest.skip("a bot is kept off the network only at the namespace isolation level")
    starter = WorkerStarter(database, tmp_path_factory.mktemp("network-workers"))
    starter()
    yield
    starter.kill_all()


FETCH = ("import urllib.request\n\n\ndef main(event, context):\n"
         "    with urllib.request.urlopen(event['url'], timeout=5) as response:\n"
         "        return response.status\n")


def test_the_readme_health_check_reaches_its_site(worker, tenant, local_site):
    created = _health_check(tenant, local_site)
    assert created.status_code == 201, created.json
    done = finished(tenant, run(tenant, created.json["id"])["id"], timeout=30)
    assert done["status"] == "succeeded", done
    assert done["result"]["ok"] is True and done["result"]["status"] == 200, done


def test_a_run_that_fails_without_the_network_names_the_setting(worker, tenant, local_site):
    bot = tenant.create_bot(code=FETCH)
    done = finished(tenant, run(tenant, bot["id"], {"input": {"url": local_site}})["id"],
                    timeout=30)
    assert done["status"] == "failed", done
    # The sandbox's own network namespace: 127.0.0.1 there is the bot's private loopback.
    assert re.search("Network is unreachable|Connection refused", done["error"]["message"])
    hint = done["error"]["hint"]
    assert "network" in hint and bot["id"] in hint, hint
    # The hint is right: with the setting changed, the same run succeeds.
    assert tenant.call("PATCH", f"/api/v1/bots/{bot['id']}",
                       json={"settings": {"network": True}}).status_code == 200
    done = finished(tenant, run(tenant, bot["id"], {"input": {"url": local_site}})["id"],
                    timeout=30)
    assert done["status"] == "succeeded" and done["result"] == 200, done


def test_a_failure_unrelated_to_the_network_gets_no_hint(worker, tenant):
    bot = tenant.create_bot(code="def main(event, context):\n    raise OSError('disk full')\n")
    done = finished(tenant, run(tenant, bot["id"])["id"], timeout=30)
    assert done["status"] == "failed" and "hint" not in done["error"], done


@pytest.mark.parametrize(("message", "network", "hinted"), [
    ("<urlopen error [Errno 101] Network is unreachable>", False, True),
    ("[Errno -3] Temporary failure in name resolution", False, True),
    ("[Errno -2] Name or service not known", False, True),
    ("[Errno 111] Connection refused", False, True),
    ("<urlopen error [Errno 101] Network is unreachable>", True, False),
    ("division by zero", False, False),
])
def test_which_failures_get_the_network_hint(message, network, hinted):
    from types import SimpleNamespace

    from codex32.execution.network_hint import with_network_hint
    from codex32.plugins.interfaces import ExecutionOutcome

    outcome = ExecutionOutcome(status="failed", error={"type": "OSError", "message": message,
                                                       "traceback": ""})
    started = SimpleNamespace(run=SimpleNamespace(network=network),
                              request=SimpleNamespace(bot_id="b-1"))
    for platform_allows in (True, False):
        rt = SimpleNamespace(settings=SimpleNamespace(allow_bot_network=platform_allows))
        error = with_network_hint(rt, started, outcome).error
        assert ("hint" in error) is hinted, (message, error)
        if hinted:
            assert ("CODEX32_ALLOW_BOT_NETWORK" in error["hint"]) is not platform_allows
            assert error["message"] == message

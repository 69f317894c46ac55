"""Bot secrets reach a run: a real worker gives the bot its workspace's secrets with its own
winning, redacts them from the stored logs, and never writes them to its own log."""

from __future__ import annotations

import hashlib

import pytest

from tests.conftest import sign_up
from tests.execution.conftest import bot_with, finished, run

SHOWS_SECRETS = (
    "import hashlib\n\n\n"
    "def main(event, context):\n"
    "    print('token is', context.secrets.get('API_TOKEN'))\n"
    "    context.logger.info('shared is %s', context.secrets.get('SHARED'))\n"
    "    return {name: hashlib.sha256(value.encode()).hexdigest()\n"
    "            for name, value in context.secrets.items()}\n"
)
WORKSPACE_TOKEN = "workspace-token-0123456789"
BOT_TOKEN = "bot-own-token-9876543210"
SHARED = "shared-value-abcdefghij"

# xdist (make test: --dist loadgroup) runs this module on one worker, so its module-scoped
# worker processes start once per run.
pytestmark = pytest.mark.xdist_group("run_secrets")


def _sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


@pytest.fixture(scope="module")
def worker(start_worker):
    return start_worker(WORKER_CONCURRENCY=1)


def _put(tenant, path: str, value: str) -> None:
    response = tenant.call("PUT", path, json={"value": value})
    assert response.status_code in (200, 201), response.json


def test_a_run_gets_the_workspace_secrets_with_its_bots_own_winning(tenant, worker):
    own = bot_with(tenant, SHOWS_SECRETS)
    plain = bot_with(tenant, SHOWS_SECRETS)
    _put(tenant, "/api/v1/secrets/API_TOKEN", WORKSPACE_TOKEN)
    _put(tenant, "/api/v1/secrets/SHARED", SHARED)
    _put(tenant, f"/api/v1/bots/{own['id']}/secrets/API_TOKEN", BOT_TOKEN)
    done = finished(tenant, run(tenant, own["id"])["id"])
    assert done["status"] == "succeeded", done
    assert done["result"] == {"API_TOKEN": _sha(BOT_TOKEN), "SHARED": _sha(SHARED)}
    other = finished(tenant, run(tenant, plain["id"])["id"])
    assert other["result"] == {"API_TOKEN": _sha(WORKSPACE_TOKEN), "SHARED": _sha(SHARED)}
    # Another workspace's bot gets none of them.
    stranger = sign_up(tenant.client)
    theirs = finished(stranger, run(stranger, bot_with(stranger, SHOWS_SECRETS)["id"])["id"])
    assert theirs["status"] == "succeeded" and theirs["result"] == {}


def test_secrets_printed_by_a_bot_are_redacted_and_never_logged_by_the_worker(tenant, worker):
    bot = bot_with(tenant, SHOWS_SECRETS)
    _put(tenant, f"/api/v1/bots/{bot['id']}/secrets/API_TOKEN", BOT_TOKEN)
    _put(tenant, "/api/v1/secrets/SHARED", SHARED)
    done = finished(tenant, run(tenant, bot["id"])["id"])
    assert done["status"] == "succeeded", done
    assert "token is [REDACTED]" in done["logs"] and "shared is [REDACTED]" in done["logs"]
    shown = tenant.call("GET", f"/api/v1/executions/{done['id']}").get_data(as_text=True)
    for value in (BOT_TOKEN, SHARED):
        assert value not in shown and value not in worker.output()


def test_a_secret_changed_between_runs_is_what_the_next_run_gets(tenant, worker):
    bot = bot_with(tenant, SHOWS_SECRETS)
    _put(tenant, f"/api/v1/bots/{bot['id']}/secrets/API_TOKEN", "first-value-0000")
    first = finished(tenant, run(tenant, bot["id"])["id"])
    _put(tenant, f"/api/v1/bots/{bot['id']}/secrets/API_TOKEN", "second-value-1111")
    second = finished(tenant, run(tenant, bot["id"])["id"])
    assert tenant.call("DELETE", f"/api/v1/bots/{bot['id']}/secrets/API_TOKEN"
                       ).status_code == 204
    third = finished(tenant, run(tenant, bot["id"])["id"])
    assert first["result"] == {"API_TOKEN": _sha("first-value-0000")}
    assert second["result"] == {"API_TOKEN": _sha("second-value-1111")}
    assert third["result"] == {}

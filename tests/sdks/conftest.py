"""What every SDK's tests share: the app on a real socket, a signed-up workspace with an API
key, and the OpenAPI snapshots the SDKs are generated from.

Each SDK's test module (``test_python_sdk.py``, ``test_typescript_sdk.py``, ``test_go_sdk.py``)
drives its client against ``live_server`` as the workspace of ``sdk_tenant``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import PASSWORD, serving, sign_up
from tests.sdks.scripted import Script, Scripted

ROOT = Path(__file__).resolve().parents[2]
SDKS = ROOT / "sdks"
SNAPSHOTS = SDKS / "openapi"


@dataclass(frozen=True)
class SdkTenant:
    """A verified workspace admin and an API key of the workspace, for an SDK to use."""

    workspace_id: str
    slug: str
    email: str
    password: str
    access_token: str
    refresh_token: str
    api_key: str
    admin_api_key: str


@pytest.fixture(scope="module")
def live_server(app) -> Iterator[str]:
    """The app served on 127.0.0.1 (a random port) for the module; its base URL, without a
    trailing slash and without a version prefix (``http://127.0.0.1:PORT``)."""
    with serving(app) as port:
        yield f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def sdk_tenant(app) -> SdkTenant:
    """A fresh workspace for the module, signed up through the API (the mailed token read from
    the test mailbox), with an ``api_user`` key and an ``admin`` key."""
    tenant = sign_up(app.test_client())
    return SdkTenant(workspace_id=tenant.workspace_id, slug=tenant.slug, email=tenant.email,
                     password=PASSWORD, access_token=tenant.access_token,
                     refresh_token=tenant.refresh_token, api_key=tenant.api_key("api_user"),
                     admin_api_key=tenant.api_key("admin"))


@pytest.fixture()
def scripted() -> Iterator[Callable[[Script], Scripted]]:
    """Starts scripted servers (``tests/sdks/scripted.py``) for the test; stops them after."""
    servers: list[Scripted] = []

    def start(script: Script) -> Scripted:
        server = Scripted(script)
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        servers.append(server)
        return server
    yield start
    for server in servers:
        server.shutdown()
        server.server_close()

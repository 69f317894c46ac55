"""Property-based fuzzing of the OpenAPI document: no generated request gets a 5xx answer.

Schemathesis reads ``/api/openapi.json`` from the app and generates valid and invalid requests
for every operation in it, so a new endpoint is fuzzed the day it is added. Each request carries
a fresh token of a signed-up workspace admin, so handlers run past authentication, and the ids
in paths (``{bot_id}``, ``{key_id}``, ``{user_id}``) name live resources of that workspace, so
handlers run past their lookups too.

Schemathesis' own pytest integration (``schemathesis.pytest.from_fixture``) fails on pytest 9
(it sets ``Function._nodeid``, which pytest 9 no longer has), hence the loop over operations
with one subtest each.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from codex32.auth import tokens
from tests.conftest import Tenant, sign_up

# The operations are fuzzed in this many tests, each taking every SHARDS-th one, so parallel
# test workers (pytest-xdist) share the longest part of the suite.
SHARDS = 4
FUZZ_SETTINGS = settings(max_examples=10, deadline=None, derandomize=True, database=None,
                         suppress_health_check=list(HealthCheck), print_blob=False)


class Workspace:
    """The fuzzing tenant: fresh credentials per request, and live resources for path ids."""

    def __init__(self, app) -> None:
        self.app = app
        self.tenant: Tenant = sign_up(app.test_client())
        self._live: dict[str, str] = {}

    def fresh_tokens(self) -> tokens.TokenPair:
        """A new pair, so a fuzzed revoke or refresh never locks out the next request."""
        with self.app.app_context():
            pair = tokens.issue_pair(self.tenant.user_id, self.tenant.workspace_id)
        self.tenant.access_token = pair.access_token
        return pair

    def headers_for(self, path: str) -> dict[str, str]:
        """The bearer header for ``path``: refresh and switch take a refresh token."""
        pair = self.fresh_tokens()
        token = (pair.refresh_token if path.endswith(("/auth/refresh", "/auth/switch"))
                 else pair.access_token)
        return {"Authorization": f"Bearer {token}"}

    def live_id(self, parameter: str) -> str | None:
        """The id of a resource that exists now (recreated after a fuzzed DELETE), or None."""
        if parameter not in LIVE:
            return None
        exists, create = LIVE[parameter]
        self.fresh_tokens()
        current = self._live.get(parameter)
        if current is None or not exists(self.tenant, current):
            current = self._live[parameter] = create(self.tenant)
        return current


def _is_member(tenant: Tenant, user_id: str) -> bool:
    members = tenant.call("GET", "/api/v1/members").json
    return any(member["user_id"] == user_id for member in members)


def _new_api_key_id(tenant: Tenant) -> str:
    response = tenant.call("POST", "/api/v1/api-keys",
                           json={"name": f"fuzz-{uuid.uuid4().hex[:8]}", "role": "viewer"})
    assert response.status_code == 201, response.json
    return response.json["id"]


# Path parameter -> (does this id still exist?, create one and return its id).
LIVE: dict[str, tuple[Callable[[Tenant, str], bool], Callable[[Tenant], str]]] = {
    "bot_id": (lambda t, i: t.call("GET", f"/api/v1/bots/{i}").status_code == 200,
               lambda t: t.create_bot()["id"]),
    "key_id": (lambda t, i: t.call("GET", f"/api/v1/api-keys/{i}").status_code == 200,
               _new_api_key_id),
    "user_id": (_is_member, lambda t: t.add_member("viewer")["user_id"]),
}


@pytest.fixture()
def fuzz_app(make_app):
    """An app of its own, so fuzzed sign-ins never spend the shared app's login allowance."""
    return make_app()


@contextmanager
def tracing(tracer: Any) -> Iterator[None]:
    """Run the block with ``tracer`` as this thread's trace function (None: none), then put
    the one before back.

    Under ``--cov`` that function is coverage's: with it set, Python 3.11 runs every line of
    every module on its slow path, measured or not, and hypothesis' and schemathesis' drawing
    of cases (most of a fuzz run, none of it the product's code) took 2.4 times as long. The
    fuzz loop draws untraced and traces each case's requests (``tracing(sys.gettrace())``
    taken before it), so the product code they run is measured as before; other threads keep
    their own trace functions.
    """
    before = sys.gettrace()
    sys.settrace(tracer)
    try:
        yield
    finally:
        sys.settrace(before)


def _describe(case, response) -> str:
    return (f"{case.method} {case.formatted_path} answered {response.status_code}\n"
            f"query={case.query!r}\nheaders={case.headers!r}\nbody={case.body!r}\n"
            f"response={response.content[:500]!r}")


@pytest.mark.parametrize("shard", range(SHARDS), ids=lambda n: f"shard{n + 1}of{SHARDS}")
def test_no_operation_answers_with_a_server_error(fuzz_app, subtests, shard):
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", fuzz_app)
    with tracing(None):  # schemathesis reading the document, not the product's code
        operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 20
    workspace = Workspace(fuzz_app)
    tracer = sys.gettrace()  # coverage's under --cov: set again for each case's requests

    for operation in operations[shard::SHARDS]:
        cases = st.one_of(operation.as_strategy(GenerationMode.POSITIVE),
                          operation.as_strategy(GenerationMode.NEGATIVE))

        @FUZZ_SETTINGS
        @given(case=cases)
        def fuzz(case) -> None:
            with tracing(tracer):
                for name in case.path_parameters or {}:
                    case.path_parameters[name] = (workspace.live_id(name)
                                                  or case.path_parameters[name])
                response = case.call(headers=workspace.headers_for(case.path))
            # A 5xx the operation documents (health's 503 while a dependency fails) is an answer.
            documented = case.operation.definition.raw.get("responses", {})
            assert (response.status_code < 500
                    or str(response.status_code) in documented), _describe(case, response)

        with subtests.test(msg=f"{operation.method.upper()} {operation.path}"), tracing(None):
            fuzz()

"""A short fuzz run of API v2 from its own OpenAPI document: no generated request gets an
undocumented 5xx, and every error answer is a problem document.

The machinery (fresh tokens, live ids in paths) is tests/api/test_fuzz.py's.
"""

from __future__ import annotations

import sys

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode

from tests.api.test_fuzz import Workspace, _describe, fuzz_app, tracing  # noqa: F401

SHARDS = 2
SHORT = settings(max_examples=3, deadline=None, derandomize=True, database=None,
                 suppress_health_check=list(HealthCheck), print_blob=False)


@pytest.mark.parametrize("shard", range(SHARDS), ids=lambda n: f"shard{n + 1}of{SHARDS}")
def test_no_v2_operation_answers_with_a_server_error(fuzz_app, subtests, shard):  # noqa: F811
    schema = schemathesis.openapi.from_wsgi("/api/v2/openapi.json", fuzz_app)
    with tracing(None):  # schemathesis reading the document, not the product's code
        operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 20
    workspace = Workspace(fuzz_app)
    tracer = sys.gettrace()  # drawn untraced, requests traced (test_fuzz.tracing)

    for operation in operations[shard::SHARDS]:
        cases = st.one_of(operation.as_strategy(GenerationMode.POSITIVE),
                          operation.as_strategy(GenerationMode.NEGATIVE))

        @SHORT
        @given(case=cases)
        def fuzz(case) -> None:
            with tracing(tracer):
                for name in case.path_parameters or {}:
                    case.path_parameters[name] = (workspace.live_id(name)
                                                  or case.path_parameters[name])
                response = case.call(headers=workspace.headers_for(case.path))
            assert response.status_code < 500, _describe(case, response)
            if response.status_code >= 400:
                headers = {name.lower(): value for name, value in response.headers.items()}
                assert "application/problem+json" in str(headers.get("content-type")), \
                    _describe(case, response)

        with subtests.test(msg=f"{operation.method.upper()} {operation.path}"), tracing(None):
            fuzz()

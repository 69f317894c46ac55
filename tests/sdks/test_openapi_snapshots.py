"""The SDKs are generated from sdks/openapi/v1.json and v2.json: those files must be the
documents the server serves, so an API change that the SDKs have not been regenerated for fails
here (and the SDKs' own type checks and live tests fail on what it breaks).

After a deliberate API change: ``make sdks`` (rewrites the snapshots, regenerates the SDKs).
"""

from __future__ import annotations

import json
import os

import pytest

from tests.sdks.conftest import SNAPSHOTS

UPDATE = os.environ.get("CODEX32_UPDATE_OPENAPI_SNAPSHOTS") == "1"


def canonical(document: dict) -> str:
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


@pytest.mark.parametrize("version", ["1", "2"])
def test_the_sdks_openapi_snapshot_is_the_served_document(client, version):
    served = client.get(f"/api/v{version}/openapi.json")
    assert served.status_code == 200
    snapshot = SNAPSHOTS / f"v{version}.json"
    if UPDATE:
        snapshot.write_text(canonical(served.json))
    assert snapshot.exists(), f"{snapshot} is missing: run `make sdks`"
    assert canonical(served.json) == snapshot.read_text(), (
        f"/api/v{version}/openapi.json differs from {snapshot.relative_to(SNAPSHOTS.parents[1])}:"
        " the SDKs are generated from the snapshot. Run `make sdks` and commit the result.")

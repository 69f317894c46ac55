"""The README's quick-start requests work as written: each ``curl ... -d '<json>'`` in its
"Run it" section is sent to the app, in order, with the token the sign-up returned.

The bot it creates (an ``http_health_check``) gets the network its template needs; running
that template for real, against a local site, is tests/api/test_template_network.py.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def _quick_start_requests() -> list[tuple[str, dict]]:
    """(path, JSON body) of every curl command with a body in the README's "Run it" section."""
    text = README.read_text()
    section = text.split("## Run it", 1)[1].split("\n## ", 1)[0]
    found = []
    for command in re.split(r"(?=\bcurl\s)", section)[1:]:  # a body may span lines
        path = re.search(r"localhost:\d+(/[^\s'\"]+)", command)
        body = re.search(r"-d\s+'([^']*)'", command)
        if path and body:
            found.append((path.group(1), json.loads(body.group(1))))
    return found


def test_the_quick_start_requests_succeed_as_written(client):
    requests = _quick_start_requests()
    paths = [path for path, _ in requests]
    assert paths[:1] == ["/api/v1/workspaces"] and "/api/v1/bots" in paths, paths
    headers: dict[str, str] = {}
    for path, body in requests:
        response = client.post(path, json=body, headers=headers)
        assert response.status_code == 201, (path, response.json)
        if path == "/api/v1/workspaces":
            headers = {"Authorization": f"Bearer {response.json['access_token']}"}
        if path == "/api/v1/bots":
            assert response.json["settings"].get("network") is True, response.json

"""A workspace signed up on a benchmark's server through the product's API, and its bots."""

from __future__ import annotations

import json
import secrets
import time
import uuid
from dataclasses import dataclass

from harness import BenchError, Server, http_json

BOT_CODE = "def main(event, context):\n    return {'ok': True}\n"


@dataclass
class Tenant:
    """A workspace signed up through the product's API, with its admin's tokens."""

    workspace_id: str
    user_id: str
    access_token: str
    refresh_token: str

    def refresh(self, server: Server) -> str:
        """A fresh access token (they live 15 minutes; a long run outlives the first)."""
        status, body = http_json("POST", server.base + "/api/v1/auth/refresh",
                                 token=self.refresh_token)
        if status != 200:
            raise BenchError(f"token refresh failed: {status} {body}")
        self.access_token, self.refresh_token = body["access_token"], body["refresh_token"]
        return self.access_token


def sign_up(server: Server, label: str) -> Tenant:
    """Sign up, verify the address with the token the server logged (no SMTP here), sign in."""
    suffix = uuid.uuid4().hex[:10]
    email, password = f"bench-{label}-{suffix}@example.com", secrets.token_urlsafe(24)
    status, body = http_json("POST", server.base + "/api/v1/workspaces", {
        "name": f"Bench {label} {suffix}", "slug": f"bench-{label}-{suffix}",
        "admin_email": email, "admin_password": password})
    if status != 202:
        raise BenchError(f"sign-up failed: {status} {body}")
    status, verified = http_json("POST", server.base + "/api/v1/auth/verify",
                                 {"token": mailed_token(server, email), "password": password})
    if status != 200:
        raise BenchError(f"verification failed: {status} {verified}")
    status, pair = http_json("POST", server.base + "/api/v1/auth/token",
                             {"email": email, "password": password})
    if status != 200:
        raise BenchError(f"sign-in failed: {status} {pair}")
    return Tenant(workspace_id=body["workspace"]["id"], user_id=verified["user"]["id"],
                  access_token=pair["access_token"], refresh_token=pair["refresh_token"])


def mailed_token(server: Server, email: str, deadline: float = 10.0) -> str:
    """The verification token the server's log shows for ``email`` (JSON lines)."""
    until = time.monotonic() + deadline
    while time.monotonic() < until:
        for line in server.log_path.read_text(errors="replace").splitlines():
            if f'"mail_to":"{email}"' in line:
                return json.loads(line)["mail_token"]
        time.sleep(0.1)
    raise BenchError(f"no verification mail for {email} in {server.log_path}")


def create_bots(server: Server, tenant: Tenant, count: int) -> None:
    for number in range(count):
        status, body = http_json("POST", server.base + "/api/v1/bots",
                                 {"name": f"listed-{number:03d}", "code": BOT_CODE},
                                 token=tenant.access_token)
        if status != 201:
            raise BenchError(f"creating bot {number} failed: {status} {body}")

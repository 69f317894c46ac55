"""``Codex32``: the client object. One httpx client (timeouts, a retrying transport, the
credentials' auth flow) under the generated v1 and v2 clients, and the resources on top.

    client = Codex32(api_key="c32_…", base_url="http://127.0.0.1:8000")
    for bot in client.bots.list():
        print(bot.name)
"""

from __future__ import annotations

from collections.abc import Callable

import httpx

from codex32_client import api_v1, api_v2
from codex32_client.api_v1.api.auth import me
from codex32_client.api_v1.models import Me
from codex32_client.auth import TokenAuth, Tokens, auth_for
from codex32_client.errors import call, expect, remember
from codex32_client.llm import Llm
from codex32_client.resources import (
    ApiKeys,
    AuditLogs,
    Bots,
    Executions,
    Members,
    Schedules,
    Usage,
    Versions,
)
from codex32_client.transport import RetryingTransport, RetryPolicy


class Codex32:
    """A Codex-32 workspace, reached with one kind of credentials:

    - ``api_key``: a workspace API key (``X-API-Key``);
    - ``access_token`` (and ``refresh_token``): a signed-in user's pair, refreshed on a 401;
    - ``email`` and ``password`` (and ``workspace``, a slug or id): signs in on first use.

    ``timeout`` bounds each request (seconds, or an ``httpx.Timeout``); ``retry`` says how
    idempotent calls are retried (``codex32_client.transport``; ``RetryPolicy(max_retries=0)``:
    never). ``on_tokens`` is called with each new token pair (to store it). ``transport``
    replaces the HTTP transport (tests: ``httpx.MockTransport``).
    """

    def __init__(self, *, base_url: str = "http://127.0.0.1:8000", api_key: str | None = None,
                 access_token: str | None = None, refresh_token: str | None = None,
                 email: str | None = None, password: str | None = None,
                 workspace: str | None = None, timeout: float | httpx.Timeout = 30.0,
                 retry: RetryPolicy | None = None,
                 on_tokens: Callable[[Tokens], None] | None = None,
                 transport: httpx.BaseTransport | None = None) -> None:
        base_url = base_url.rstrip("/")
        self.auth = auth = auth_for(
            base_url, api_key=api_key, access_token=access_token, refresh_token=refresh_token,
            email=email, password=password, workspace=workspace, on_tokens=on_tokens)
        self.http = httpx.Client(
            base_url=base_url, auth=auth, timeout=timeout,
            event_hooks={"response": [remember]},
            transport=RetryingTransport(transport or httpx.HTTPTransport(),
                                        retry or RetryPolicy()))
        self._v2 = api_v2.AuthenticatedClient(base_url=base_url, token="")
        self._v2.set_httpx_client(self.http)
        self._v1 = api_v1.AuthenticatedClient(base_url=base_url, token="")
        self._v1.set_httpx_client(self.http)
        self.bots = Bots(self._v2)
        self.versions = Versions(self._v2)
        self.executions = Executions(self._v2)
        self.schedules = Schedules(self._v2)
        self.api_keys = ApiKeys(self._v2)
        self.members = Members(self._v2)
        self.audit_logs = AuditLogs(self._v2)
        self.usage = Usage(self._v2)
        self.llm = Llm(self._v1)

    @property
    def tokens(self) -> Tokens | None:
        """The current token pair (None with an API key, or before signing in)."""
        return self.auth.tokens if isinstance(self.auth, TokenAuth) else None

    def me(self) -> Me:
        """The caller: user (null for an API key), workspace, role (v1 ``/auth/me``)."""
        return expect(call(me.sync_detailed, client=self._v1), Me)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Codex32:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

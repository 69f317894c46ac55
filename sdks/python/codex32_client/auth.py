"""Credentials on each request, as httpx auth flows: an API key, or a bearer access token that
is refreshed once (``POST /api/v1/auth/refresh``) when the server answers 401, then the request
is sent again. A token pair may also come from signing in with email and password.

Refresh tokens rotate (each is good once): the flow keeps the newest pair, shared by the
threads (or asyncio tasks) using the client, and never refreshes twice for one expiry.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncGenerator, Callable, Generator
from dataclasses import dataclass

import httpx

SIGN_IN_PATH = "/api/v1/auth/token"
REFRESH_PATH = "/api/v1/auth/refresh"


@dataclass(frozen=True, repr=False)
class Tokens:
    """A signed-in user's pair, as ``POST /api/v1/auth/token`` and ``/refresh`` answer it.
    Its repr hides both tokens (a pair printed or logged would sign anyone in)."""

    access_token: str
    refresh_token: str | None = None

    def __repr__(self) -> str:
        refresh = "None" if self.refresh_token is None else "'…'"
        return f"Tokens(access_token='…', refresh_token={refresh})"


class ApiKeyAuth(httpx.Auth):
    """Sends the workspace API key (``X-API-Key``) with every request."""

    def __init__(self, api_key: str) -> None:
        self.api_key = api_key

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["X-API-Key"] = self.api_key
        yield request


class TokenAuth(httpx.Auth):
    """Bearer tokens: signs in first when given a password instead of tokens; on a 401, refreshes
    once with the refresh token (or signs in again, with a password) and resends the request.
    With neither (an access token alone), the 401 is the answer."""

    # Not ``requires_response_body``: that would read a whole chat stream before it is
    # iterated. The flows read only the sign-in and refresh answers: ``sync_auth_flow`` (the
    # generator ``auth_flow``) for ``Codex32``, ``async_auth_flow`` for ``AsyncCodex32``, each
    # with its own lock (a thread lock held across an await would stop the event loop).

    def __init__(self, base_url: str, tokens: Tokens | None = None, *, email: str | None = None,
                 password: str | None = None, workspace: str | None = None,
                 on_tokens: Callable[[Tokens], None] | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.tokens = tokens
        self.login = {"email": email, "password": password, "workspace": workspace}
        self.on_tokens = on_tokens
        self._lock = threading.Lock()
        self._async_lock = asyncio.Lock()

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        with self._lock:
            if self.tokens is None:
                self._store((yield self._sign_in()))
        sent = self.tokens
        if sent is None:  # the sign-in failed: its answer is the call's answer
            return
        request.headers["Authorization"] = f"Bearer {sent.access_token}"
        answer = yield request
        if answer.status_code != 401 or not self._renewable(sent):
            return  # nothing to renew with: the 401 is the call's answer
        with self._lock:
            if self.tokens == sent:  # no other thread has renewed the pair meanwhile
                renewed = yield self._renew(sent)
                self._store(renewed)
                if self.tokens == sent:  # the refresh (or sign-in) failed: it answers
                    return
        assert self.tokens is not None
        request.headers["Authorization"] = f"Bearer {self.tokens.access_token}"
        yield request

    async def async_auth_flow(
            self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        async with self._async_lock:
            if self.tokens is None:
                answer = yield self._sign_in()
                await answer.aread()
                self._keep(answer)
        sent = self.tokens
        if sent is None:
            return
        request.headers["Authorization"] = f"Bearer {sent.access_token}"
        answer = yield request
        if answer.status_code != 401 or not self._renewable(sent):
            return
        async with self._async_lock:
            if self.tokens == sent:
                renewed = yield self._renew(sent)
                await renewed.aread()
                self._keep(renewed)
                if self.tokens == sent:
                    return
        assert self.tokens is not None
        request.headers["Authorization"] = f"Bearer {self.tokens.access_token}"
        yield request

    def _renewable(self, sent: Tokens) -> bool:
        return sent.refresh_token is not None or self.login["password"] is not None

    def _renew(self, sent: Tokens) -> httpx.Request:
        if sent.refresh_token is None:
            return self._sign_in()
        return httpx.Request("POST", self.base_url + REFRESH_PATH,
                             headers={"Authorization": f"Bearer {sent.refresh_token}"})

    def _sign_in(self) -> httpx.Request:
        body = {key: value for key, value in self.login.items() if value is not None}
        return httpx.Request("POST", self.base_url + SIGN_IN_PATH, json=body)

    def _store(self, answer: httpx.Response) -> None:
        answer.read()
        self._keep(answer)

    def _keep(self, answer: httpx.Response) -> None:
        """The pair of a sign-in or refresh answer (read already), when it succeeded."""
        if answer.status_code != 200:
            return
        pair = answer.json()
        self.tokens = Tokens(pair["access_token"], pair.get("refresh_token"))
        if self.on_tokens is not None:
            self.on_tokens(self.tokens)


def auth_for(base_url: str, *, api_key: str | None = None, access_token: str | None = None,
             refresh_token: str | None = None, email: str | None = None,
             password: str | None = None, workspace: str | None = None,
             on_tokens: Callable[[Tokens], None] | None = None) -> httpx.Auth:
    """The one kind of credentials a client was given, as httpx auth (sync and async)."""
    if api_key:
        return ApiKeyAuth(api_key)
    if access_token or (email and password):
        tokens = Tokens(access_token, refresh_token) if access_token else None
        return TokenAuth(base_url, tokens, email=email, password=password,
                         workspace=workspace, on_tokens=on_tokens)
    raise ValueError("give api_key, access_token, or email and password")

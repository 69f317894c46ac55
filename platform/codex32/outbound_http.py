"""HTTP clients for plugins whose every connection goes through the pinned check.

``codex32.outbound`` checks a tenant's URL; this module makes the check hold at connect time for
``httpx2``, the client the openai and anthropic SDKs use (``http_client=pinned_client()``). For
every new TCP connection the network backend resolves the host, refuses non-public addresses
(unless the operator allows private targets, :func:`codex32.outbound.private_urls_allowed`)
and connects to exactly the addresses it checked, so neither a name like ``localhost`` nor a
DNS answer that changes between check and connect reaches the private network. TLS still
verifies the certificate against the host name and sends it as SNI: only the TCP connect is
pinned. The client never follows redirects and never uses a proxy from the environment; a
redirect the caller follows anyway opens its connection through the same check.

A caller may also bound a pinned connection's reads and writes by a point in time
(:func:`deadline`): a plugin's read timeout restarts with every byte received, so an upstream
that sends keep-alives (or anything the plugin does not hand on) would otherwise hold its
caller for as long as it likes. The gateway ends its streams this way (services.gateway.streaming).
No Flask, no settings object: plugins call this with nothing but their own options.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache
from typing import Any

import httpcore2
import httpx2

from codex32.outbound import UnsafeURL, check_host

__all__ = ["PinnedBackend", "PinnedTransport", "RefusedConnection", "deadline", "pinned_client"]

DEFAULT_LIMITS = httpx2.Limits(max_connections=100, max_keepalive_connections=20)

# The time.monotonic() by which the current context's reads and writes must end, if any. A
# context variable: a plugin's stream runs in its caller's context (a generator runs where it
# is resumed), a plugin call on a pool runs in a copy of it (codex32.plugins.calls).
_deadline: ContextVar[float | None] = ContextVar("codex32_outbound_deadline", default=None)


@contextmanager
def deadline(at: float) -> Iterator[None]:
    """Inside the block, every read and write on a pinned connection times out by ``at``
    (``time.monotonic()``) at the latest, whatever its own timeout (an enclosing deadline
    that is earlier still holds). The timeout surfaces as httpx's ``ReadTimeout`` or
    ``WriteTimeout``, as a silent server's would."""
    enclosing = _deadline.get()
    token = _deadline.set(at if enclosing is None else min(at, enclosing))
    try:
        yield
    finally:
        _deadline.reset(token)


def _within(timeout: float | None, expired: type[Exception]) -> float | None:
    """``timeout`` shortened to the time left before the context's deadline; ``expired``
    raised when none is left."""
    at = _deadline.get()
    if at is None:
        return timeout
    left = at - time.monotonic()
    if left <= 0:
        raise expired("the caller's deadline passed")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore2.NetworkStream):
    """A connection whose every read and write ends by the deadline of the context it runs
    in (:func:`deadline`); without one it is the connection it wraps."""

    def __init__(self, stream: httpcore2.NetworkStream) -> None:
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, _within(timeout, httpcore2.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, _within(timeout, httpcore2.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(self, ssl_context: ssl.SSLContext, server_hostname: str | None = None,
                  timeout: float | None = None) -> httpcore2.NetworkStream:
        return _DeadlineStream(self._stream.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class RefusedConnection(httpx2.ConnectError):
    """The pinned check refused the address a client was about to connect to.

    The message names the host and the refused address, never a path or a query.
    """


class PinnedBackend(httpcore2.SyncBackend):
    """An httpcore network backend that connects only to addresses the check allowed, with
    connections that honour the context's :func:`deadline`."""

    def __init__(self, *, allow_private: bool | None = None) -> None:
        self.allow_private = allow_private

    def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                    local_address: str | None = None,
                    socket_options: Iterable[Any] | None = None) -> httpcore2.NetworkStream:
        """Resolve and check ``host`` now, then connect to the first checked address that answers.

        With private targets allowed nothing is resolved here and the host is connected to as
        given; the TLS layer above still uses the host name for SNI and the certificate.
        """
        try:
            checked = check_host(host, port, allow_private=self.allow_private)
        except UnsafeURL as exc:
            raise RefusedConnection(f"refused to connect: {exc}") from None
        last_error: httpcore2.ConnectError | httpcore2.ConnectTimeout | None = None
        for address in checked.addresses or (checked.host,):
            try:
                return _DeadlineStream(super().connect_tcp(address, port, timeout,
                                                           local_address, socket_options))
            except (httpcore2.ConnectError, httpcore2.ConnectTimeout) as exc:
                last_error = exc
        assert last_error is not None
        raise last_error


class PinnedTransport(httpx2.HTTPTransport):
    """httpx2's transport over a connection pool that connects through :class:`PinnedBackend`.

    No proxy (a proxy would be the only address checked) and no settings from the environment.
    """

    def __init__(self, *, allow_private: bool | None = None,
                 verify: Any = True, limits: httpx2.Limits = DEFAULT_LIMITS,
                 http2: bool = False) -> None:
        # HTTPTransport.__init__ is not called: it builds a pool on the default backend, and
        # the pool (``_pool``) is all the methods of HTTPTransport use.
        self._pool = httpcore2.ConnectionPool(
            ssl_context=(_verifying_context(http2) if verify is True
                         else httpx2.create_ssl_context(verify=verify, trust_env=False)),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            http1=True, http2=http2,
            network_backend=PinnedBackend(allow_private=allow_private))


@cache
def _verifying_context(http2: bool) -> ssl.SSLContext:
    """The default verifying TLS context (the CA bundle, no settings from the environment),
    built once per process and ALPN setting instead of for every client.

    Loading the CA bundle costs 20-30 ms of CPU, and clients are made per OIDC fetch and per
    provider instance. httpcore sets the context's ALPN protocols on every connection it
    opens, so a context is shared only by clients that set the same protocols (``http2``),
    as one client's connections already share its context across threads.
    """
    return httpx2.create_ssl_context(verify=True, trust_env=False)


def pinned_client(*, allow_private: bool | None = None, verify: Any = True,
                  **options: Any) -> httpx2.Client:
    """An ``httpx2.Client`` for a plugin's outbound calls: pinned, no redirects, no env proxy.

    Pass it to an SDK (``openai.OpenAI(http_client=pinned_client())``) or use it directly.
    ``options`` go to ``httpx2.Client`` (``timeout``, ``headers``, ...); ``allow_private``
    None follows the operator's setting at every connect.
    """
    return httpx2.Client(transport=PinnedTransport(allow_private=allow_private, verify=verify),
                         follow_redirects=False, trust_env=False, **options)

"""Checks URLs that a tenant supplies before the platform connects to them.

A tenant can point a webhook, a chat notifier or an SMTP host anywhere; without this guard it
could make the platform talk to its own database, the cloud metadata service or anything else
on the private network (server-side request forgery). :func:`check_url` refuses such targets;
:func:`resolve_url` also returns the addresses it checked so that :func:`pinned_connection` and
:func:`create_connection` connect to exactly those, which closes the DNS-rebinding gap between
check and connect. :func:`check_host` is the same check for a host and port at connect time
(``codex32.outbound_http`` runs it for every connection an httpx2 client opens). No Flask, no
database and no HTTP client logic (retries, redirects) here.

Private targets are allowed or refused by the operator, never by the tenant:
``CODEX32_ALLOW_PRIVATE_URLS`` (``1``/``true``/``yes`` or ``0``/``false``/``no``) decides; when
it is unset they are allowed in ``development`` (the default ``CODEX32_ENV``) and ``test``, and
refused in ``production``. Same rule as ``Settings.allow_private_urls`` in :mod:`codex32.config`;
it is read here at call time because plugins, the callers, are given no settings object.
"""

from __future__ import annotations

import dataclasses
import http.client
import ipaddress
import os
import re
import socket
import ssl
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from codex32.config_values import FALSE, TRUE

__all__ = [
    "CheckedURL",
    "UnsafeURL",
    "check_host",
    "check_url",
    "create_connection",
    "pinned_connection",
    "private_urls_allowed",
    "resolve_url",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

ALLOW_PRIVATE_ENV = "CODEX32_ALLOW_PRIVATE_URLS"
ENVIRONMENT_ENV = "CODEX32_ENV"
DEFAULT_SCHEMES = ("https", "http")
DEFAULT_PORTS = {"http": 80, "https": 443, "smtp": 25, "smtps": 465}

_PRIVATE_BY_DEFAULT = frozenset({"development", "test"})
# Hosts made only of numbers are IPv4 addresses in legacy notations ("2130706433", "0x7f.1",
# "0177.0.0.1") that resolvers and browsers accept; they are canonicalized before checking.
_NUMERIC_HOST = re.compile(r"(?:0x[0-9a-f]*|[0-9]+)(?:\.(?:0x[0-9a-f]*|[0-9]+)){0,3}\.?")
_HOST_NAME = re.compile(r"[a-z0-9_-]+(?:\.[a-z0-9_-]+)*\.?")
# Whitespace, control characters and backslashes make URL parsers disagree with each other.
_UNSAFE_CHARS = re.compile(r"[\x00-\x20\x7f\\]")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


class UnsafeURL(ValueError):
    """The URL is malformed or points somewhere the platform must not connect.

    The message names the host at most, never the path or query, which may carry a token.
    """


@dataclass(frozen=True, repr=False)
class CheckedURL:
    """A URL that passed :func:`check_url`, with the addresses it was checked against.

    ``addresses`` is empty when nothing was resolved (private targets allowed, or
    ``resolve=False``); connecting then resolves the host as usual.
    """

    url: str
    scheme: str
    host: str
    port: int | None
    addresses: tuple[str, ...] = ()

    @property
    def request_target(self) -> str:
        """Path and query to send in an HTTP request line (``/`` when the path is empty)."""
        parts = urlsplit(self.url)
        target = parts.path or "/"
        return f"{target}?{parts.query}" if parts.query else target

    def __repr__(self) -> str:
        # The path and query may be a credential (a Slack webhook URL is one): never show them.
        return f"<CheckedURL {self.scheme}://{_netloc(self.host, self.port)}>"


def private_urls_allowed() -> bool:
    """The operator's setting: may tenant URLs point at private, loopback or link-local hosts?"""
    value = os.environ.get(ALLOW_PRIVATE_ENV, "").strip().lower()
    if value in TRUE:
        return True
    if value in FALSE or value:
        return False  # an unreadable setting fails closed (config.py refuses to start on it)
    return os.environ.get(ENVIRONMENT_ENV, "development").strip().lower() in _PRIVATE_BY_DEFAULT


def check_url(url: str, *, allow_private: bool | None = None,
              schemes: Iterable[str] = DEFAULT_SCHEMES, resolve: bool = True) -> str:
    """Return ``url`` normalized, or raise :class:`UnsafeURL`.

    Refuses other schemes, a missing host, ``user:password@`` credentials, and (unless private
    targets are allowed) hosts that are or resolve to any non-public address. ``allow_private``
    None reads the operator setting (:func:`private_urls_allowed`). ``resolve=False`` checks the
    shape and IP literals only, for validating configuration without a DNS lookup.
    """
    return resolve_url(url, allow_private=allow_private, schemes=schemes, resolve=resolve).url


def resolve_url(url: str, *, allow_private: bool | None = None,
                schemes: Iterable[str] = DEFAULT_SCHEMES, resolve: bool = True) -> CheckedURL:
    """Like :func:`check_url`, but return the checked addresses too, to connect to them only."""
    if not isinstance(url, str) or not url:
        raise UnsafeURL("URL is empty")
    if _UNSAFE_CHARS.search(url):
        raise UnsafeURL("URL contains whitespace, control characters or backslashes")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UnsafeURL(f"URL is malformed: {exc}") from None
    scheme = parts.scheme.lower()
    allowed_schemes = tuple(s.lower() for s in schemes)
    if scheme not in allowed_schemes:
        raise UnsafeURL(f"URL scheme must be one of {', '.join(allowed_schemes)}")
    if "@" in parts.netloc:
        raise UnsafeURL("URL must not contain credentials (user:password@host)")
    if not parts.hostname:
        raise UnsafeURL("URL has no host")

    host, literal = _normalize_host(parts.hostname, bracketed="[" in parts.netloc)
    normalized = urlunsplit((scheme, _netloc(host, port), parts.path, parts.query, ""))
    effective_port = port if port is not None else DEFAULT_PORTS.get(scheme)
    return _checked(CheckedURL(normalized, scheme, host, effective_port), literal,
                    allow_private=allow_private, resolve=resolve)


def check_host(host: str, port: int, *, allow_private: bool | None = None) -> CheckedURL:
    """Check a host and port about to be connected to; the result names the addresses to use.

    The connect-time half of :func:`resolve_url`, for HTTP clients that know only the host and
    port of a connection (``codex32.outbound_http``). ``host`` is a name or an IP literal
    (IPv6 with or without brackets).
    """
    if not isinstance(host, str) or not host or _UNSAFE_CHARS.search(host):
        raise UnsafeURL("host is empty or contains unsafe characters")
    bare = host.removeprefix("[").removesuffix("]")
    name, literal = _normalize_host(bare, bracketed=":" in bare)
    return _checked(CheckedURL(f"tcp://{_netloc(name, port)}", "tcp", name, port), literal,
                    allow_private=allow_private, resolve=True)


def _checked(target: CheckedURL, literal: IPAddress | None, *, allow_private: bool | None,
             resolve: bool) -> CheckedURL:
    """``target`` with the addresses it may connect to, or :class:`UnsafeURL`."""
    if allow_private is None:
        allow_private = private_urls_allowed()
    if allow_private:
        return target
    host = target.host
    if literal is not None:
        addresses: list[IPAddress] = [literal]
    elif resolve:
        addresses = _resolve(host, target.port)
    else:
        return target
    for address in addresses:
        reason = _refusal(address)
        if reason:
            shown = host if literal is not None else f"{host} resolves to {address}, which"
            raise UnsafeURL(f"{shown} is {reason}; private network targets are not allowed")
    return dataclasses.replace(target, addresses=tuple(str(address) for address in addresses))


def create_connection(checked: CheckedURL, timeout: float | None = None,
                      source_address: tuple[str, int] | None = None) -> socket.socket:
    """Open a TCP connection to one of the checked addresses (the first that answers)."""
    if checked.port is None:
        raise ValueError(f"no port known for scheme {checked.scheme!r}")
    if not checked.addresses:
        return socket.create_connection((checked.host, checked.port), timeout, source_address)
    last_error: OSError | None = None
    for address in checked.addresses:
        try:
            return socket.create_connection((address, checked.port), timeout, source_address)
        except OSError as exc:
            last_error = exc
    assert last_error is not None
    raise last_error


def pinned_connection(checked: CheckedURL, *, timeout: float,
                      context: ssl.SSLContext | None = None) -> http.client.HTTPConnection:
    """An HTTP(S) connection to ``checked`` that connects to the checked addresses only.

    The ``Host`` header, TLS server name and certificate check still use the host name. It
    never uses a proxy and, being plain :mod:`http.client`, never follows redirects.
    """
    connection: _PinnedHTTPConnection
    if checked.scheme == "https":
        connection = _PinnedHTTPSConnection(checked.host, checked.port, timeout=timeout,
                                            context=context or ssl.create_default_context())
    elif checked.scheme == "http":
        connection = _PinnedHTTPConnection(checked.host, checked.port, timeout=timeout)
    else:
        raise ValueError(f"not an HTTP URL scheme: {checked.scheme!r}")
    connection.checked = checked
    return connection


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Connects to ``checked.addresses`` instead of resolving the host name again."""

    checked: CheckedURL
    source_address: tuple[str, int] | None  # set by HTTPConnection.__init__

    def connect(self) -> None:
        self.sock = create_connection(self.checked, self.timeout, self.source_address)
        # Same as http.client: requests are small and written in pieces.
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _PinnedHTTPSConnection(http.client.HTTPSConnection, _PinnedHTTPConnection):
    """HTTPSConnection.connect calls super().connect(), which is the pinned one above."""


def _netloc(host: str, port: int | None) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"{shown}:{port}" if port is not None else shown


def _normalize_host(hostname: str, *, bracketed: bool) -> tuple[str, IPAddress | None]:
    """The canonical host and, when the host is an IP literal, its address."""
    if bracketed:
        try:
            address = ipaddress.IPv6Address(hostname)
        except ValueError:
            raise UnsafeURL("URL host in brackets is not an IPv6 address") from None
        return str(address), address
    if _NUMERIC_HOST.fullmatch(hostname):
        try:
            packed = socket.inet_aton(hostname.rstrip("."))
        except OSError:
            raise UnsafeURL("URL host is not a valid IPv4 address") from None
        address4 = ipaddress.IPv4Address(packed)
        return str(address4), address4
    try:
        host = hostname.encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise UnsafeURL("URL host is not a valid host name") from None
    if not _HOST_NAME.fullmatch(host):
        raise UnsafeURL("URL host is not a valid host name")
    return host, None


def _resolve(host: str, port: int | None) -> list[IPAddress]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise UnsafeURL(f"cannot resolve host {host}") from None
    addresses: list[IPAddress] = []
    for family, _type, _proto, _name, sockaddr in infos:
        if family not in (socket.AF_INET, socket.AF_INET6):
            continue
        address = ipaddress.ip_address(sockaddr[0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise UnsafeURL(f"cannot resolve host {host}")
    return addresses


def _refusal(address: IPAddress) -> str | None:
    """Why connecting to ``address`` is refused, or None for a public address."""
    if isinstance(address, ipaddress.IPv6Address):
        # IPv6 forms that carry an IPv4 address reach that IPv4 address: judge it instead.
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            return _refusal(embedded)
    for kind, flag in (
        ("an unspecified", address.is_unspecified),
        ("a loopback", address.is_loopback),
        ("a link-local", address.is_link_local),
        ("a multicast", address.is_multicast),
        ("a private", address.is_private),
        ("a reserved", address.is_reserved),
    ):
        if flag:
            return f"{kind} address"
    if not address.is_global:  # e.g. 100.64.0.0/10, shared carrier-grade NAT space
        return "not a public address"
    return None

"""Conformance checks on where a plugin connects: part of every suite in the kit.

A configuration property marked ``"format": "uri"`` is an outbound URL a tenant chooses. With
private targets refused (production), the plugin must never connect to one that names a
private host, whatever the name (``localhost``), never follow a redirect, and its health check
must never quote what a backend answered (``/test`` is no way to read a server). Plugins pass by
connecting through :mod:`codex32.outbound_http` (``pinned_client()`` for httpx2-based SDKs) or
:mod:`codex32.outbound`. The listening socket here is never answered: a connection to it is
seen in its backlog, which is all a check needs.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any, ClassVar

import pytest

from codex32.outbound import ALLOW_PRIVATE_ENV
from codex32.plugins.errors import PluginError

__all__ = ["UPSTREAM_MARKER", "OutboundConformance"]

# What a scripted backend answers in :meth:`OutboundConformance.upstream_error_case`.
UPSTREAM_MARKER = "conformance-UPSTREAM-TEXT-7c1e"
# Resolves to 127.0.0.1 during the connect-time check, as a hostile DNS record would.
PUBLIC_LOOKING_NAME = "api.provider-conformance.example"


def _resolving(name: str, address: str) -> Callable[..., list]:
    """``socket.getaddrinfo`` with ``name`` resolving to ``address``, every other name as usual."""
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> list:
        return real(address if host == name else host, port, *args, **kwargs)

    return getaddrinfo


@contextmanager
def _listener() -> Iterator[tuple[int, Callable[[], bool]]]:
    """A port on 127.0.0.1 and a function telling whether anything connected to it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        sock.setblocking(False)

        def connected() -> bool:
            try:
                sock.accept()[0].close()
            except BlockingIOError:
                return False
            return True

        yield sock.getsockname()[1], connected


class OutboundConformance:
    """Mixed into :class:`codex32.testing.PluginConformance`; relies on its helpers."""

    build: Callable[..., Any]
    exercise: Callable[[Any], object]
    plugin_class: ClassVar[Any]

    def redirect_case(self, location: str) -> Any:
        """An ``ErrorCase`` whose ``arrange`` makes the backend answer the plugin's next request
        with a redirect to ``location`` (HTTP backends), or None."""
        return None

    def upstream_error_case(self) -> Any:
        """An ``ErrorCase`` whose ``arrange`` makes the backend answer the next request with a
        failure whose body carries :data:`UPSTREAM_MARKER`, or None."""
        return None

    def outbound_target(self, host: str, port: int
                        ) -> tuple[dict[str, Any], dict[str, str]] | None:
        """The configuration and the secrets (on top of the working ones) that point every
        connection the plugin makes at ``host:port``, or None (the connect-time check skips).
        Default: every ``"format": "uri"`` setting set to ``http://host:port/``. Override it
        when a secret holds the URL (a webhook URL) or a setting names a host that is no URL
        (an SMTP server)."""
        names = self._outbound_properties()
        if not names:
            return None
        return {name: f"http://{host}:{port}/" for name in names}, {}

    def _outbound_properties(self) -> list[str]:
        properties = self.plugin_class.config_schema.get("properties") or {}
        return [name for name, prop in properties.items()
                if isinstance(prop, dict) and prop.get("format") == "uri"]

    def _calls(self, plugin: Any) -> list[tuple[str, Callable[[], object]]]:
        return [("health check", plugin.health_check), ("exercise", lambda: self.exercise(plugin))]

    @pytest.mark.parametrize("host", ["localhost", PUBLIC_LOOKING_NAME])
    def test_outbound_urls_naming_a_private_host_are_refused_at_connect_time(self, monkeypatch,
                                                                             host):
        """With private targets refused, the plugin pointed at ``<host>:<port>`` by
        :meth:`outbound_target` (every ``"format": "uri"`` setting, by default), ``localhost``
        or a public-looking name that resolves to 127.0.0.1: the health check and
        :meth:`exercise` never connect there (a codex32 error or a failed health check
        instead)."""
        monkeypatch.setenv(ALLOW_PRIVATE_ENV, "0")
        monkeypatch.setattr(socket, "getaddrinfo", _resolving(PUBLIC_LOOKING_NAME, "127.0.0.1"))
        with _listener() as (port, connected):
            target = self.outbound_target(host, port)
            if target is None:
                pytest.skip(f"{self.plugin_class.__name__} has no \"format\": \"uri\" setting "
                            f"and {type(self).__name__}.outbound_target() names none")
            config, secrets = target
            try:
                plugin = self.build(config, {**getattr(self, "plugin_secrets", {}), **secrets})
            except PluginError:
                return  # refused when built: as good
            for what, call in self._calls(plugin):
                with suppress(PluginError):
                    call()
                assert not connected(), f"the {what} connected to localhost:{port}"

    def test_redirects_are_never_followed(self):
        """With :meth:`redirect_case` scripting a redirect to another local server, neither the
        health check nor :meth:`exercise` connects to the redirect's target."""
        with _listener() as (port, connected):
            case = self.redirect_case(f"http://127.0.0.1:{port}/internal")
            if case is None:
                pytest.skip(f"{type(self).__name__}.redirect_case() scripts no redirect")
            for what, call in self._calls(self.build(case.config, case.secrets)):
                if case.arrange is not None:
                    case.arrange()
                with suppress(PluginError):
                    call()
                assert not connected(), f"the {what} followed a redirect"

    def test_health_check_never_quotes_the_backend(self):
        """With :meth:`upstream_error_case` scripting a failure whose body carries
        :data:`UPSTREAM_MARKER`, the health check's detail does not contain it (name the status
        or the error class instead)."""
        case = self.upstream_error_case()
        if case is None:
            pytest.skip(f"{type(self).__name__}.upstream_error_case() scripts no failure")
        plugin = self.build(case.config, case.secrets)
        if case.arrange is not None:
            case.arrange()
        result = plugin.health_check()
        assert UPSTREAM_MARKER not in (result.detail or ""), (
            f"the health check quotes the backend: {result.detail!r}")

"""The kit's connect-time check reaches URLs a plugin keeps in a secret or a host setting:
through ``outbound_target()``, a notifier that connects straight to its secret webhook URL
(no pinning) fails it, and one that checks the address when it connects passes."""

from __future__ import annotations

import http.client
from urllib.parse import urlsplit

import pytest

from codex32.plugins.api import (
    Notification,
    Notifier,
    ProviderError,
    pinned_connection,
    resolve_url,
)
from codex32.testing import NotifierConformance
from codex32.testing.outbound import PUBLIC_LOOKING_NAME


class Unpinned(Notifier):
    """Posts to the ``url`` secret with http.client: nothing checks where it connects."""

    id = "unpinned"
    secrets = ("url",)

    def notify(self, notification: Notification) -> None:
        url = urlsplit(self.secret("url") or "")
        connection = http.client.HTTPConnection(url.hostname or "", url.port, timeout=0.5)
        try:
            connection.request("POST", url.path or "/", body=b"{}")
        except OSError as exc:
            raise ProviderError(f"post failed ({type(exc).__name__})") from None
        finally:
            connection.close()


class Pinned(Unpinned):
    """The same, through the core's checked connection."""

    id = "pinned"

    def notify(self, notification: Notification) -> None:
        try:
            checked = resolve_url(self.secret("url") or "")
            connection = pinned_connection(checked, timeout=0.5)
            connection.request("POST", "/", body=b"{}")
            connection.close()
        except Exception as exc:
            raise ProviderError(f"post failed ({type(exc).__name__})") from None


class Suite(NotifierConformance):
    """A notifier suite built by hand (pytest does not collect it)."""

    def __init__(self, plugin_class: type[Notifier]) -> None:
        self.plugin_class = plugin_class
        self.plugin_secrets = {"url": "http://example.invalid/"}

    def outbound_target(self, host: str, port: int) -> tuple[dict, dict]:
        return {}, {"url": f"http://{host}:{port}/hook"}


def check(plugin_class: type[Notifier], host: str) -> None:
    """Run the connect-time check on ``plugin_class``; a skip is a failure here."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        try:
            Suite(plugin_class).test_outbound_urls_naming_a_private_host_are_refused_at_connect_time(
                monkeypatch, host)
        except pytest.skip.Exception as skipped:
            pytest.fail(f"the check skipped: {skipped}")


@pytest.mark.parametrize("host", ["localhost", PUBLIC_LOOKING_NAME])
def test_a_notifier_connecting_to_its_secret_url_unchecked_fails_the_check(host):
    with pytest.raises(AssertionError, match="connected"):
        check(Unpinned, host)


@pytest.mark.parametrize("host", ["localhost", PUBLIC_LOOKING_NAME])
def test_a_notifier_connecting_through_the_core_passes_it(host):
    check(Pinned, host)

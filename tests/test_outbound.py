"""Tests for codex32.outbound's check of tenant-supplied URLs (check_url, resolve_url, the
operator's setting); the check again at connect time is in test_outbound_connect.py. No real
DNS: IP literals, /etc/hosts' localhost, or a patched resolver."""

from __future__ import annotations

import socket

import pytest

from codex32 import outbound
from codex32.outbound import UnsafeURL, check_url, resolve_url

PUBLIC = "93.184.215.14"


@pytest.fixture(autouse=True)
def _clean_settings(monkeypatch):
    """Each test starts from the default operator setting (development, nothing set)."""
    monkeypatch.delenv(outbound.ALLOW_PRIVATE_ENV, raising=False)
    monkeypatch.delenv(outbound.ENVIRONMENT_ENV, raising=False)


def fake_resolver(monkeypatch, *addresses: str) -> list[str]:
    """Make every host name resolve to ``addresses``; returns the list of names looked up."""
    looked_up: list[str] = []

    def getaddrinfo(host, port, *args, **kwargs):
        looked_up.append(host)
        return [
            (socket.AF_INET6 if ":" in a else socket.AF_INET, socket.SOCK_STREAM, 6, "",
             (a, port or 0))
            for a in addresses
        ]

    monkeypatch.setattr(outbound.socket, "getaddrinfo", getaddrinfo)
    return looked_up


@pytest.mark.parametrize("url", [
    "http://127.0.0.1/",
    "http://127.0.0.1:5432/",
    "http://localhost/hook",
    "http://LOCALHOST/hook",
    "http://10.0.0.5/",
    "http://172.16.3.4/",
    "http://192.168.1.1/",
    "http://169.254.169.254/latest/meta-data/",
    "http://[::1]/",
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:10.0.0.1]/",
    "http://[fe80::1]/",
    "http://[fc00::1]/",
    "http://[2002:7f00:1::]/",
    "http://[64:ff9b::a9fe:a9fe]/",
    "http://0.0.0.0/",
    "http://0/",
    "http://2130706433/",
    "http://0x7f.1/",
    "http://0177.0.0.1/",
    "http://127.1/",
    "http://224.0.0.1/",
    "http://240.0.0.1/",
    "http://100.64.0.1/",
])
def test_private_targets_are_refused(url):
    with pytest.raises(UnsafeURL, match="not allowed"):
        check_url(url, allow_private=False)


def test_public_ip_literal_is_allowed_and_normalized():
    assert check_url(f"HTTPS://{PUBLIC}:8443/a/b?x=1#frag", allow_private=False) == (
        f"https://{PUBLIC}:8443/a/b?x=1"
    )


def test_decimal_encoded_host_is_canonicalized_before_the_check():
    assert check_url("http://1572394766/", allow_private=False) == f"http://{PUBLIC}/"


def test_ipv4_mapped_public_address_is_allowed():
    assert check_url(f"http://[::ffff:{PUBLIC}]/", allow_private=False) == (
        "http://[::ffff:5db8:d70e]/"
    )


@pytest.mark.parametrize(("url", "message"), [
    ("ftp://93.184.215.14/file", "scheme"),
    ("file:///etc/passwd", "scheme"),
    ("gopher://93.184.215.14/", "scheme"),
    ("//93.184.215.14/", "scheme"),
    ("http:///path", "no host"),
    ("http://user:pass@93.184.215.14/", "credentials"),
    ("http://user@93.184.215.14/", "credentials"),
    ("http://93.184.215.14 /", "whitespace"),
    ("http://93.184.215.14\\@127.0.0.1/", "backslash"),
    ("http://[example.com]/", "IPv6"),
    ("http://[::1/", "malformed"),
    ("http://256.1.1.1/", "IPv4"),
    ("http://93.184.215.14:99999/", "malformed"),
    ("http://exa%6dple.com/", "host name"),
    ("", "empty"),
])
def test_malformed_or_unsupported_urls_are_refused(url, message):
    with pytest.raises(UnsafeURL, match=message):
        check_url(url, allow_private=True)


def test_credentials_are_not_echoed_in_the_error():
    with pytest.raises(UnsafeURL) as caught:
        check_url("https://admin:hunter2@93.184.215.14/", allow_private=False)
    assert "hunter2" not in str(caught.value)


def test_error_names_the_host_but_never_the_path_or_query():
    with pytest.raises(UnsafeURL) as caught:
        check_url("http://10.1.2.3/services/T0/B0/s3cr3t?token=abc", allow_private=False)
    assert "10.1.2.3" in str(caught.value)
    assert "s3cr3t" not in str(caught.value) and "abc" not in str(caught.value)


def test_schemes_can_be_narrowed_or_widened():
    with pytest.raises(UnsafeURL, match="scheme"):
        check_url(f"http://{PUBLIC}/", schemes=("https",), allow_private=False)
    assert check_url(f"smtp://{PUBLIC}:587", schemes=("smtp",)) == f"smtp://{PUBLIC}:587"


def test_a_host_name_is_refused_when_any_resolved_address_is_private(monkeypatch):
    fake_resolver(monkeypatch, PUBLIC, "10.0.0.7")
    with pytest.raises(UnsafeURL, match=r"hooks\.example resolves to 10\.0\.0\.7"):
        check_url("https://hooks.example/x", allow_private=False)


def test_a_fully_qualified_name_with_a_trailing_dot_is_checked_too(monkeypatch):
    looked_up = fake_resolver(monkeypatch, "127.0.0.1")
    with pytest.raises(UnsafeURL, match="loopback"):
        check_url("http://Internal.Example./", allow_private=False)
    assert looked_up == ["internal.example."]


def test_a_host_name_resolving_to_public_addresses_is_pinned(monkeypatch):
    looked_up = fake_resolver(monkeypatch, PUBLIC, "2606:2800:21f:cb07:6820:80da:af6b:8b2c")
    checked = resolve_url("https://Hooks.Example/x?y=1", allow_private=False)
    assert looked_up == ["hooks.example"]
    assert checked.url == "https://hooks.example/x?y=1"
    assert checked.port == 443
    assert checked.addresses == (PUBLIC, "2606:2800:21f:cb07:6820:80da:af6b:8b2c")
    assert checked.request_target == "/x?y=1"
    assert "x?y=1" not in repr(checked)


def test_unresolvable_host_is_refused(monkeypatch):
    def getaddrinfo(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(outbound.socket, "getaddrinfo", getaddrinfo)
    with pytest.raises(UnsafeURL, match=r"cannot resolve host nowhere\.invalid"):
        check_url("https://nowhere.invalid/", allow_private=False)


def test_resolve_false_checks_shape_and_literals_without_dns(monkeypatch):
    looked_up = fake_resolver(monkeypatch, "10.0.0.7")
    assert check_url("https://hooks.example/x", allow_private=False, resolve=False)
    with pytest.raises(UnsafeURL):
        check_url("https://127.0.0.1/x", allow_private=False, resolve=False)
    assert looked_up == []


def test_allowing_private_targets_skips_the_address_check():
    assert check_url("http://127.0.0.1:8080/hook", allow_private=True) == (
        "http://127.0.0.1:8080/hook"
    )


@pytest.mark.parametrize(("allow", "env", "allowed"), [
    (None, None, True),  # development is the default environment
    (None, "development", True),
    (None, "test", True),
    (None, "production", False),
    (None, "staging", False),  # not a known environment: fail closed
    ("1", "production", True),
    ("true", "production", True),
    ("YES", "production", True),
    ("0", "development", False),
    ("false", "development", False),
    ("no", None, False),
    ("maybe", "development", False),  # an unreadable setting fails closed
])
def test_operator_setting_decides_when_allow_private_is_none(monkeypatch, allow, env, allowed):
    if allow is not None:
        monkeypatch.setenv(outbound.ALLOW_PRIVATE_ENV, allow)
    if env is not None:
        monkeypatch.setenv(outbound.ENVIRONMENT_ENV, env)
    assert outbound.private_urls_allowed() is allowed
    if allowed:
        assert check_url("http://127.0.0.1/") == "http://127.0.0.1/"
    else:
        with pytest.raises(UnsafeURL):
            check_url("http://127.0.0.1/")


def test_explicit_allow_private_overrides_the_operator_setting(monkeypatch):
    monkeypatch.setenv(outbound.ALLOW_PRIVATE_ENV, "1")
    with pytest.raises(UnsafeURL):
        check_url("http://127.0.0.1/", allow_private=False)

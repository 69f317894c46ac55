"""Tests for the outbound guard at connect time: codex32.outbound.pinned_connection and
codex32.outbound_http's pinned client connect to the address they checked, keep TLS on the
name, follow no redirect and end reads by a deadline. The URL check itself is in
test_outbound.py. No real DNS: IP literals, /etc/hosts' localhost, or a patched resolver."""

from __future__ import annotations

import datetime
import http.server
import socket
import ssl
import threading
import time

import httpx2
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from codex32 import outbound, outbound_http
from codex32.outbound import pinned_connection
from codex32.outbound_http import RefusedConnection, pinned_client
from tests.test_outbound import _clean_settings, fake_resolver  # noqa: F401  (autouse fixture)


@pytest.fixture
def local_server():
    """Start an HTTP server on 127.0.0.1 (TLS when given a context); yields (port, Host headers
    seen)."""
    servers: list[http.server.HTTPServer] = []
    seen: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            seen.append(self.headers["Host"])
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    def start(tls: ssl.SSLContext | None = None) -> tuple[int, list[str]]:
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if tls is not None:
            server.socket = tls.wrap_socket(server.socket, server_side=True)
        servers.append(server)
        threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True).start()
        return server.server_address[1], seen

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def certificate_for(name: str, folder) -> tuple[str, str]:
    """A self-signed certificate for ``name``: (certificate file, key file)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_file), str(key_file)


def test_pinned_connection_connects_to_the_checked_address_not_a_new_lookup(local_server):
    """The host name would resolve nowhere; the pinned address is used with its Host header."""
    port, seen = local_server()
    checked = outbound.CheckedURL(f"http://rebinding.invalid:{port}/", "http",
                                  "rebinding.invalid", port, ("127.0.0.1",))
    connection = pinned_connection(checked, timeout=5)
    connection.request("GET", checked.request_target)
    assert connection.getresponse().status == 204
    connection.close()
    assert seen == [f"rebinding.invalid:{port}"]


def test_pinned_https_connection_verifies_the_certificate_against_the_host_name(
        local_server, tmp_path):
    cert_file, key_file = certificate_for("hooks.pinned.test", tmp_path)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert_file, key_file)
    port, seen = local_server(tls)
    trusting = ssl.create_default_context(cafile=cert_file)

    checked = outbound.CheckedURL(f"https://hooks.pinned.test:{port}/", "https",
                                  "hooks.pinned.test", port, ("127.0.0.1",))
    connection = pinned_connection(checked, timeout=5, context=trusting)
    connection.request("GET", "/")
    assert connection.getresponse().status == 204
    connection.close()
    assert seen == [f"hooks.pinned.test:{port}"]

    impostor = outbound.CheckedURL(f"https://other.test:{port}/", "https", "other.test", port,
                                   ("127.0.0.1",))
    with pytest.raises(ssl.SSLCertVerificationError):
        pinned_connection(impostor, timeout=5, context=trusting).request("GET", "/")


# --- codex32.outbound_http: the check at connect time, for httpx2 and the SDKs on it ---------


@pytest.fixture
def production(monkeypatch):
    """The operator refuses private targets, as production does."""
    monkeypatch.setenv(outbound.ALLOW_PRIVATE_ENV, "0")


@pytest.mark.parametrize("host", ["localhost", "127.1", "[::ffff:127.0.0.1]"])
def test_pinned_client_refuses_a_loopback_host_at_connect_time(production, local_server, host):
    port, seen = local_server()
    with pinned_client() as client, pytest.raises(RefusedConnection, match="not allowed"):
        client.get(f"http://{host}:{port}/")
    assert seen == []


def test_pinned_client_refuses_a_public_looking_name_resolving_to_loopback(
        production, local_server, monkeypatch):
    port, seen = local_server()
    looked_up = fake_resolver(monkeypatch, "127.0.0.1")
    with pinned_client() as client, pytest.raises(RefusedConnection,
                                                   match=r"api\.example\.com resolves to"):
        client.get(f"http://api.example.com:{port}/v1/models")
    assert looked_up == ["api.example.com"] and seen == []


def test_pinned_client_connects_to_the_address_it_checked_and_keeps_tls_on_the_name(
        production, local_server, monkeypatch, tmp_path):
    """One lookup, checked, connected to; SNI and the certificate still use the host name."""
    cert_file, key_file = certificate_for("llm.pinned.test", tmp_path)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert_file, key_file)
    port, seen = local_server(tls)
    looked_up = fake_resolver(monkeypatch, "127.0.0.1")
    # Stand-in for a public address: the only way to reach one from a test is to call
    # 127.0.0.1 public for the length of this test.
    monkeypatch.setattr(outbound, "_refusal", lambda address: None)
    trusting = ssl.create_default_context(cafile=cert_file)
    with pinned_client(verify=trusting) as client:
        assert client.get(f"https://llm.pinned.test:{port}/").status_code == 204
        with pytest.raises(httpx2.ConnectError):  # a name the certificate does not cover
            client.get(f"https://other.pinned.test:{port}/")
    # The connect itself passes the checked address on ("127.0.0.1"), never the name again.
    assert looked_up == ["llm.pinned.test", "127.0.0.1", "other.pinned.test", "127.0.0.1"]
    assert seen == [f"llm.pinned.test:{port}"]


def test_pinned_client_does_not_follow_a_redirect(local_server):
    """A redirect comes back as the answer; the target is never contacted."""
    inner_port, inner_seen = local_server()
    redirect = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _redirect_to(
        f"http://127.0.0.1:{inner_port}/admin"))
    threading.Thread(target=redirect.serve_forever, args=(0.01,), daemon=True).start()
    try:
        with pinned_client() as client:
            answer = client.get(f"http://127.0.0.1:{redirect.server_address[1]}/v1/models")
    finally:
        redirect.shutdown()
        redirect.server_close()
    assert answer.status_code == 302 and inner_seen == []


def test_a_redirect_followed_anyway_is_checked_again_at_its_connect(production, monkeypatch):
    """Even a caller that asks to follow cannot reach a private address through a redirect."""
    looked_up = fake_resolver(monkeypatch, "127.0.0.1")
    monkeypatch.setattr(outbound, "_refusal",
                        lambda address: None if looked_up[-1] == "public.test" else "private")
    redirect = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _redirect_to(
        "http://internal.test/admin"))
    threading.Thread(target=redirect.serve_forever, args=(0.01,), daemon=True).start()
    try:
        with pinned_client() as client, pytest.raises(RefusedConnection, match=r"internal\.test"):
            client.get(f"http://public.test:{redirect.server_address[1]}/",
                       follow_redirects=True)
    finally:
        redirect.shutdown()
        redirect.server_close()
    assert looked_up == ["public.test", "127.0.0.1", "internal.test"]


def _redirect_to(location: str) -> type[http.server.BaseHTTPRequestHandler]:
    class Redirect(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(302)
            self.send_header("Location", location)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    return Redirect


def test_a_deadline_ends_reads_that_keep_receiving_bytes():
    """A server that trickles keep-alives restarts the read timeout with every byte; inside
    ``deadline`` the connection's reads still end by it (a later deadline never extends it)."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def trickle() -> None:
        connection, _ = listener.accept()
        with connection:
            connection.recv(65536)
            connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                               b"Transfer-Encoding: chunked\r\n\r\n")
            while not stop.wait(0.05):
                try:
                    connection.sendall(b"3\r\n:\n\n\r\n")  # an SSE comment
                except OSError:
                    return

    threading.Thread(target=trickle, daemon=True).start()
    try:
        with pinned_client(timeout=5) as client, client.stream(
                "GET", f"http://127.0.0.1:{listener.getsockname()[1]}/") as response:
            started = time.monotonic()
            with (outbound_http.deadline(started + 0.5), outbound_http.deadline(started + 60),
                  pytest.raises(httpx2.ReadTimeout)):
                for _ in response.iter_bytes():
                    pass
            assert time.monotonic() - started < 2
    finally:
        stop.set()
        listener.close()

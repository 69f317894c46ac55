"""JSON logs: one line per event, with the request's context when it is bound."""

from __future__ import annotations

import http.server
import io
import json
import logging
import threading

import pytest

from codex32.observability.logging import (
    QUIET_CLIENT_LOGGERS,
    bind_log_context,
    clear_log_context,
    configure_logging,
    get_log_context,
    log_context,
)

log = logging.getLogger("codex32.tests.ops")


@pytest.fixture
def stream():
    """Route the root logger to a buffer through configure_logging; restore it afterwards."""
    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    buffer = io.StringIO()
    clear_log_context()
    configure_logging("INFO", json=True, stream=buffer)
    yield buffer
    clear_log_context()
    for handler in list(root.handlers):
        if handler not in saved_handlers:
            root.removeHandler(handler)
    root.setLevel(saved_level)
    logging.captureWarnings(False)


def lines(buffer: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in buffer.getvalue().splitlines()]


def test_a_record_is_one_json_line_with_the_standard_fields(stream):
    log.warning("first line\nsecond line %s", "arg")
    (entry,) = lines(stream)
    assert entry["level"] == "WARNING"
    assert entry["logger"] == "codex32.tests.ops"
    assert entry["message"] == "first line\nsecond line arg"
    assert entry["timestamp"].endswith("Z") and "T" in entry["timestamp"]


def test_fields_that_were_never_bound_are_absent(stream):
    log.info("no context")
    (entry,) = lines(stream)
    assert not {"request_id", "workspace_id", "user_id"} & entry.keys()


def test_bound_context_appears_on_every_record(stream):
    bind_log_context(request_id="req-1", workspace_id="ws-7", user_id="u-3")
    log.info("one")
    logging.getLogger("other.library").warning("two")
    for entry in lines(stream):
        assert (entry["request_id"], entry["workspace_id"], entry["user_id"]) == (
            "req-1", "ws-7", "u-3")


def test_request_line_fields_passed_as_extra_are_kept(stream):
    bind_log_context(request_id="req-2")
    log.info("request", extra={"method": "GET", "path": "/api/v1/bots/<bot_id>",
                               "status": 200, "latency_ms": 12.5})
    (entry,) = lines(stream)
    assert entry["method"] == "GET"
    assert entry["path"] == "/api/v1/bots/<bot_id>"
    assert entry["status"] == 200
    assert entry["latency_ms"] == 12.5
    assert entry["request_id"] == "req-2"


def test_extra_wins_over_bound_context(stream):
    bind_log_context(workspace_id="ws-bound")
    log.info("explicit", extra={"workspace_id": "ws-explicit"})
    assert lines(stream)[0]["workspace_id"] == "ws-explicit"


def test_none_unbinds_a_field_and_clear_forgets_all(stream):
    bind_log_context(request_id="req-3", workspace_id="ws-1")
    bind_log_context(workspace_id=None)
    assert get_log_context() == {"request_id": "req-3"}
    clear_log_context()
    log.info("after clear")
    assert "request_id" not in lines(stream)[0]


def test_log_context_restores_the_previous_fields(stream):
    bind_log_context(request_id="outer")
    with log_context(request_id="inner", workspace_id="ws-9"):
        log.info("inside")
    log.info("outside")
    inside, outside = lines(stream)
    assert (inside["request_id"], inside["workspace_id"]) == ("inner", "ws-9")
    assert outside["request_id"] == "outer" and "workspace_id" not in outside


def test_threads_never_see_each_others_context(stream):
    barrier = threading.Barrier(2)

    def handle(request_id: str) -> None:
        bind_log_context(request_id=request_id)
        barrier.wait()  # both bound before either logs
        log.info("handled")

    threads = [threading.Thread(target=handle, args=(f"req-{n}",)) for n in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    bind_log_context(request_id="main")
    assert sorted(entry["request_id"] for entry in lines(stream)) == ["req-1", "req-2"]


def test_an_exception_stays_on_one_line(stream):
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        log.exception("failed")
    (raw,) = stream.getvalue().splitlines()
    entry = json.loads(raw)
    assert entry["level"] == "ERROR"
    assert "RuntimeError: boom" in entry["exc_info"]


def test_configuring_twice_installs_one_handler_and_sets_the_level(stream):
    configure_logging("warning", json=True, stream=stream)
    ours = [h for h in logging.getLogger().handlers if getattr(h, "_codex32_handler", False)]
    assert len(ours) == 1
    assert logging.getLogger().level == logging.WARNING
    log.info("filtered out")
    log.warning("kept")
    assert [entry["message"] for entry in lines(stream)] == ["kept"]


def test_text_mode_appends_the_context(stream):
    configure_logging("INFO", json=False, stream=stream)
    bind_log_context(request_id="req-t")
    log.info("plain")
    line = stream.getvalue().strip()
    assert "INFO" in line and "plain" in line and "request_id=req-t" in line


def test_text_mode_keeps_user_strings_from_forging_lines_or_driving_the_terminal(stream):
    # A workspace or bot name is the user's: a newline in it must not start a line that reads
    # as the server's own, nor a carriage return or escape sequence rewrite what a terminal
    # shows. Continuation lines (a mail's body, a traceback) are indented instead.
    configure_logging("INFO", json=False, stream=stream)
    forged = "2026-12-04 22:55:23,538 ERROR   codex32.auth: admin password reset"
    log.warning("invited to %s", f"Acme\n{forged}\rgone\x1b[2K\u2028{forged}",
                extra={"workspace_name": f"Acme\n{forged}"})
    try:
        raise RuntimeError(f"bad name\n{forged}")
    except RuntimeError:
        log.exception("failed")
    text = stream.getvalue()
    assert "\r" not in text and "\x1b" not in text and "\u2028" not in text
    assert "\\r" in text and "\\x1b" in text and "\\u2028" in text
    first, *rest = text.splitlines()
    starts = [line for line in text.split("\n") if line and not line[0].isspace()]
    assert len(starts) == 2, text  # the warning's line and the exception's, nothing forged
    assert all(not line.startswith("2026-12-04 22:55:23") for line in text.split("\n"))
    assert first.startswith(tuple("0123456789")) and rest


def test_an_unknown_level_is_refused(stream):
    with pytest.raises(ValueError, match="LOG_LEVEL"):
        configure_logging("LOUD", stream=stream)


class _Ok(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@pytest.mark.parametrize("level, logged", [("INFO", False), ("DEBUG", True)])
def test_outbound_http_clients_log_a_line_per_request_only_when_debugging(level, logged):
    """httpx logs every request at INFO with its full URL (a key may ride in its query
    string); the platform keeps it out of the logs unless DEBUG is asked for."""
    import httpx2

    root = logging.getLogger()
    saved_handlers, saved_level = list(root.handlers), root.level
    clients = {name: logging.getLogger(name).level for name in QUIET_CLIENT_LOGGERS}
    buffer = io.StringIO()
    configure_logging(level, json=True, stream=buffer)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Ok)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with httpx2.Client() as client:
            assert client.get(f"http://127.0.0.1:{server.server_port}/v1?key=secret"
                              ).status_code == 200
        logging.getLogger("httpx2").warning("a client's warning")
    finally:
        server.shutdown()
        server.server_close()
        for handler in list(root.handlers):
            if handler not in saved_handlers:
                root.removeHandler(handler)
        root.setLevel(saved_level)
        for name, saved in clients.items():
            logging.getLogger(name).setLevel(saved)
        logging.captureWarnings(False)
    messages = [entry["message"] for entry in lines(buffer)]
    assert ("key=secret" in "\n".join(messages)) is logged
    assert "a client's warning" in messages

"""Logs: one JSON line per request with the call ids, and no secret in any line."""
import io
import json
import logging
import sys
import traceback

import pytest
from nameko.containers import ServiceContainer
from nameko.extensions import Entrypoint
from nameko.testing.services import entrypoint_hook

from services.kernel import logs
from services.kernel.errors import Unauthorized


class Call(Entrypoint):
    """An entrypoint needing no broker: the test calls it through ``entrypoint_hook``."""


call = Call.decorator


class SocketCall(Entrypoint):
    """Stands for the door's ``@on_socket`` entrypoint: what the request log reads of it."""

    socket_event = "video_progress"


on_socket = SocketCall.decorator


class LoginService:
    name = "auth"
    request_log = logs.RequestLog()

    @call
    def login(self, email, password):
        if password != "right one":
            raise Unauthorized("Invalid email or password")
        return {"access_token": "eyJhbGciOiJFZERTQSJ9.secret.token"}

    @on_socket
    def report(self, ok):
        if not ok:
            raise Unauthorized("Token expired")


@pytest.fixture
def json_lines():
    """Configure logging as the runner does, into a buffer; the lines, parsed."""
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    buffer = io.StringIO()
    logs.configure("auth", "INFO", stream=buffer)
    yield lambda: [json.loads(line) for line in buffer.getvalue().splitlines()]
    root.handlers[:] = saved_handlers
    root.setLevel(saved_level)


@pytest.fixture
def container():
    running = ServiceContainer(LoginService, {})
    running.start()
    yield running
    running.stop()


def test_one_line_per_request_with_call_ids_and_never_the_arguments(container, json_lines):
    with entrypoint_hook(container, "login", context_data={"call_id_stack": ["realtime.login.1"]}) as login:
        login("ann@example.com", "right one")
    with entrypoint_hook(container, "login") as login:
        with pytest.raises(Unauthorized):
            login("ann@example.com", "hunter2 wrong")

    handled = [line for line in json_lines() if line["message"] == "handled"]
    assert len(handled) == 2
    ok, refused = handled
    assert ok["service"] == "auth" and ok["entrypoint"] == "login" and ok["outcome"] == "ok"
    assert ok["call_id"].startswith("auth.login.")
    assert ok["call_id_stack"] == ["realtime.login.1", ok["call_id"]]
    assert ok["duration_ms"] >= 0 and ok["level"] == "INFO" and ok["time"]
    assert refused["outcome"] == "error" and refused["error"] == "unauthorized"
    everything = json.dumps(json_lines())
    for secret in ("right one", "hunter2", "ann@example.com", "secret.token"):
        assert secret not in everything


def test_a_successful_socket_event_is_a_debug_line_and_a_failed_one_is_logged(container, json_lines):
    with entrypoint_hook(container, "report") as report:
        report(True)
        with pytest.raises(Unauthorized):
            report(False)
    handled = [line for line in json_lines() if line["message"] == "handled"]
    assert [(line["socket_event"], line["outcome"], line["level"]) for line in handled] == [
        ("video_progress", "error", "INFO")]


@pytest.mark.parametrize("message, secret, kept", [
    ('127.0.0.1 - - "GET /socket.io/?EIO=4&transport=polling&token=eyJ0.eyJz.c2ln HTTP/1.1" 200',
     "eyJ0.eyJz.c2ln", "transport=polling&token=[redacted] HTTP/1.1"),
    ('"GET /socket.io/?token=abc.def.ghi&EIO=4 HTTP/1.1" 200', "abc.def.ghi", "?token=[redacted]&EIO=4"),
    ("refresh_token=r3fr3sh&x=1", "r3fr3sh", "refresh_token=[redacted]&x=1"),
    ("Authorization: Bearer abc.def.ghi", "abc.def.ghi", "Bearer [redacted]"),
])
def test_tokens_are_redacted_from_any_record(json_lines, message, secret, kept):
    logging.getLogger("nameko.web.server").info(message)  # eventlet's access log
    logging.getLogger("anything").warning("seen %s", message)
    lines = json_lines()
    assert len(lines) == 2
    for line in lines:
        assert secret not in line["message"] and kept in line["message"]


def test_what_libraries_write_to_stderr_becomes_json_lines_too(json_lines, monkeypatch):
    # (pytest puts its own capture back on sys.stderr for the test itself: set ours here)
    monkeypatch.setattr(sys, "stderr", logs.StderrAsLog(logging.getLogger("stderr")))
    # eventlet's websocket reports this on the WSGI error stream, with no newline
    sys.stderr.write("server=127.0.0.1:5000//socket.io/?token=abc.def.ghi socket shutdown error: [Errno 9]")
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        traceback.print_exc()  # written in pieces: each piece a record, none a broken line
    lines = json_lines()
    assert lines[0]["message"] == "server=127.0.0.1:5000//socket.io/?token=[redacted] socket shutdown error: [Errno 9]"
    assert lines[0]["logger"] == "stderr" and lines[0]["level"] == "WARNING"
    assert any("RuntimeError: boom" in line["message"] for line in lines[1:])

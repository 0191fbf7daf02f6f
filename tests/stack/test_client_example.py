"""The command-line client of the user's document (app/utils/websocket_client_example.py),
run as a user runs it, against the real stack."""
import json
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.support import forge
from tests.support.proxies import TcpProxy
from tests.support.stack import free_ports

SCRIPT = Path(__file__).resolve().parents[2] / "app" / "utils" / "websocket_client_example.py"


class ClientRun:
    """The script in its own process; its stdout read as (event, payload) lines."""

    def __init__(self, *args):
        self.process = subprocess.Popen([sys.executable, str(SCRIPT), *args], stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True, bufsize=1)
        self.lines = []
        self._new = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.process.stdout:
            stamp, event, *payload = line.rstrip("\n").split("  ", 2)
            self.lines.append((event, json.loads(payload[0]) if payload else None))
            self._new.put(None)

    def wait_for(self, event, where=lambda data: True, count=1, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [data for name, data in self.lines if name == event and where(data)]
            if len(found) >= count:
                return found[-1]
            try:
                self._new.get(timeout=0.2)
            except queue.Empty:
                pass
        raise AssertionError(f"no {event!r} line within {timeout}s; got {self.lines}; stderr: {self.stderr()}")

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        return self.process.wait(15)

    def stderr(self):
        return self.process.stderr.read() if self.process.poll() is not None else ""


@pytest.fixture
def client_run():
    started = []

    def start(*args):
        started.append(ClientRun(*args))
        return started[-1]

    yield start
    for run in started:
        if run.process.poll() is None:
            run.process.kill()
            run.process.wait()


def finished(*args, timeout=30):
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=timeout)


def test_it_prints_room_events_and_sends_chat_and_progress(stack, campus, client_run):
    course, instructor = campus.course()
    video_id = course["videos"][0]["id"]
    student = campus.enrolled_student(course)

    run = client_run(student["access_token"], "--url", stack.url, "--course", course["id"],
                     "--chat", f"{video_id}:Question about the content",
                     "--progress", f"{video_id}:{course['id']}:50:300")
    assert run.wait_for("[connected]")["url"] == stack.url
    assert run.wait_for("joined_course") == {"course_id": course["id"], "status": "Joined successfully"}
    assert run.wait_for("joined_video")["video_id"] == video_id  # --chat implies joining its room
    chat = run.wait_for("new_chat_message")
    assert (chat["message"], chat["user_email"]) == ("Question about the content", student["user"]["email"])
    assert run.wait_for("[ack send_chat_message]")["message"] == "Question about the content"
    run.wait_for("[ack video_progress]")  # answered (an error until the progress service lands)

    newcomer = campus.enrolled_student(course)
    assert run.wait_for("new_enrollment")["user_id"] == newcomer["user"]["id"]
    assert run.stop() == 0


def test_it_logs_in_with_email_and_password(api, stack):
    email, password = api.register()
    done = finished("--email", email, "--password", password, "--url", stack.url, "--exit-after", "0.5")
    assert done.returncode == 0, done.stderr
    assert "  connected  " in done.stdout and '"status":"Connected successfully"' in done.stdout


def test_it_recovers_its_session_after_a_network_drop(stack, campus, client_run):
    course, instructor = campus.course()
    student = campus.enrolled_student(course)
    proxy = TcpProxy(stack.port)
    titles = lambda: [data["title"] for name, data in run.lines if name == "course_updated"]  # noqa: E731

    def update(title):
        patched = campus.api.call("PATCH", f"/api/v1/courses/{course['id']}", token=instructor["access_token"],
                                  json={"title": title})
        assert patched.status_code == 200, patched.text

    try:
        # long-polling: websocket-client would send the proxy's address as its Origin, which
        # the door does not allow (requests sends none)
        run = client_run(student["access_token"], "--url", proxy.url, "--course", course["id"],
                         "--transport", "polling")
        assert run.wait_for("connected")["recovered"] is False  # asked for a recoverable session
        run.wait_for("joined_course")
        update("Before the drop")
        run.wait_for("course_updated")  # the client now holds an offset

        proxy.block()
        proxy.cut()
        run.wait_for("[disconnected]")
        update("Missed 1")
        update("Missed 2")
        proxy.unblock()

        run.wait_for("[recovered]", timeout=30)
        run.wait_for("course_updated", count=3)
        update("After the drop")
        run.wait_for("course_updated", count=4)
        time.sleep(1.0)  # a duplicate would be here by now
        assert titles() == ["Before the drop", "Missed 1", "Missed 2", "After the drop"]
        first, second = [data["sid"] for name, data in run.lines if name == "[connected]"]
        assert first == second
        assert run.wait_for("connected", count=2)["recovered"] is True
        assert [name for name, _ in run.lines].count("joined_course") == 1  # its rooms were kept: no rejoin
        assert run.stop() == 0
    finally:
        proxy.close()


def test_it_recovers_its_session_when_its_door_restarts(stack, campus, client_run):
    """SIGTERM: the door closes the transports (the client reconnects by itself) and parks
    the sessions; the door that starts next resumes them from the room log."""
    course, instructor = campus.course()
    run = client_run(instructor["access_token"], "--url", stack.url, "--course", course["id"])
    run.wait_for("joined_course")

    stack.stop_service("realtime")
    run.wait_for("[disconnected]")
    stack.start_service("realtime")
    stack.wait_ready(timeout=60)

    run.wait_for("[recovered]", timeout=30)
    assert run.wait_for("connected", count=2)["recovered"] is True
    newcomer = campus.enrolled_student(course)
    assert run.wait_for("new_enrollment")["user_email"] == newcomer["user"]["email"]
    assert [name for name, _ in run.lines].count("joined_course") == 1  # its rooms were kept
    assert run.stop() == 0


def test_it_rejoins_its_rooms_after_the_server_restarts(stack, campus, client_run):
    course, instructor = campus.course()
    run = client_run(instructor["access_token"], "--url", stack.url, "--course", course["id"], "--no-recover")
    run.wait_for("joined_course")

    stack.stop_service("realtime")
    run.wait_for("[disconnected]")
    stack.start_service("realtime")
    stack.wait_ready(timeout=60)

    run.wait_for("[connected]", count=2, timeout=30)
    run.wait_for("joined_course", count=2)  # no recovery asked: a new connection in no room, the client rejoined
    assert "[recovered]" not in [name for name, _ in run.lines]
    newcomer = campus.enrolled_student(course)
    assert run.wait_for("new_enrollment")["user_email"] == newcomer["user"]["email"]
    assert run.stop() == 0


@pytest.mark.parametrize("token_kind, message", [("forged", "Invalid token"), ("expired", "Token expired")])
def test_a_refused_token_exits_2_with_one_line(stack, private_key_pem, token_kind, message):
    token = forge.wrong_key(private_key_pem, forge.claims()) if token_kind == "forged" else \
        forge.sign(private_key_pem, forge.claims(iat=1, exp=2))
    done = finished(token, "--url", stack.url)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == f"refused: {message}"


def test_a_token_expiring_during_the_connection_exits_2(stack, private_key_pem):
    now = int(time.time())
    token = forge.sign(private_key_pem, forge.claims(iat=now, exp=now + 3))
    done = finished(token, "--url", stack.url)
    assert done.returncode == 2, done.stdout + done.stderr
    assert '"code":"token_expired"' in done.stdout  # the error event it printed
    assert done.stderr.strip().splitlines()[-1] == "refused: Token expired"


def test_a_wrong_password_exits_2(api, stack):
    email, _ = api.register()
    done = finished("--email", email, "--password", "not the password", "--url", stack.url)
    assert done.returncode == 2 and done.stderr.startswith("refused: ")


def test_an_unreachable_server_exits_3():
    done = finished("some-token", "--url", f"http://127.0.0.1:{free_ports()}")
    assert done.returncode == 3 and done.stderr.startswith("unreachable: ")


@pytest.mark.parametrize("args", [[], ["tok", "--email", "a@b.co"], ["tok", "--progress", "v:c:half:10"],
                                  ["tok", "--chat", "no-colon"], ["--email", "a@b.co"]])
def test_a_bad_command_line_exits_64(args):
    done = finished(*args)
    assert done.returncode == 64 and "error:" in done.stderr

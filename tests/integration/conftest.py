"""The one fixture for a running stack: the real processes, RabbitMQ and sockets.

Each stack gets its own RabbitMQ vhost and its own databases, so parallel runs (and a
developer's ``make run``) never see each other's queues or rows. ``stack`` is the
session's platform with one process per service; ``running_stack(..., replicas=2)``
starts another with two of each (tests/integration/test_replicas.py).
"""
import json
import os
import socket
import subprocess
import uuid
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
import socketio

from services.kernel.config import DEFAULT_AMQP_URI
from services.stack import Stack, broker_problem, port_is_free, temporary_vhost

AMQP_BASE = os.environ.get("TEST_AMQP_URI", DEFAULT_AMQP_URI).rstrip("/")


def free_port():
    return free_ports(1)


def free_ports(count):
    """The first of ``count`` consecutive free ports (the doors of a stack use port + i)."""
    for _ in range(50):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            first = sock.getsockname()[1]
        if all(port_is_free(first + offset) for offset in range(count)):
            return first
    raise RuntimeError(f"no {count} consecutive free ports")


@contextmanager
def own_vhost():
    """A RabbitMQ vhost of our own (removed afterwards); the broker itself must already run (README)."""
    problem = broker_problem(AMQP_BASE + "/")
    if problem:
        pytest.fail(f"{problem} The integration tests need it: start it with 'rabbitmq-server -detached'.")
    with temporary_vhost(AMQP_BASE) as amqp_uri:
        yield amqp_uri


@contextmanager
def running_stack(amqp_uri, key_files, var_dir, replicas=1, **settings):
    """The whole platform, started exactly as ``make run`` starts it, with ``replicas`` processes
    of every service; ``settings`` override the env."""
    private, public = key_files
    env = {k: v for k, v in os.environ.items() if not k.endswith("DATABASE_URL")}
    env.update({
        "AMQP_URI": amqp_uri,
        "JWT_PRIVATE_KEY_FILE": str(private),
        "JWT_PUBLIC_KEY_FILE": str(public),
        "CORS_ALLOWED_ORIGINS": "https://app.example.com",
        "RPC_TIMEOUT_SECONDS": "3",
        "LOG_LEVEL": "INFO",
        # every test registers and logs in its own people from 127.0.0.1; the budgets
        # themselves are tested with the defaults in test_abuse.py
        "REGISTRATIONS_PER_ADDRESS": "100000/minute",
        "LOGINS_PER_ADDRESS": "100000/minute",
    }, **settings)
    running = Stack(env, var_dir, port=free_ports(replicas), echo=False, replicas=replicas)
    running.start()
    try:
        running.wait_ready(timeout=90)
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="session")
def vhost():
    with own_vhost() as amqp_uri:
        yield amqp_uri


@pytest.fixture(scope="session")
def stack(vhost, key_files, tmp_path_factory):
    """The platform every integration test shares."""
    with running_stack(vhost, key_files, tmp_path_factory.mktemp("stack")) as running:
        yield running


@pytest.fixture
def api(stack):
    return Api(stack.url)


class Api:
    """``requests`` against the door, with the envelope unwrapped where it helps."""

    def __init__(self, base_url):
        self.base_url = base_url
        self.http = requests.Session()

    def call(self, method, path, token=None, **kwargs):
        headers = kwargs.pop("headers", {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return self.http.request(method, self.base_url + path, headers=headers, timeout=15, **kwargs)

    def register(self, role="student", password="correct horse battery"):
        email = f"{role}-{uuid.uuid4().hex[:8]}@example.com"
        response = self.call("POST", "/api/v1/auth/register", json={"email": email, "password": password, "role": role})
        assert response.status_code == 201, response.text
        return email, password

    def login(self, email, password):
        response = self.call("POST", "/api/v1/auth/login", json={"email": email, "password": password})
        assert response.status_code == 200, response.text
        return response.json()["data"]

    def new_user(self, role="student"):
        """Register and log in: the login data (tokens and user)."""
        return self.login(*self.register(role))


class SocketClient:
    """A python-socketio ``Client`` that records what it receives, for assertions."""

    def __init__(self, url):
        self.url = url
        self.sio = socketio.Client(reconnection=False)
        self.received = []
        self.connect_error = None
        self.sio.on("*", lambda event, data=None: self.received.append((event, data)))
        self.sio.on("connect_error", self._on_connect_error)

    def _on_connect_error(self, data=None):
        self.connect_error = data

    def connect(self, transports=("websocket",), **kwargs):
        self.sio.connect(self.url, transports=list(transports), wait_timeout=10, **kwargs)
        return self

    def events(self, name):
        return [data for event, data in self.received if event == name]

    def wait_for(self, name, count=1, timeout=10):
        import time

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.events(name)) >= count:
                return self.events(name)
            self.sio.sleep(0.02)
        raise AssertionError(f"no {name!r} within {timeout}s; got {self.received}")

    def close(self):
        if self.sio.connected:
            self.sio.disconnect()


@pytest.fixture
def sockets(stack):
    """``sockets()`` -> a new recording client; all are closed after the test."""
    made = []

    def new():
        made.append(SocketClient(stack.url))
        return made[-1]

    yield new
    for client in made:
        client.close()


def log_text(stack, instance):
    """What one process (``auth``, ``auth-2``, ...) of the stack has logged so far."""
    return Path(stack.log_dir / f"{instance}.log").read_text()


def log_records(stack, instance):
    """Its log lines as JSON objects (every line a process writes is one)."""
    return [json.loads(line) for line in log_text(stack, instance).splitlines() if line.strip()]


class Campus:
    """Builds the people and courses a scenario needs, through the public HTTP API."""

    def __init__(self, api):
        self.api = api

    def course(self, instructor=None, published=True, videos=1, title="Distributed Systems"):
        instructor = instructor or self.api.new_user("instructor")
        token = instructor["access_token"]
        created = self.api.call("POST", "/api/v1/courses", token=token, json={"title": title})
        assert created.status_code == 201, created.text
        course = created.json()["data"]
        for n in range(videos):
            video = self.api.call("POST", f"/api/v1/courses/{course['id']}/videos", token=token,
                                  json={"title": f"Lecture {n + 1}", "duration_seconds": 600})
            assert video.status_code == 201, video.text
        if published:
            patched = self.api.call("PATCH", f"/api/v1/courses/{course['id']}", token=token, json={"published": True})
            assert patched.status_code == 200, patched.text
        course = self.api.call("GET", f"/api/v1/courses/{course['id']}", token=token).json()["data"]
        return course, instructor

    def enrolled_student(self, course):
        student = self.api.new_user("student")
        enrolled = self.api.call("POST", f"/api/v1/courses/{course['id']}/enrollments", token=student["access_token"])
        assert enrolled.status_code == 201, enrolled.text
        return student


@pytest.fixture
def campus(api):
    return Campus(api)


@pytest.fixture
def connect(sockets):
    """``connect(session)`` -> a connected recording client for that logged-in user."""

    def connect_as(session):
        client = sockets().connect(auth={"token": session["access_token"]})
        client.wait_for("connected")
        return client

    return connect_as


class NodeClient:
    """The JavaScript ``socket.io-client`` (tests/js/client.mjs) in a Node process."""

    SCRIPT = Path(__file__).resolve().parent.parent / "js" / "client.mjs"

    def __init__(self, url, token):
        import json
        import queue
        import threading

        self._json = json
        self.lines = queue.Queue()
        self.received = []
        self._next_id = 0
        self.process = subprocess.Popen(["node", str(self.SCRIPT), url, token], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, text=True, bufsize=1)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.process.stdout:
            message = self._json.loads(line)
            self.received.append(message)
            self.lines.put(message)

    def wait(self, predicate, timeout=10):
        import time

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for message in list(self.received):
                if predicate(message):
                    return message
            time.sleep(0.02)
        raise AssertionError(f"Node client: nothing matched within {timeout}s; got {self.received}")

    def wait_for(self, event, timeout=10):
        return self.wait(lambda m: m.get("event") == event, timeout)["data"]

    def call(self, event, data, timeout=10):
        self._next_id += 1
        call_id = self._next_id
        self.process.stdin.write(self._json.dumps({"id": call_id, "emit": event, "data": data}) + "\n")
        self.process.stdin.flush()
        return self.wait(lambda m: m.get("ack") == call_id, timeout)["data"]

    def events(self, name):
        return [m["data"] for m in self.received if m.get("event") == name]

    def close(self):
        if self.process.poll() is None:
            try:
                self.process.stdin.write('{"close": true}\n')
                self.process.stdin.flush()
                self.process.wait(5)
            except Exception:
                self.process.kill()


@pytest.fixture
def node_client(stack):
    """``node_client(session)`` -> a connected JavaScript socket.io-client for that user."""
    made = []

    def connect_as(session):
        client = NodeClient(stack.url, session["access_token"])
        made.append(client)
        client.wait(lambda m: "connected" in m or "connect_error" in m)
        return client

    yield connect_as
    for client in made:
        client.close()

"""The stack tier: tests of the real platform, as separate processes.

What belongs here: a test that needs the running services (``make run``'s processes,
started by ``tests/support/stack.py``) and talks to them from outside, through the door's
HTTP API, real Socket.IO clients, RabbitMQ or the processes' logs. Nothing is replaced.
What does not: a rule or a handler that can be checked in one process (``tests/unit``),
a check of a document against the code (``tests/contract``), a test that stops the
shared broker or database (``tests/faults``), speed (``bench/``).

Each stack gets its own RabbitMQ vhost and its own databases, so parallel runs (and a
developer's ``make run``) never see each other's queues or rows. ``stack`` is the
session's platform with one process per service; a module that needs another (two
replicas, other settings) starts its own with ``tests.support.stack.running_stack``.
"""
import pytest

from tests.support.api import Api, Campus
from tests.support.sockets import NodeClient, SocketClient
from tests.support.stack import own_vhost, running_stack


@pytest.fixture(scope="session")
def vhost():
    try:
        with own_vhost() as amqp_uri:
            yield amqp_uri
    except RuntimeError as exc:  # no broker: say so once, as the README does
        pytest.fail(f"{exc} The stack tests need it.")


@pytest.fixture(scope="session")
def stack(vhost, key_files, tmp_path_factory):
    """The platform every stack test shares."""
    with running_stack(vhost, key_files, tmp_path_factory.mktemp("stack")) as running:
        yield running


@pytest.fixture
def api(stack):
    return Api(stack.url)


@pytest.fixture
def campus(api):
    return Campus(api)


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


@pytest.fixture
def connect(sockets):
    """``connect(session)`` -> a connected recording client for that logged-in user."""

    def connect_as(session):
        client = sockets().connect(auth={"token": session["access_token"]})
        client.wait_for("connected")
        return client

    return connect_as


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

"""Two processes of every service (``make run REPLICAS=2``): work spreads, rooms span doors."""
import time

import pytest

from tests.support.api import Api, Campus
from tests.support.proxies import TcpProxy
from tests.support.sockets import SocketClient
from tests.support.stack import log_records, own_vhost, running_stack


@pytest.fixture(scope="module")
def replicated(key_files, tmp_path_factory):
    with own_vhost() as amqp_uri, \
            running_stack(amqp_uri, key_files, tmp_path_factory.mktemp("replicated"), replicas=2) as running:
        yield running


def handled(stack, instance, entrypoint):
    return [r for r in log_records(stack, instance)
            if r.get("message") == "handled" and r.get("entrypoint") == entrypoint]


def test_two_doors_on_two_ports_both_ready(replicated):
    assert replicated.instances("realtime") == ["realtime", "realtime-2"]
    assert replicated.urls[1].endswith(str(replicated.port + 1))
    for url in replicated.urls:
        assert Api(url).call("GET", "/health/ready").status_code == 200


def test_rpc_work_is_spread_over_the_copies_of_auth(replicated):
    doors = [Api(url) for url in replicated.urls]
    calls = 12
    for number in range(calls):
        doors[number % 2].register()

    auths = replicated.instances("auth")
    deadline = time.monotonic() + 10  # log lines reach the files through the launcher's pipes
    while sum(len(handled(replicated, a, "register")) for a in auths) < calls and time.monotonic() < deadline:
        time.sleep(0.1)
    per_copy = {auth: handled(replicated, auth, "register") for auth in auths}
    assert sum(map(len, per_copy.values())) == calls
    assert all(per_copy.values()), {auth: len(lines) for auth, lines in per_copy.items()}

    # each copy's work was asked for by a door: the chain of call ids leads back to one
    door_calls = {r["call_id"] for door in replicated.instances("realtime") for r in handled(replicated, door, "register")}
    for lines in per_copy.values():
        for line in lines:
            assert line["call_id_stack"][0] in door_calls
            assert line["call_id_stack"][-1] == line["call_id"]


def test_each_door_delivers_a_room_broadcast_exactly_once(replicated):
    """The door's course_updated handler runs on one replica; KombuManager carries the
    emit to the room's clients on every replica, each of them getting it once."""
    doors = [Api(url) for url in replicated.urls]
    instructor = doors[0].new_user("instructor")
    token = instructor["access_token"]
    created = doors[0].call("POST", "/api/v1/courses", token=token, json={"title": "Replicas 101"})
    assert created.status_code == 201, created.text
    course_id = created.json()["data"]["id"]

    clients = []
    try:
        for url, transport in zip(replicated.urls, ("websocket", "polling")):
            client = SocketClient(url).connect(transports=[transport], auth={"token": token})
            client.wait_for("connected")
            client.sio.emit("join_course", {"course_id": course_id})
            client.wait_for("joined_course")
            clients.append(client)

        patched = doors[1].call("PATCH", f"/api/v1/courses/{course_id}", token=token,
                                json={"title": "Replicas 102"})
        assert patched.status_code == 200, patched.text
        for client in clients:
            client.wait_for("course_updated")
        time.sleep(1.5)  # a duplicate, from a second handler or a second fan-out, would be here by now
        for client in clients:
            updates = client.events("course_updated")
            assert len(updates) == 1, updates
            assert updates[0]["course_id"] == course_id
    finally:
        for client in clients:
            client.close()


def test_when_a_door_dies_its_clients_come_back_through_the_other_and_rejoin(replicated):
    """The client library rejoins (the server does not remember a connection's rooms):
    app/utils/websocket_client_example.py re-sends its joins on every (re)connect."""
    import signal
    import threading

    from app.utils.websocket_client_example import CourseClient

    doors = [Api(url) for url in replicated.urls]
    course, instructor = Campus(doors[1]).course()
    student = Campus(doors[1]).enrolled_student(course)
    # what a load balancer does for a reconnecting client: connect to the first door that
    # answers (so every request goes to the same live door: sticky, as long-polling needs)
    proxy = TcpProxy(replicated.port, replicated.port + 1)
    # long-polling: a browser behind this balancer would send the balancer's origin, which
    # the doors here are not configured to allow; requests sends no Origin at all
    client = CourseClient(proxy.url, student["access_token"], courses=[course["id"]], transport="polling")
    rejoined, updates = threading.Event(), []
    client.sio.on("joined_course", lambda data: rejoined.set())
    client.sio.on("course_updated", updates.append)
    client.connect()
    assert rejoined.wait(10)
    rejoined.clear()

    replicated.stop_service("realtime", sig=signal.SIGKILL)  # door 1 dies; door 2 lives
    killed = time.monotonic()
    try:
        assert rejoined.wait(30), "the client did not come back"
        back_after = time.monotonic() - killed
        doors[1].call("PATCH", f"/api/v1/courses/{course['id']}", token=instructor["access_token"],
                      json={"title": "After the failover"})
        deadline = time.monotonic() + 10
        while not updates and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [u["title"] for u in updates] == ["After the failover"]
        print(f"\nfailover: reconnected through the other door and rejoined {back_after:.1f}s after the kill")
    finally:
        client.sio.disconnect()
        proxy.close()
        replicated.start_service("realtime")
        replicated.wait_ready(timeout=60)

"""RecoveringClient (app/utils/websocket_client_example.py): python-socketio's own packet
handling fed the packets a recovering server sends; what the handlers see and what the
client presents on its next CONNECT. The Engine.IO transport is replaced by a list of the
packets the client sends: no server here (tests/stack/test_client_example.py runs
the script against the real door)."""
import json
import threading

import pytest
from engineio import packet as eio_packet

from app.utils.websocket_client_example import InOrderEngineIOClient, RecoveringClient

ROOM_EVENT = {"course_id": "c1", "title": "Week 2"}


class Wire:
    """The client's side of one Engine.IO connection after another."""

    def __init__(self, **options):
        self.client = RecoveringClient("the-token", **options)
        self.sent = []
        self.client.eio.send = self.sent.append
        self.client.connection_auth = self.client.auth
        self.client.connection_namespaces = ["/"]
        self.seen = []
        self.connects = []
        self.client.on("connect", lambda: self.connects.append(self.client.recovered))
        self.client.on("course_updated", lambda *args: self.seen.append(("course_updated", args)))
        self.client.on("*", lambda event, *args: self.seen.append((event, args)))

    def open(self, reply):
        """A new Engine.IO connection: the client sends CONNECT, the server answers ``reply``."""
        import threading

        self.client.namespaces = {}
        self.client._connect_event = threading.Event()
        self.client._handle_eio_connect()
        sent_auth = json.loads(self.sent[-1][1:])
        self.receive("0" + json.dumps(reply))
        return sent_auth

    def receive(self, packet):
        self.client._handle_eio_message(packet)


def test_a_room_events_offset_is_kept_and_never_reaches_a_handler():
    wire = Wire()
    assert wire.open({"sid": "s1", "pid": "p1"}) == {"token": "the-token", "recover": True}
    wire.receive("2" + json.dumps(["course_updated", ROOM_EVENT, "17.0"]))
    wire.receive("2" + json.dumps(["new_enrollment", {"user_id": "u2"}, "18.0"]))
    wire.receive("2" + json.dumps(["joined_course", {"course_id": "c1", "status": "Joined successfully"}]))
    assert wire.seen == [("course_updated", (ROOM_EVENT,)), ("new_enrollment", ({"user_id": "u2"},)),
                         ("joined_course", ({"course_id": "c1", "status": "Joined successfully"},))]
    assert (wire.client.pid, wire.client.offset) == ("p1", "18.0")  # a reply carries no offset


def test_the_next_connect_presents_pid_and_offset_and_a_same_pid_answer_is_a_recovery():
    wire = Wire()
    wire.open({"sid": "s1", "pid": "p1"})
    wire.receive("2" + json.dumps(["course_updated", ROOM_EVENT, "17.0"]))
    sent = wire.open({"sid": "s1", "pid": "p1"})
    assert sent == {"token": "the-token", "recover": True, "pid": "p1", "offset": "17.0"}
    assert wire.connects == [False, True]  # known before the connect handler runs: it must not rejoin
    wire.receive("2" + json.dumps(["course_updated", ROOM_EVENT, "18.0"]))  # a missed one, replayed
    assert wire.seen[-1] == ("course_updated", (ROOM_EVENT,)) and wire.client.offset == "18.0"


def test_a_session_dropped_before_any_room_event_presents_its_pid_without_offset():
    wire = Wire()
    wire.open({"sid": "s1", "pid": "p1"})
    assert wire.open({"sid": "s1", "pid": "p1"}) == {"token": "the-token", "recover": True, "pid": "p1"}
    assert wire.connects == [False, True]


def test_a_new_pid_is_a_fresh_session_whose_offsets_start_afresh():
    wire = Wire()
    wire.open({"sid": "s1", "pid": "p1"})
    wire.receive("2" + json.dumps(["course_updated", ROOM_EVENT, "17.0"]))
    wire.open({"sid": "s2", "pid": "p2"})  # window passed: not recovered
    assert wire.connects == [False, False]
    assert (wire.client.pid, wire.client.offset) == ("p2", None)
    assert wire.open({"sid": "s3", "pid": "p3"})["pid"] == "p2"


@pytest.mark.parametrize("options, reply", [({"recover": False}, {"sid": "s1", "pid": "p1"}),
                                            ({}, {"sid": "s1"})])  # a server without recovery
def test_without_recovery_the_auth_is_the_token_and_arguments_are_untouched(options, reply):
    wire = Wire(**options)
    assert wire.open(reply) == {"token": "the-token", **({"recover": True} if not options else {})}
    wire.receive("2" + json.dumps(["course_updated", ROOM_EVENT, "extra"]))
    assert wire.seen == [("course_updated", (ROOM_EVENT, "extra"))]
    assert wire.open(reply).get("pid") is None and wire.connects == [False, False]


def test_messages_reach_the_handlers_in_order_on_the_reading_thread():
    client = RecoveringClient("the-token")
    assert isinstance(client.eio, InOrderEngineIOClient)
    handled = []
    client.eio.on("message", lambda data: handled.append((data, threading.get_ident())))
    for number in range(50):  # upstream starts a thread per message: any order, and later
        client.eio._receive_packet(eio_packet.Packet(eio_packet.MESSAGE, data=f"2[\"e\",{number}]"))
    assert handled == [(f"2[\"e\",{number}]", threading.get_ident()) for number in range(50)]


def test_the_upstream_methods_it_extends_are_the_ones_it_was_written_against():
    assert RecoveringClient.supported()

"""The door's transport as units: the overrides of upstream internals agree with upstream, the
session records fold the same whatever order two doors' records arrive in, and the replay
window answers "is everything after this offset still here" correctly. No broker, no sockets:
the real thing is in tests/stack/test_recovery.py."""
import gc
import random
import weakref
from unittest import mock

import engineio
import eventlet
import pytest
from engineio import packet as eio_packet
from engineio.socket import Socket as EngineSocket
from socketio import base_manager

from eventlet.websocket import RFC6455WebSocket

from services.realtime.transport import UPSTREAM, check_upstream_versions
from services.realtime.transport import frames
from services.realtime.transport.frames import apply_mask, text_frame
from services.realtime.transport.manager import RoomLogManager
from services.realtime.transport.roomlog import Window, compact_emit, offset_string, parse_offset
from services.realtime.transport.sessions import SILENT_DOOR_SECONDS, Session, SessionTable, replay_start


def managers():
    ours = RoomLogManager.__new__(RoomLogManager)  # no broker: only the room bookkeeping is exercised
    base_manager.BaseManager.__init__(ours)
    ours._rooms_of = {}
    ours.pids = {}
    upstream = base_manager.BaseManager()
    for manager in (ours, upstream):
        ids = iter(range(10 ** 6))
        manager.server = mock.Mock()
        manager.server.eio.generate_id = lambda ids=ids: f"s{next(ids)}"
    return ours, upstream


def test_rooms_by_client_agree_with_upstream_scans_through_joins_leaves_and_disconnects():
    ours, upstream = managers()
    rng = random.Random(7)
    sids = []
    for step in range(2000):
        action = rng.random()
        if action < 0.3 or not sids:
            sid = ours.connect(ours.pre_connect(f"e{step}", "/"), "/")
            assert upstream.connect(upstream.pre_connect(f"e{step}", "/"), "/") == sid
            sids.append(sid)
        elif action < 0.8:
            sid, room = rng.choice(sids), f"room{rng.randint(0, 15)}"
            change = "basic_enter_room" if action < 0.6 else "basic_leave_room"
            getattr(ours, change)(sid, "/", room)
            getattr(upstream, change)(sid, "/", room)
        else:
            sid = sids.pop(rng.randrange(len(sids)))
            ours.basic_disconnect(sid, "/")
            upstream.basic_disconnect(sid, "/")
        for sid in sids[-3:]:
            assert sorted(ours.get_rooms(sid, "/")) == sorted(upstream.get_rooms(sid, "/"))
    assert {name: dict(room) for name, room in ours.rooms["/"].items()} == \
        {name: dict(room) for name, room in upstream.rooms["/"].items()}
    assert set(ours._rooms_of) == {("/", sid) for sid in sids}


def test_text_frames_carry_the_three_length_encodings():
    assert text_frame(b"hi") == b"\x81\x02hi"
    assert text_frame(b"x" * 200)[:4] == b"\x81\x7e\x00\xc8"
    assert text_frame(b"x" * 70000)[:10] == b"\x81\x7f" + (70000).to_bytes(8, "big")


def test_unmasking_gives_eventlets_bytes():
    original = RFC6455WebSocket.__dict__["_apply_mask"].__func__ \
        if RFC6455WebSocket._apply_mask is not apply_mask else None
    rng = random.Random(3)

    def reference(data, mask, length=None, offset=0):  # eventlet 0.41's own, byte by byte
        if length is None:
            length = len(data)
        return b"".join(bytes((data[i] ^ mask[(offset + i) % 4],)) for i in range(length))

    for _ in range(300):
        data = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 300)))
        mask = [rng.randrange(256) for _ in range(4)]
        length = rng.choice([None, len(data), max(0, len(data) - rng.randrange(5))])
        offset = rng.randrange(8)
        assert apply_mask(data, mask, length, offset) == reference(data, mask, length, offset)
    assert original is None or original(b"abc", [1, 2, 3, 4]) == reference(b"abc", [1, 2, 3, 4])


def test_the_transport_refuses_library_versions_it_was_not_written_for():
    check_upstream_versions()  # the installed ones are the pinned ones
    with pytest.raises(RuntimeError, match="python-socketio 5.19.0"):
        check_upstream_versions(dict(UPSTREAM, **{"python-socketio": "5.19.0"}))


def test_offsets_are_strings_clients_keep_and_anything_else_is_not_an_offset():
    assert parse_offset(offset_string((1234, 5))) == (1234, 5)
    for junk in (None, 12, "", "12", "a.b", "1.2.3", "-1.0", {"o": 1}):
        assert parse_offset(junk) is None


# -- session records ---------------------------------------------------------------------

def opened(table, pid="p", door="A", now=0.0, start=(10, 0)):
    table.apply(Session(pid=pid, sid="s", user_id="u", start=start, door=door).describe("open"), now)
    return table.get(pid)


def test_a_late_park_from_the_door_that_lost_the_session_changes_nothing_in_either_order():
    resume = {"k": "resume", "pid": "p", "door": "B", "gen": 1, "sid": "s"}
    late_park = {"k": "park", "pid": "p", "by": "A", "gen": 0, "through": [20, 0], "last_sent": None}
    for order in ([resume, late_park], [late_park, resume]):
        table = SessionTable(window_seconds=120)
        opened(table)
        for record in order:
            table.apply(record, now=1.0)
        session = table.get("p")
        assert (session.door, session.generation, session.parked_at) == ("B", 1, None)


def test_rooms_follow_joins_and_leaves_and_a_close_ends_the_session():
    table = SessionTable(window_seconds=120)
    session = opened(table)
    table.apply({"k": "join", "pid": "p", "room": "course_1", "at": [12, 3]}, 1.0)
    table.apply({"k": "join", "pid": "p", "room": "video_1", "at": [13, 0]}, 1.0)
    table.apply({"k": "leave", "pid": "p", "room": "video_1"}, 1.0)
    assert session.rooms == {"course_1": (12, 3)}
    assert session.joined_at("s") == (10, 0)  # its own sid room: since it began
    table.apply({"k": "close", "pid": "p", "gen": 0}, 2.0)
    assert table.get("p") is None


def test_a_parked_session_is_recoverable_within_the_window_only():
    table = SessionTable(window_seconds=120)
    session = opened(table)
    table.apply({"k": "park", "pid": "p", "by": "A", "gen": 0, "through": [30, 0], "last_sent": [25, 1]}, 100.0)
    assert table.recoverable(session, 219.0) and not table.recoverable(session, 221.0)
    assert table.collect_garbage(221.0) == 1 and table.get("p") is None


def test_sessions_of_a_silent_door_count_as_parked_since_its_last_beat():
    table = SessionTable(window_seconds=120)
    session = opened(table, now=0.0)
    table.apply({"k": "beat", "door": "A"}, 50.0)
    assert table.parked_since(session, 50.0 + SILENT_DOOR_SECONDS - 1) is None  # alive: a half-open drop
    assert table.parked_since(session, 50.0 + SILENT_DOOR_SECONDS + 1) == 50.0  # killed
    assert table.recoverable(session, 169.0) and not table.recoverable(session, 171.0)


def test_replay_starts_at_the_park_position_when_the_client_got_all_it_was_sent():
    table = SessionTable(window_seconds=120)
    session = opened(table, start=(10, 0))
    table.apply({"k": "park", "pid": "p", "by": "A", "gen": 0, "through": [90, 0], "last_sent": [40, 2]}, 1.0)
    assert replay_start(session, (40, 2)) == (90, 0)  # nothing was sent after what it has
    assert replay_start(session, (35, 0)) == (35, 0)  # it missed what was sent after 35.0
    table2 = SessionTable(window_seconds=120)
    fresh = opened(table2, start=(10, 0))
    assert replay_start(fresh, None) == (10, 0)  # no offset yet: everything since it began


def test_a_door_that_never_saw_a_session_begin_learns_all_of_it_from_one_full_record():
    holder = SessionTable(window_seconds=120)
    session = opened(holder, start=(10, 0))
    holder.apply({"k": "join", "pid": "p", "room": "course_1", "at": [12, 3]}, 1.0)
    late = SessionTable(window_seconds=120)  # started reading after the open and the join
    late.apply({"k": "join", "pid": "p", "room": "video_9", "at": [13, 0]}, 1.0)  # unknown yet: ignored
    parked = dict(session.describe("park", by="A", through=[50, 0], last_sent=[12, 5]), door=None)
    late.apply(parked, 5.0)
    known = late.get("p")
    assert (known.sid, known.user_id, known.start, known.rooms) == ("s", "u", (10, 0), {"course_1": (12, 3)})
    assert known.door is None and known.parked_at == 5.0 and known.through == (50, 0)
    late.apply(session.describe("state"), 6.0)  # a refresh of a session it knows changes nothing
    assert late.get("p").door is None


# -- the replay window -------------------------------------------------------------------

def emit(*rooms):
    return compact_emit({"k": "emit", "ns": "/", "e": "ev", "d": [{}], "to": list(rooms), "x": []})


@pytest.mark.parametrize("namespace", ["/", "/admin"])
@pytest.mark.parametrize("data", [[], [{"user_id": "u1", "progress": 12.5, "note": "café ✓", "n": None}], [1, "two"]])
def test_a_compact_emit_frames_exactly_what_python_socketio_encodes(namespace, data):
    """The door frames a room event by concatenating the emit's kept JSON (``compact_emit``)
    with or without the recovery offset: byte for byte python-socketio's own encoding of
    ``[event, *data]`` and ``[event, *data, offset]``."""
    from engineio import packet as eio_packet
    from socketio import packet as sio_packet

    from services.realtime.transport.packets import StrictPacket

    record = {"k": "emit", "ns": namespace, "e": "student_progress", "d": data, "to": ["instructor_c1"], "x": ["s9"]}
    emit = compact_emit(record)
    assert emit[0] == namespace and emit[2:] == (("instructor_c1",), ("s9",))
    for pos, items in ((None, ["student_progress", *data]), ((42, 3), ["student_progress", *data, "42.3"])):
        upstream = eio_packet.Packet(eio_packet.MESSAGE, StrictPacket(
            sio_packet.EVENT, namespace=namespace, data=items).encode()).encode()
        packet, frame = RoomLogManager._frame(namespace, emit[1], pos)
        assert packet.encode() == upstream
        assert frame == text_frame(upstream.encode("utf-8"))


def test_a_compact_emit_is_left_alone_by_the_garbage_collector():
    """The replay window holds hundreds of thousands of emits: as plain tuples of strings they
    cost the collector nothing after their first collection (as parsed records they cost the
    door a third of its CPU under progress load)."""
    import gc

    kept = emit("instructor_c1", "course_c1")
    gc.collect()  # the tuples of rooms are untracked in the first, the emit in the second
    gc.collect()
    assert not gc.is_tracked(kept)


def test_the_window_holds_what_it_has_read_since_its_origin_and_nothing_before():
    window = Window(max_age=100, max_entries=3)
    window.origin = (4, 1 << 30)
    for offset, room in ((5, "a"), (6, "b"), (7, "a"), (8, "c")):
        window.add((offset, 0), emit(room), now=0.0)
    assert [pos for pos, _ in window.after((6, 0))] == [(7, 0), (8, 0)]
    assert not window.held((3, 0), ["a"])  # before what this door has read
    # (5, 0) for room a was dropped from memory: a client of room a that last saw 4.x cannot be served
    assert not window.held((4, 1 << 30), ["a"]) and window.held((5, 0), ["a"])
    assert window.held((4, 1 << 30), ["b", "c"])  # nothing of b or c was dropped
    window.add((9, 0), emit("b"), now=200.0)  # and age evicts everything older than max_age
    assert [pos for pos, _ in window.after((0, 0))] == [(9, 0)]


def engine_server(ping_interval):
    server = engineio.Server(async_mode="eventlet", ping_interval=ping_interval)
    frames.install(server)
    return server


def connected_socket(server, sid):
    """What python-engineio's ``_handle_connect`` does with a new socket, the door's ``connect``
    event (``adopt``) included."""
    engine_socket = server.sockets[sid] = EngineSocket(server, sid)
    frames.adopt(engine_socket)
    engine_socket.schedule_ping()
    return engine_socket


def queued(engine_socket):
    return [engine_socket.queue.get_nowait().packet_type for _ in range(engine_socket.queue.qsize())]


def test_the_doors_pinger_pings_each_socket_once_per_interval_as_upstreams_ping_task_does():
    server = engine_server(ping_interval=0.05)
    sockets = [connected_socket(server, f"s{i}") for i in range(3)]
    assert all(type(s) is frames.DoorEngineSocket and s.last_ping is None for s in sockets)
    upstream = EngineSocket(engineio.Server(async_mode="eventlet", ping_interval=0.05), "u")
    upstream.schedule_ping()
    eventlet.sleep(0.15)
    for engine_socket in (*sockets, upstream):  # one PING each, last_ping set: a PONG is due
        assert queued(engine_socket) == [eio_packet.PING] and engine_socket.last_ping is not None
    assert server.pinger.thread is None  # nothing pending: no green thread
    sockets[0].receive(eio_packet.Packet(eio_packet.PONG))  # the PONG schedules the next one
    sockets[0].schedule_ping()  # again while its ping is pending: upstream ignores it, and so does the door
    assert len(server.pinger.due) == 1
    eventlet.sleep(0.15)
    assert [queued(s) for s in sockets] == [[eio_packet.PING], [], []]


def test_a_socket_whose_client_left_is_neither_pinged_nor_kept_until_its_ping():
    server = engine_server(ping_interval=0.2)
    staying, leaving, closing = (connected_socket(server, sid) for sid in ("staying", "leaving", "closing"))
    closing.closing = True
    left = weakref.ref(leaving)
    del server.sockets["leaving"], leaving
    gc.collect()
    assert left() is None  # upstream's ping task would hold it for the interval
    eventlet.sleep(0.4)
    assert queued(staying) == [eio_packet.PING] and queued(closing) == []
    assert server.pinger.thread is None


def test_one_socket_that_cannot_be_pinged_does_not_stop_the_others():
    server = engine_server(ping_interval=0.05)
    broken, fine = connected_socket(server, "broken"), connected_socket(server, "fine")
    broken.send = mock.Mock(side_effect=RuntimeError("boom"))
    eventlet.sleep(0.15)
    assert broken.send.called and queued(fine) == [eio_packet.PING]

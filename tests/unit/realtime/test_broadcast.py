"""RoomBroadcast: the room index matches upstream's scans; own echoes are recognised; frames are RFC 6455."""
import json
import random
from unittest import mock

from kombu.utils.json import dumps as kombu_dumps
from socketio import base_manager

from eventlet.websocket import RFC6455WebSocket

from services.realtime.broadcast import RoomBroadcast, apply_mask, text_frame


def managers():
    ours = RoomBroadcast.__new__(RoomBroadcast)  # no broker: only the room bookkeeping is exercised
    base_manager.BaseManager.__init__(ours)
    ours._rooms_of = {}
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


def test_a_message_is_recognised_as_our_own_by_its_ending_only():
    manager = RoomBroadcast.__new__(RoomBroadcast)
    manager.json, manager.host_id, manager._own_ending = json, "a" * 32, None
    mine = {"method": "emit", "data": [{"message": 'quotes " and é'}], "room": "r", "host_id": "a" * 32}
    theirs = dict(mine, host_id="b" * 32)
    # a client cannot make another replica's message look like ours by quoting our id inside it
    quoting = {"method": "emit", "data": [f'"host_id": "{"a" * 32}"'], "host_id": "b" * 32}
    callback_for_us = {"method": "callback", "host_id": "a" * 32, "sid": "s", "id": 1, "args": []}
    for body in (lambda m: json.dumps(m).encode(),  # as kombu sends our str: text/plain
                 lambda m: kombu_dumps(json.dumps(m)).encode()):  # JSON-serialised once more
        assert manager._is_own(body(mine))
        assert not manager._is_own(body(theirs))
        assert not manager._is_own(body(quoting))
        assert not manager._is_own(body(callback_for_us))


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

"""The door's JSON (``transport/codec.py``, orjson with the stdlib for what orjson refuses) as
python-socketio uses it through ``StrictPacket``: what it writes, what it reads, and what a
client packet it cannot read becomes."""
import json
import math

import pytest

from services.realtime.transport import codec
from services.realtime.transport.packets import MalformedPacket, StrictPacket


def test_it_writes_what_the_stdlib_reads_back_equal_compact_and_in_utf8():
    value = {"message": "café ✓ 学", "progress": 12.5, "n": None, "ok": True, "list": [1, "two", 3.0], 7: "seven"}
    text = codec.dumps(value, separators=(",", ":"))
    assert json.loads(text) == {**{k: v for k, v in value.items() if k != 7}, "7": "seven"}  # keys as the stdlib writes them
    assert " " not in text.replace("café ✓ 学", "") and "café ✓ 学" in text
    assert codec.dumpb(value) == text.encode()
    assert codec.loads(text) == codec.loads(text.encode()) == json.loads(text)


@pytest.mark.parametrize("value", [["\ud800 alone"], [2 ** 70], {"n": -(2 ** 64)}])
def test_what_orjson_cannot_write_is_written_as_the_stdlib_writes_it(value):
    assert codec.dumps(value) == json.dumps(value, separators=(",", ":"))
    assert codec.dumpb(value) == json.dumps(value, separators=(",", ":")).encode()


def test_a_client_packet_decodes_as_before():
    packet = StrictPacket(encoded_packet='21["video_progress",{"video_id":"v","progress":45,"timestamp":270.5}]')
    assert packet.id == 1 and packet.data == ["video_progress", {"video_id": "v", "progress": 45, "timestamp": 270.5}]


def test_what_the_stdlib_reads_and_orjson_refuses_still_reads_so_the_sender_gets_its_validation_error():
    packet = StrictPacket(encoded_packet='2["video_progress",{"progress":NaN,"timestamp":Infinity,"note":"\\ud800",'
                                         '"big":' + "9" * 30 + "}]")
    event, data = packet.data
    assert event == "video_progress" and math.isnan(data["progress"]) and data["timestamp"] == math.inf
    assert data["note"] == "\ud800" and data["big"] == int("9" * 30)


@pytest.mark.parametrize("encoded", [
    '2["join_course",' + "9" * 400 + "]",  # engine.io's own limit: integers of over 100 digits
    '2["join_course"', "2" + "[" * 2000 + "]" * 2000, '2["join_course",nope]',
])
def test_what_it_cannot_read_is_a_malformed_packet(encoded):
    with pytest.raises(MalformedPacket):
        StrictPacket(encoded_packet=encoded)


def test_a_malformed_event_keeps_its_id_so_the_caller_is_answered():
    with pytest.raises(MalformedPacket) as refused:
        StrictPacket(encoded_packet='27["video_progress",{"progress":nope}]')
    assert refused.value.ack_id == 7  # the door acknowledges call 7 with the error
    with pytest.raises(MalformedPacket) as refused:
        StrictPacket(encoded_packet='37[nope]')  # an acknowledgement from the client: nothing to answer
    assert refused.value.ack_id is None

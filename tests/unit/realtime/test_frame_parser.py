"""``reading.FrameParser`` (unit: bytes in, messages out): RFC 6455 client frames as they arrive,
in any pieces, and the statuses eventlet's own reader closes with for what breaks the protocol."""
import os
import struct

import pytest

from services.realtime.transport.reading import BINARY, CLOSE, PING, PONG, TEXT, FrameParser, ProtocolError, unmask

LIMIT = 64 * 1024


def frame(payload, opcode=TEXT, final=True, mask=b"\x1f\x2e\x3d\x4c", rsv=0):
    """A client's frame (masked unless ``mask`` is None)."""
    if isinstance(payload, str):
        payload = payload.encode()
    first = (0x80 if final else 0) | rsv << 4 | opcode
    n = len(payload)
    masked = 0x80 if mask is not None else 0
    if n < 126:
        head = struct.pack("!BB", first, masked | n)
    elif n < 65536:
        head = struct.pack("!BBH", first, masked | 126, n)
    else:
        head = struct.pack("!BBQ", first, masked | 127, n)
    if mask is None:
        return head + payload
    return head + mask + unmask(payload, mask)


def everything(parser):
    out = []
    while (received := parser.next()) is not None:
        out.append(received)
    return out


def test_unmask_is_the_xor_with_the_mask_repeated():
    data, mask = os.urandom(1001), os.urandom(4)
    assert unmask(data, mask) == bytes(b ^ mask[i % 4] for i, b in enumerate(data))
    assert unmask(b"", mask) == b""


def test_messages_come_whole_and_in_order_however_the_bytes_are_cut():
    stream = (frame("42[\"video_progress\",{}]") + frame("é" * 70) + frame(b"\x00\x01", opcode=BINARY)
              + frame("x" * 300) + frame("y" * 60_000)
              + frame("hel", final=False) + frame(b"pi", opcode=PING) + frame("lo", opcode=0x0))
    expected = [(TEXT, "42[\"video_progress\",{}]"), (TEXT, "é" * 70), (BINARY, b"\x00\x01"), (TEXT, "x" * 300),
                (TEXT, "y" * 60_000), (PING, b"pi"), (TEXT, "hello")]
    for piece in (1, 2, 3, 7, 125, 4096, len(stream)):
        parser = FrameParser(LIMIT)
        received = []
        for at in range(0, len(stream), piece):
            parser.feed(stream[at:at + piece])
            received += everything(parser)
        assert received == expected, piece
        assert parser.buffered == 0 and parser.buffer == b""  # nothing kept once handed out


def test_control_frames_are_handed_out_as_they_come():
    parser = FrameParser(LIMIT)
    parser.feed(frame(b"", opcode=PONG) + frame(struct.pack("!H", 1000) + b"bye", opcode=CLOSE))
    assert everything(parser) == [(PONG, b""), (CLOSE, struct.pack("!H", 1000) + b"bye")]


def test_an_incomplete_frame_waits_for_the_rest():
    parser = FrameParser(LIMIT)
    whole = frame("a" * 200)
    parser.feed(whole[:-1])
    assert parser.next() is None and parser.buffered == len(whole) - 1
    parser.feed(whole[-1:])
    assert parser.next() == (TEXT, "a" * 200)


@pytest.mark.parametrize("stream, status", [
    (frame("plain", mask=None), 1002),  # a client must mask
    (frame("x", rsv=4), 1002),  # compression was never agreed
    (frame("x", opcode=0x3), 1002),  # no such opcode
    (frame("x", opcode=0x0), 1002),  # a continuation with nothing to continue
    (frame("a", final=False) + frame("b"), 1002),  # a new message inside a fragmented one
    (frame(b"p", opcode=PING, final=False), 1002),  # control frames are never fragmented
    (frame(b"p" * 126, opcode=PING), 1002),  # nor longer than 125 bytes
    (frame(b"\xff\xfe", opcode=TEXT), 1007),  # text is UTF-8
    (frame("z" * (LIMIT + 1)), 1009),  # a frame over the limit
    (frame("z" * 40_000, final=False) + frame("z" * 40_000, opcode=0x0), 1009),  # a message over it
])
def test_what_breaks_the_protocol_is_refused_with_eventlets_status(stream, status):
    parser = FrameParser(LIMIT)
    parser.feed(stream)
    with pytest.raises(ProtocolError) as refused:
        everything(parser)
    assert refused.value.status == status


def test_a_frame_over_the_limit_is_refused_from_its_header_before_its_payload_arrives():
    parser = FrameParser(LIMIT)
    parser.feed(frame("z" * (LIMIT + 1))[:10])
    with pytest.raises(ProtocolError) as refused:
        parser.next()
    assert refused.value.status == 1009

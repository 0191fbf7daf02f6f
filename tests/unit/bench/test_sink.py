"""The load generator's C reader (``bench/sink.c``): built with the machine's C compiler and run
as ``make bench`` runs it, with server frames written to a socket it has taken over. Its
records decide the fan-out figures of docs/benchmarks.md, so what it counts is checked here."""
import json
import shutil
import socket
import struct
import subprocess
import time
from pathlib import Path

import pytest

from bench.loadgen import Sink, Stats

ROOT = Path(__file__).resolve().parents[3]

pytestmark = pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler")


@pytest.fixture(scope="module")
def sink_binary(tmp_path_factory):
    binary = tmp_path_factory.mktemp("sink") / "sink"
    subprocess.run(["cc", "-O2", "-Wall", "-Wextra", "-Werror", "-o", str(binary), str(ROOT / "bench" / "sink.c")],
                   check=True)
    return binary


@pytest.fixture
def sink(sink_binary):
    reader = Sink(sink_binary)
    yield reader
    reader.stop()


def server_frame(payload: bytes, opcode=1, fin=True, rsv1=False):
    """An unmasked server frame, as a websocket server writes it."""
    b0 = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode
    n = len(payload)
    if n < 126:
        return bytes([b0, n]) + payload
    if n < 65536:
        return bytes([b0, 126]) + struct.pack("!H", n) + payload
    return bytes([b0, 127]) + struct.pack("!Q", n) + payload


def course_updated(seq, sent_at, spaced=True):
    """A room event as python-socketio (``spaced``) or Node's socket.io encodes it."""
    data = {"event_id": "e", "course_id": "c", "title": f"bench {seq} {sent_at:.6f}", "published": True}
    separators = (", ", ": ") if spaced else (",", ":")
    return b"42" + json.dumps(["course_updated", data], separators=separators).encode()


def drained(sink, expected, timeout=5.0):
    stats = Stats()
    deadline = time.monotonic() + timeout
    while True:
        sink.drain(stats)
        if len(stats.fanout) >= expected or time.monotonic() > deadline:
            return stats
        time.sleep(0.02)


def read_exactly(sock, n, timeout=5.0):
    sock.settimeout(timeout)
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        assert chunk, "the sink closed the connection"
        data += chunk
    return data


def test_records_every_course_update_with_its_sequence_and_latency(sink):
    server, client = socket.socketpair()
    sink.take_descriptors([client.fileno()])
    client.close()  # the sink holds its own copy
    sent_at = time.time() - 0.25
    server.sendall(server_frame(course_updated(7, sent_at)) + server_frame(course_updated(8, sent_at, spaced=False)))
    # a frame cut in two reads, with a 16-bit length
    big = course_updated(9, sent_at)[:-1] + b', "pad": "' + b"x" * 300 + b'"]'
    frame = server_frame(big)
    server.sendall(frame[:3])
    time.sleep(0.05)
    server.sendall(frame[3:])
    stats = drained(sink, 3)
    assert [seq for seq, _ in stats.fanout] == [7, 8, 9]
    assert all(0.2 < latency < 5 for _, latency in stats.fanout)
    assert stats.messages == 3 and stats.reads >= 2  # the cut frame took two reads at least
    assert not stats.errors
    server.close()


def test_answers_engineio_and_websocket_pings_and_ignores_other_events(sink):
    server, client = socket.socketpair()
    sink.take_descriptors([client.fileno()])
    client.close()
    server.sendall(server_frame(b"2"))
    assert read_exactly(server, 7) == b"\x81\x81\x00\x00\x00\x003"  # "3", masked with the zero key
    server.sendall(server_frame(b"beat", opcode=9))
    assert read_exactly(server, 10) == b"\x8a\x84\x00\x00\x00\x00beat"
    server.sendall(server_frame(b'42["student_progress",{"title":"bench 1 1.0"}]'))
    stats = drained(sink, 0, timeout=0.2)
    assert stats.fanout == [] and stats.messages == 2 and not stats.errors
    server.close()


def test_counts_what_it_cannot_read_and_closed_connections(sink):
    server, client = socket.socketpair()
    sink.take_descriptors([client.fileno()])
    client.close()
    server.sendall(server_frame(b"\x00compressed", rsv1=True) + server_frame(b"42[", fin=False))
    time.sleep(0.1)
    server.close()
    time.sleep(0.1)
    stats = drained(sink, 0, timeout=0.2)
    assert stats.compressed_frames == 1
    assert stats.errors == {"compressed frame in the sink (not decoded)": 1,
                            "fragmented frame in the sink (not decoded)": 1,
                            "connection closed while in the sink": 1}


def test_close_all_ends_the_connections_it_holds(sink):
    pairs = [socket.socketpair() for _ in range(3)]
    sink.take_descriptors([client.fileno() for _, client in pairs])
    for _, client in pairs:
        client.close()
    sink.close_all()
    for server, _ in pairs:
        server.settimeout(5)
        assert server.recv(1) == b""  # end of stream: its last copy is closed
        server.close()

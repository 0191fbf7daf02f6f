"""The door's HTTP protocol: with small stream buffers a long request and a long response still
go through whole (the buffers hold an idle websocket's memory down, docs/benchmarks.md); a
request's head read without the email package gives what the standard library gives."""
import http.client
import io
from http.server import BaseHTTPRequestHandler

import eventlet
import pytest
from eventlet import wsgi

from services.realtime.transport.frames import DoorProtocol, WriterOnDemand, read_headers

BIG_BODY_PARTS = [b"x" * 3000, b"y" * 9000, b"z" * 20000]  # past the 4 KB buffer, in pieces


def app(environ, start_response):
    cookie = environ.get("HTTP_COOKIE", "")
    start_response("200 OK", [("Content-Type", "text/plain"), ("X-Cookie-Length", str(len(cookie)))])
    return BIG_BODY_PARTS  # eventlet writes these with writelines


def test_a_request_and_a_response_larger_than_the_buffers_go_through_whole():
    assert DoorProtocol.rbufsize == DoorProtocol.wbufsize == 4096
    listener = eventlet.listen(("127.0.0.1", 0))
    server = eventlet.spawn(wsgi.server, listener, app, protocol=DoorProtocol, log_output=False)
    try:
        client = eventlet.connect(listener.getsockname())
        cookie = "c" * 6000  # one header line longer than the read buffer (eventlet allows 8 KB)
        more = "".join(f"X-Filler-{n}: {'f' * 3000}\r\n" for n in range(3))  # a head of ~15 KB in all
        client.sendall(f"GET / HTTP/1.1\r\nHost: x\r\nCookie: {cookie}\r\n{more}Connection: close\r\n\r\n"
                       .encode())
        received = b""
        with eventlet.Timeout(10):
            while chunk := client.recv(65536):
                received += chunk
        head, _, body = received.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200")
        assert b"X-Cookie-Length: 6000" in head
        if b"Transfer-Encoding: chunked" in head:  # no Content-Length: eventlet chunks the parts
            parts, rest = [], body
            while True:
                size, _, rest = rest.partition(b"\r\n")
                n = int(size, 16)
                if n == 0:
                    break
                parts.append(rest[:n])
                rest = rest[n + 2:]
            body = b"".join(parts)
        assert body == b"".join(BIG_BODY_PARTS)
    finally:
        server.kill()
        listener.close()


def test_the_writer_is_made_by_the_first_write_and_not_by_closing():
    made = []

    class Socket:
        def makefile(self, mode, size):
            made.append((mode, size))
            return io.BytesIO()

    unused = WriterOnDemand(Socket(), 4096)
    assert not unused.closed
    unused.flush()
    unused.close()
    assert unused.closed and made == []
    with pytest.raises(ValueError):
        unused.write(b"late")

    used = WriterOnDemand(Socket(), 4096)
    used.writelines([b"a", b"b"])
    used.flush()
    assert made == [("wb", 4096)] and not used.closed
    used.close()
    assert used.closed


def masked_text_frame(text, mask=b"\x01\x02\x03\x04"):
    payload = text.encode()
    n = len(payload)
    length = bytes([0x80 | n]) if n < 126 else bytes([0x80 | 126]) + n.to_bytes(2, "big")
    return b"\x81" + length + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def test_a_websocket_reading_ahead_gets_every_frame_whole_and_in_order():
    """Frames that come in one segment, split across segments, and larger than the read-ahead,
    through eventlet's own websocket with the door's ``ReadAhead`` socket (``frames.py``)."""
    from eventlet import websocket

    from services.realtime.transport.frames import ReadAhead

    received = []

    @websocket.WebSocketWSGI
    def echo(ws):
        ws.socket = ReadAhead(ws.socket)
        while (message := ws.wait()) is not None:
            received.append(message)

    listener = eventlet.listen(("127.0.0.1", 0))
    server = eventlet.spawn(wsgi.server, listener, echo, log_output=False)
    try:
        client = eventlet.connect(listener.getsockname())
        client.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                       b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
        with eventlet.Timeout(5):
            assert client.recv(4096).startswith(b"HTTP/1.1 101")
        small = [f'42["video_progress",{{"n":{n}}}]' for n in range(50)]  # ~1.6 KB in one write
        large = "x" * 10_000  # past the 4 KB read-ahead
        client.sendall(b"".join(masked_text_frame(text) for text in small))
        burst = masked_text_frame(large) + masked_text_frame("after")
        for at in range(0, len(burst), 1500):  # split mid-header and mid-payload
            client.sendall(burst[at:at + 1500])
            eventlet.sleep(0.01)
        with eventlet.Timeout(5):
            while len(received) < len(small) + 2:
                eventlet.sleep(0.01)
        assert received == small + [large, "after"]
        client.close()
    finally:
        server.kill()
        listener.close()


def test_a_closed_connection_is_freed_without_waiting_for_the_garbage_collector():
    """eventlet's request environ holds a closure over its protocol (``eventlet.set_idle``): the
    door's protocol breaks that cycle when the connection ends, so the protocol, its streams
    and its buffers go with the connection (reference counting alone, collector off)."""
    import gc
    import weakref

    import websocket as websocket_client
    from eventlet import websocket

    protocols = []

    class Recorded(DoorProtocol):
        def handle(self):
            protocols.append(weakref.ref(self))
            super().handle()

    @websocket.WebSocketWSGI
    def wait_for_close(ws):
        ws.wait()

    listener = eventlet.listen(("127.0.0.1", 0))
    server = eventlet.spawn(wsgi.server, listener, wait_for_close, protocol=Recorded, log_output=False)
    gc.disable()
    try:
        client = websocket_client.create_connection("ws://127.0.0.1:%d/" % listener.getsockname()[1], timeout=5)
        client.close()
        with eventlet.Timeout(5):
            while not protocols or protocols[0]() is not None:
                eventlet.sleep(0.01)
    finally:
        gc.enable()
        server.kill()
        listener.close()


def test_a_client_that_leaves_before_sending_a_request_ends_its_connection_quietly():
    """The protocol is finished without a request ever read (no environ): nothing raises (an
    error here reached nameko as a failed managed thread, which stops the whole door)."""
    listener = eventlet.listen(("127.0.0.1", 0))
    http = wsgi.Server(listener, listener.getsockname(), app, protocol=DoorProtocol, log_output=False)
    eventlet.connect(listener.getsockname()).close()
    sock, address = listener.accept()
    http.process_request([address, sock, wsgi.STATE_IDLE])
    listener.close()


def test_a_connection_whose_serving_fails_ends_alone_and_never_reaches_the_door_s_container():
    from services.realtime.door import Door

    class Failing(DoorProtocol):
        def handle(self):
            raise RuntimeError("a bug in serving one connection")

    listener = eventlet.listen(("127.0.0.1", 0))
    door = Door.__new__(Door)  # only its serving of a connection, without a container
    door._serv = wsgi.Server(listener, listener.getsockname(), app, protocol=Failing, log_output=False)
    client = eventlet.connect(listener.getsockname())
    sock, address = listener.accept()
    door.process_request(sock, address)  # returns: nameko's managed thread ends without an error
    assert sock.fd.fileno() == -1  # closed on the door's side
    with eventlet.Timeout(5):
        assert client.recv(1) == b""  # and so for the client
    listener.close()


# -- the request head, read without the email package (frames.read_headers) -------------------

HEADS = [
    b"Host: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZQ==\r\n\r\n",
    b"A:b \r\nC:\t d\t\r\nEmpty:\r\n\r\n",  # trailing whitespace kept, leading dropped, empty values
    b"A: one\nB: two\n\n",  # bare LF
    b"Dup: 1\r\ndup: 2\r\n\r\n",  # repeated names, any case
    b"Folded: first\r\n  second\r\nNext: x\r\n\r\n",  # obsolete line folding
    b"Bad Name: x\r\n\r\n", b"NoColon\r\nA: b\r\n\r\n", b": nameless\r\n\r\n",  # not headers
    b"A: b\rc\r\n\r\n", b"A: b\x0bc\x1c\x85\r\n\r\n", b"A: caf\xe9\r\n\r\n",  # odd bytes in a value
    b"From me: x\r\n\r\n", b"From x\r\nA: b\r\n\r\n",  # what mail calls an envelope line
    b"A: b\r\n",  # the client left before the blank line
    b"\r\n",  # no headers at all
]


def message_of(headers):
    return headers.items(), headers.get_payload(), [type(d) for d in headers.defects], headers.get_content_type()


@pytest.mark.parametrize("head", HEADS)
def test_read_headers_gives_what_the_standard_library_gives(head):
    ours = read_headers(io.BytesIO(head + b"body"))
    theirs = http.client.parse_headers(io.BytesIO(head + b"body"))
    assert message_of(ours) == message_of(theirs)
    assert type(ours) is type(theirs)


@pytest.mark.parametrize("head, error", [
    (b"A: " + b"x" * 70000 + b"\r\n\r\n", http.client.LineTooLong),
    (b"".join(b"H%d: v\r\n" % n for n in range(101)) + b"\r\n", http.client.HTTPException),
])
def test_read_headers_keeps_the_standard_librarys_limits(head, error):
    with pytest.raises(error):
        http.client.parse_headers(io.BytesIO(head))
    with pytest.raises(error):
        read_headers(io.BytesIO(head))


class Parsed(DoorProtocol):
    """A DoorProtocol (or, with ``stdlib``, the standard library's parse) on bytes, no socket."""

    def __init__(self, raw, stdlib=False):  # noqa: super().__init__ would serve a connection
        self.raw_requestline, _, rest = raw.partition(b"\n")
        self.raw_requestline += b"\n"
        self.rfile, self.wfile = io.BytesIO(rest), io.BytesIO()
        self.protocol_version, self.request_version = "HTTP/1.1", self.default_request_version
        self.client_address, self.request = ("127.0.0.1", 1), None
        parse = BaseHTTPRequestHandler.parse_request if stdlib else DoorProtocol.parse_request
        self.result = parse(self)

    def log_message(self, *args):
        pass

    def outcome(self):
        fields = ("result", "command", "path", "request_version", "close_connection")
        headers = getattr(self, "headers", None)
        return ({name: getattr(self, name, None) for name in fields}, None if headers is None else message_of(headers),
                self.wfile.getvalue().split(b"\r\n", 1)[0], self.rfile.read())


@pytest.mark.parametrize("raw", [
    b"GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\r\nafter",
    b"GET / HTTP/1.0\r\nHost: x\r\n\r\n", b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n", b"GET //a//b HTTP/1.1\r\n\r\n",
    b"POST /api/v1/auth/login HTTP/1.1\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n{}",
    b"GET / HTTP/1.1\r\nFolded: a\r\n b\r\n\r\n",
    b"GET / HTTP/2.0\r\n\r\n", b"GET / HTTP/1.x\r\n\r\n", b"GET /\r\n\r\n", b"PUT /\r\n\r\n",
    b"GET / HTTP/1.1 extra\r\n\r\n", b"\r\n", b"GET\xa0/ HTTP/1.1\r\n\r\n",
    b"GET / HTTP/1.1\r\nA: " + b"x" * 70000 + b"\r\n\r\n",
])
def test_the_door_parses_a_request_as_the_standard_library_does(raw):
    assert Parsed(raw).outcome() == Parsed(raw, stdlib=True).outcome()

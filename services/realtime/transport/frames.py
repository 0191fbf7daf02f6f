"""The Engine.IO and websocket end of the door: frames, masks, and what a socket is written with.

Overrides of upstream internals here (each also listed in ``transport/__init__.py``):

* ``eventlet.websocket.RFC6455WebSocket._apply_mask`` (eventlet 0.41.3): :func:`apply_mask`,
  the same bytes with one XOR instead of a generator step per byte (6 % of the door's CPU while
  500 students reported progress).
* ``engineio.async_drivers.eventlet.WebSocketWSGI`` (python-engineio 4.15.1), through the
  server's ``_async["websocket"]``: :class:`RecordingWebSocketWSGI` records each connection's
  websocket on its Engine.IO socket (``socket.websocket``), so room emits can be written to it
  directly (:func:`write_now`), and gives the websocket a :class:`ReadAhead` socket.
* ``socketio.WSGIApp.__call__`` (python-socketio 5.18.1): :class:`SocketIOApp` refuses
  permessage-deflate and turns a malformed frame into one log line instead of a 500.
* ``engineio.socket.Socket.schedule_ping``, ``send`` and ``_websocket_handler`` (python-engineio
  4.15.1): each Engine.IO socket becomes a :class:`DoorEngineSocket` when it connects
  (:func:`adopt`): the door's one :class:`Pinger` sends its pings, a websocket has a
  writer green thread only while something waits to be written, and none for reading: it is
  read when readable (``reading.py``). Its queue, made by the server (``_async["queue"]``), is a
  :class:`SocketQueue`.
* ``eventlet.websocket.RFC6455WebSocket._send_closing_frame`` and ``eventlet.wsgi.HttpProtocol.finish``
  (eventlet 0.41.3): :class:`DoorWebSocket` and :class:`DoorProtocol` leave a websocket read when
  readable open when the request that opened it ends; ``HttpProtocol.setup``: the protocol's
  writer is made on demand (:class:`WriterOnDemand`).
* ``eventlet.websocket.WebSocketWSGI._handle_hybi_request`` and ``RFC6455WebSocket._send``
  (eventlet 0.41.3): the answer to the handshake is held (:class:`HeldHandshake`) and leaves
  with the websocket's first frame, the OPEN packet.
* ``http.server.BaseHTTPRequestHandler.parse_request`` (Python 3.11): :class:`DoorProtocol` reads
  an HTTP/1.x request's headers with :func:`read_headers`, not the email package.
"""
import collections
from contextlib import contextmanager
import email.parser
import http.client
from http import HTTPStatus
import json
from http.server import BaseHTTPRequestHandler
import logging
import re
import socket
import struct
import time
import weakref

import eventlet
import eventlet.queue
import eventlet.wsgi
import socketio
from engineio import packet as eio_packet
from engineio.async_drivers.eventlet import WebSocketWSGI
from engineio.socket import Socket as EngineSocket
from eventlet.websocket import RFC6455WebSocket
from nameko.web.server import HttpOnlyProtocol

from services.realtime.transport.reading import ReadingThreads, ReadsWhenReadable, unmask

log = logging.getLogger(__name__)

# a client written to this recently is busy: its next frames are gathered this long
BUSY_SECONDS = 0.002
GATHER_SECONDS = 0.002


def text_frame(payload):
    """An unmasked, final RFC 6455 text frame (server to client)."""
    n = len(payload)
    if n < 126:
        header = struct.pack("!BB", 0x81, n)
    elif n < 65536:
        header = struct.pack("!BBH", 0x81, 126, n)
    else:
        header = struct.pack("!BBQ", 0x81, 127, n)
    return header + payload


# what http.client allows a request's head: the longest line, the most header lines
MAX_HEADER_LINE = 65536
MAX_HEADERS = 100
# a header line the email package would read as ``name: value`` with nothing more to it (no
# folding, no space before the colon, a name of token characters, no CR or LF but its end):
# split here as it splits it
SIMPLE_HEADER = re.compile(r"([!#$%&'*+\-.^_`|~0-9A-Za-z]+):[ \t]*([^\r\n]*)\r?\n")


def read_headers(rfile):
    """An HTTP request's headers, read from ``rfile`` as ``http.client.parse_headers`` reads them
    (the same limits and errors, the same ``HTTPMessage``), but split without the email package
    when every line is a plain ``name: value``: it builds a parser and matches each line against
    several expressions, about 35 us of the ~700 a websocket connect costs the door. Anything
    else (folded lines, a line that is no header) goes to the email package whole, as before."""
    lines = []
    while True:
        line = rfile.readline(MAX_HEADER_LINE + 1)
        if len(line) > MAX_HEADER_LINE:
            raise http.client.LineTooLong("header line")
        lines.append(line)
        if len(lines) > MAX_HEADERS:
            raise http.client.HTTPException(f"got more than {MAX_HEADERS} headers")
        if line in (b"\r\n", b"\n", b""):
            break
    pairs = []
    for line in lines[:-1]:
        simple = SIMPLE_HEADER.fullmatch(line.decode("iso-8859-1"))
        if simple is None:
            return email.parser.Parser(_class=http.client.HTTPMessage).parsestr(
                b"".join(lines).decode("iso-8859-1"))
        pairs.append(simple.groups())
    message = http.client.HTTPMessage()
    message._headers, message._payload = pairs, ""  # what the email package leaves for a head alone
    return message


class DoorProtocol(HttpOnlyProtocol):
    """Nameko's HTTP protocol with 4 KB stream buffers instead of 8 KB (read) and 16 KB (write).

    The protocol's buffered reader and writer live as long as the connection, and a websocket
    connection lives for hours: after the upgrade the websocket reads and writes the socket
    itself, so those two buffers sit idle. They were 24.5 of the ~62 KB allocated per idle
    connection (``bench/memory.py``), but mostly pages never touched, so about 2.4 KB of its
    RSS (docs/benchmarks.md, "Memory per connection"). 4 KB still takes an upgrade request
    with its cookies in one ``recv`` and most API responses in one ``send``; larger ones go
    through in more, as any buffered stream does (a positive buffer keeps ``writelines``
    whole, which eventlet's unbuffered warning is about). Once a request has become a
    websocket, its two streams are closed and their buffers freed (:func:`release_http_streams`,
    through the environ's ``STREAMS``). The writer is made only when something is written to
    it (:class:`WriterOnDemand`): the upgrade's answer goes to the socket itself."""

    rbufsize = 4096
    wbufsize = 4096

    STREAMS = "door.http_streams"  # the environ's key for (rfile, wfile): release_http_streams
    # the environ's key saying the connection outlives its request: a websocket read when
    # readable (reading.py) is closed by its reading, not when the request that opened it ends
    OUTLIVES_REQUEST = "door.outlives_request"

    def setup(self):
        """eventlet's ``setup`` (0.41.3) for a plain socket (the door serves no TLS), the writer
        made on demand: making a buffered stream over a socket was 2.4 % of a connect's CPU."""
        conn = self.connection = self.request
        if hasattr(socket, "TCP_QUICKACK"):  # as eventlet: acknowledge at once
            try:
                conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, True)
            except OSError:
                pass
        self.rfile = conn.makefile("rb", self.rbufsize)
        self.wfile = WriterOnDemand(conn, self.wbufsize)

    def get_environ(self):
        environ = super().get_environ()
        environ[self.STREAMS] = (self.rfile, self.wfile)
        return environ

    def parse_request(self):
        """The standard library's ``parse_request`` for an HTTP/1.0 or 1.1 request line, step for
        step, with its headers read by :func:`read_headers`; any other request line goes to it."""
        requestline = str(self.raw_requestline, "iso-8859-1").rstrip("\r\n")
        words = requestline.split()
        if len(words) != 3 or words[2] not in ("HTTP/1.1", "HTTP/1.0"):
            return super().parse_request()
        self.requestline = requestline
        self.command, self.path, self.request_version = words
        self.close_connection = not (words[2] == "HTTP/1.1" and self.protocol_version >= "HTTP/1.1")
        if self.path.startswith("//"):
            self.path = "/" + self.path.lstrip("/")  # reduce to a single /
        try:
            self.headers = read_headers(self.rfile)
        except http.client.LineTooLong as err:
            self.send_error(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "Line too long", str(err))
            return False
        except http.client.HTTPException as err:
            self.send_error(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "Too many headers", str(err))
            return False
        connection = self.headers.get("Connection", "").lower()
        if connection == "close":
            self.close_connection = True
        elif connection == "keep-alive" and self.protocol_version >= "HTTP/1.1":
            self.close_connection = False
        if (self.headers.get("Expect", "").lower() == "100-continue" and self.protocol_version >= "HTTP/1.1"
                and self.request_version >= "HTTP/1.1"):
            return self.handle_expect_100()
        return True

    def finish(self):
        """Close the connection, and break the reference cycle eventlet leaves between the
        protocol and its request's environ (whose ``eventlet.set_idle`` is a closure over the
        protocol): without it a closed connection's protocol, streams, buffers, headers and
        environ (~10 KB) wait for a garbage collection instead of going with the connection."""
        try:
            environ = getattr(self, "environ", None)  # none when the client left before a request
            if environ is not None and environ.get(self.OUTLIVES_REQUEST):
                # eventlet's finish, without closing the connection (reading.py closes it)
                BaseHTTPRequestHandler.finish(self)
            else:
                super().finish()
        finally:
            self.environ = None


class RecordingWebSocketWSGI(WebSocketWSGI):
    """python-engineio's eventlet websocket wrapper, telling the Engine.IO socket its websocket."""

    def __init__(self, handler, server):
        engine_socket = getattr(handler, "__self__", None)

        def handle(ws):
            ws.__class__ = DoorWebSocket
            ws.socket = ReadAhead(ws.socket)
            release_http_streams(ws.environ)
            if engine_socket is not None:
                engine_socket.websocket = ws
            try:
                result = handler(ws)
            finally:
                ws.send_handshake()  # whatever happened, the client has its answer before anything else
            if engine_socket is not None and engine_socket.parser is not None:  # read when readable now
                ws.environ[DoorProtocol.OUTLIVES_REQUEST] = True
                ws.request_ending = True
            return result

        super().__init__(handle, server)

    def _handle_hybi_request(self, environ):
        """eventlet's, with the answer to the handshake (the 101) held by the websocket to leave
        with its first frame, the OPEN packet, in one ``send``: on loopback a ``send`` also does
        the client's TCP input, and a connect made three."""
        given = environ["eventlet.input"]
        held = HeldHandshake(given.get_socket())
        environ["eventlet.input"] = held  # where eventlet takes the socket it answers on
        try:
            ws = super()._handle_hybi_request(environ)
        finally:
            environ["eventlet.input"] = given
        ws.socket, ws.handshake = held.socket, held.answer
        return ws


class HeldHandshake:
    """What eventlet's handshake sees as the request's input and its socket: keeps what it sends."""

    __slots__ = ("socket", "answer")

    def __init__(self, sock):
        self.socket, self.answer = sock, b""

    def get_socket(self):
        return self

    def sendall(self, data):
        self.answer += data


class DoorWebSocket(RFC6455WebSocket):
    """eventlet's websocket, left open when the request that opened it ends if its Engine.IO
    socket reads it when readable (``reading.py``): eventlet's ``WebSocketWSGI`` sends a closing
    frame as its handler returns (the one call of ``_send_closing_frame`` after the handler,
    which ``request_ending`` answers), and the connection is closed by its reading instead."""

    request_ending = False
    handshake = b""  # the answer to the handshake, until the first frame takes it along

    def _send(self, frame):
        if self.handshake:
            frame, self.handshake = self.handshake + frame, b""
        super()._send(frame)

    def send_handshake(self):
        """Send the answer to the handshake now if no frame has taken it along yet."""
        if self.handshake:
            self._send(b"")

    def _send_closing_frame(self, ignore_send_errors=False, close_data=None):
        if self.request_ending:
            self.request_ending = False
            return
        super()._send_closing_frame(ignore_send_errors, close_data)


class WriterOnDemand:
    """A buffered writer over a socket, made when it is first written to or flushed with
    something to flush: everything else (``closed``, ``close`` before any write) is answered
    without it."""

    __slots__ = ("_socket", "_size", "_file", "_closed")

    def __init__(self, sock, size):
        self._socket, self._size, self._file, self._closed = sock, size, None, False

    def _made(self):
        if self._file is None:
            if self._closed:
                raise ValueError("I/O operation on closed file.")
            self._file = self._socket.makefile("wb", self._size)
        return self._file

    def write(self, data):
        return self._made().write(data)

    def writelines(self, lines):
        return self._made().writelines(lines)

    def flush(self):
        if self._file is not None:
            self._file.flush()
        elif self._closed:
            raise ValueError("I/O operation on closed file.")

    @property
    def closed(self):
        return self._file.closed if self._file is not None else self._closed

    def close(self):
        if self._file is not None:
            self._file.close()
        self._closed = True


def release_http_streams(environ):
    """Close the HTTP protocol's buffered streams of a request that became a websocket.

    eventlet's websocket reads and writes the connection's socket itself once the handshake is
    answered, so the protocol's read and write buffers (4 KB each, :class:`DoorProtocol`) sit
    idle for the connection's life: 8.5 KB of the ~38 KB a held connection allocated
    (``bench/memory.py``). Closing a stream frees its buffer and leaves the socket open (the
    socket is closed with the connection, as before); eventlet does not read or write them again
    for an upgraded request (its request ends when the handler returns)."""
    for stream in environ.get(DoorProtocol.STREAMS, ()):
        stream.close()


class ReadAhead:
    """A websocket's socket whose reads take what the kernel holds, up to ``READ_AHEAD`` bytes.

    eventlet reads each frame of a client with three or four ``recv`` calls (two header bytes,
    the four-byte mask, the payload), each a system call and a pass through the green socket:
    a tenth of the door's CPU while 500 students reported progress. Here the first of them
    takes everything the kernel holds (often several frames), and the rest are served from
    that. What is left over is kept only until read: an idle connection holds no buffer.
    Everything else (writes, ``close``) is the socket's own; ``fd``, the raw socket the fan-out
    writes to once per delivery (``write_now``), is kept here rather than looked up through
    ``__getattr__`` each time.
    """

    READ_AHEAD = 4096
    __slots__ = ("socket", "fd", "_ahead", "_at", "on_close")

    def __init__(self, socket):
        self.socket = socket
        self.fd = socket.fd
        self._ahead = b""
        self._at = 0
        self.on_close = None  # called once, before the socket is closed (reading.py stops reading it)

    def take_ahead(self):
        """What was read ahead and not yet asked for (and forget it)."""
        ahead, self._ahead, at, self._at = self._ahead, b"", self._at, 0
        return ahead[at:]

    def close(self):
        on_close, self.on_close = self.on_close, None
        if on_close is not None:
            on_close()
        self.socket.close()

    def recv(self, size):
        ahead, at = self._ahead, self._at
        if at >= len(ahead):
            ahead = self.socket.recv(max(size, self.READ_AHEAD))
            if len(ahead) <= size:  # all of it asked for (or the end of the stream): nothing to keep
                self._ahead, self._at = b"", 0
                return ahead
            at = 0
        chunk = ahead[at:at + size]
        at += len(chunk)
        if at >= len(ahead):
            self._ahead, self._at = b"", 0
        else:
            self._ahead, self._at = ahead, at
        return chunk

    def __getattr__(self, name):
        return getattr(self.socket, name)


def install(engineio_server):
    """Make ``engineio_server`` record websockets and ping through one :class:`Pinger`, and
    eventlet unmask frames in one step."""
    engineio_server._async = dict(engineio_server._async, websocket=RecordingWebSocketWSGI, queue=SocketQueue)
    engineio_server.pinger = Pinger(engineio_server.ping_interval)
    engineio_server.reading_threads = ReadingThreads()
    RFC6455WebSocket._apply_mask = staticmethod(apply_mask)


def adopt(engine_socket):
    """Make a socket the Engine.IO server has just created a :class:`DoorEngineSocket` (in the
    server's ``connect`` event, before its first ping is scheduled)."""
    if type(engine_socket) is EngineSocket and hasattr(engine_socket.server, "pinger"):
        engine_socket.__class__ = DoorEngineSocket


class SocketQueue(eventlet.queue.Queue):
    """An Engine.IO socket's packet queue (eventlet's, as upstream) that calls ``on_put`` after
    each put: a websocket's writer is started when its queue has something (:class:`DoorEngineSocket`)."""

    on_put = None

    def put(self, item, block=True, timeout=None):
        super().put(item, block, timeout)
        if self.on_put is not None:
            self.on_put()


class DoorEngineSocket(ReadsWhenReadable, EngineSocket):
    """python-engineio's socket without the green threads that wait with nothing to do.

    Upstream gives each websocket three parked green threads for its whole life: the reader,
    a writer waiting on the queue (with a 45 s timeout), and a ping task sleeping 25 s. A parked
    green thread costs its saved stack, its start and a hub timer (~4 KB each, docs/benchmarks.md
    "Memory per connection"), and the ping task keeps the socket, and all it holds, alive up to
    25 s after its client left. Here:

    * the websocket is read when readable (:class:`~services.realtime.transport.reading.ReadsWhenReadable`):
      the request that opened it ends once it is open, and a green thread of the door's pool
      handles its messages while it has some;

    * pings come from the door's one :class:`Pinger` (the same attributes change, in the same
      order; only who waits for the interval differs);
    * a packet is written at once when nothing of the client's is pending (:func:`write_now`,
      as room emits are), otherwise queued as upstream; a queued packet starts a writer green
      thread that writes what is queued, in order, and ends when the queue is empty. A client
      that stopped reading still cannot hold up the sender, and its packets still wait in order.
      What was queued before the websocket was there (the OPEN packet) is written by the
      request that opens it, before it is read.

    What ends the connection is unchanged: the server's ping timeout check (its ``close``
    queues the ``None`` that the writer answers by closing the websocket), the client, or a
    protocol error; upstream's 45 s read timeout is the ping timeout check's job alone. (The
    type is changed on a socket the server made, in :func:`adopt`: python-engineio creates its
    sockets itself, by name.)
    """

    writer = None  # the green thread writing the queue, while it has something

    def schedule_ping(self):
        # as upstream: only after the previous ping's cycle completed (its PONG came)
        if self.last_ping:
            self.last_ping = None
            self.server.pinger.schedule(self)

    def send(self, pkt):
        if not self.check_ping_timeout():  # as upstream: a client that is gone is closed, not sent to
            return
        encoded = pkt.encode()
        if type(encoded) is str and write_now(self, text_frame(encoded.encode())):
            return
        self.queue.put(pkt)

    def _start_writer(self):
        if self.writer is None:
            self.writer = eventlet.spawn(self._write_queued, self.websocket)

    def _write_queued(self, ws):
        """Upstream's writer, ending when the queue is empty instead of waiting on it."""
        queue = self.queue
        try:
            while True:
                try:
                    pkt = queue.get(block=False)
                except eventlet.queue.Empty:
                    return
                queue.task_done()
                if pkt is None:  # closed: as upstream, nothing after it is written
                    queue.on_put = None
                    ws.close()
                    return
                try:
                    ws.send(pkt.encode())
                except Exception:
                    queue.on_put = None
                    ws.close()
                    return
        finally:
            self.writer = None

    def _websocket_handler(self, ws):
        """Upstream's handler (python-engineio 4.15.1 ``Socket._websocket_handler``), with the
        writer started by the queue instead of for the connection's life, and its reading loop
        handed to the hub (``reading.py``) instead of run here."""
        def websocket_wait():
            data = ws.wait()
            if data and len(data) > self.server.max_http_buffer_size:
                raise ValueError('packet is too large')
            return data

        for attr in ['_sock', 'socket']:  # a socket timeout matching the ping interval and timeout
            if hasattr(ws, attr) and hasattr(getattr(ws, attr), 'settimeout'):
                getattr(ws, attr).settimeout(self.server.ping_interval + self.server.ping_timeout)
        if self.connected:  # an upgrade from polling
            ws.send_handshake()  # the client sends its probe once it has the answer
            self.upgrading = True  # hold packet sends during the upgrade
            pkt = websocket_wait()
            decoded_pkt = eio_packet.Packet(encoded_packet=pkt)
            if decoded_pkt.packet_type != eio_packet.PING or decoded_pkt.data != 'probe':
                self.server.logger.info('%s: Failed websocket upgrade, no PING packet', self.sid)
                self.upgrading = False
                return []
            ws.send(eio_packet.Packet(eio_packet.PONG, data='probe').encode())
            self.queue.put(eio_packet.Packet(eio_packet.NOOP))  # end poll
            pkt = websocket_wait()
            decoded_pkt = eio_packet.Packet(encoded_packet=pkt)
            if decoded_pkt.packet_type != eio_packet.UPGRADE:
                self.upgraded = False
                self.server.logger.info('%s: Failed websocket upgrade, expected UPGRADE packet, '
                                        'received %s instead.', self.sid, pkt)
                self.upgrading = False
                return []
            self.upgraded = True
            self.upgrading = False
        else:
            self.connected = True
            self.upgraded = True

        self.queue.on_put = self._start_writer
        if self.queue.qsize():  # queued before the websocket was there (the OPEN packet, ...)
            # written from here, the request's own green thread, rather than by a writer
            # started for it: one green thread fewer per connect
            self.writer = eventlet.getcurrent()
            self._write_queued(ws)  # the handshake's answer leaves with the first of it
            if ws.websocket_closed:  # closed meanwhile (by the server, or a write that failed)
                if not self.closed:
                    self.close(wait=False, abort=True, reason=self.server.reason.TRANSPORT_ERROR)
                return []
        ws.send_handshake()  # nothing was queued: the answer alone
        # upstream's reading loop from here on runs when the socket is readable (reading.py)
        self._read_when_readable(ws, ws.socket.take_ahead())
        return []


class Pinger:
    """One green thread sends every socket of the door its PING when it falls due.

    The interval is the same for every socket, so sockets fall due in the order they were
    scheduled: a deque, first due first. Sockets are held by weak reference, so a client that
    left is not kept for its next ping. The green thread runs only while pings are pending.
    """

    # pings sent between two yields to the hub (a door that just took 10,000 reconnects
    # pings them all within the same second, 25 s later)
    BURST = 200

    def __init__(self, interval):
        self.interval = interval
        self.due = collections.deque()  # (monotonic time due, weakref to the socket)
        self.thread = None

    def schedule(self, engine_socket):
        self.due.append((time.monotonic() + self.interval, weakref.ref(engine_socket)))
        if self.thread is None:
            self.thread = eventlet.spawn(self._run)

    def stop(self):
        if self.thread is not None:
            self.thread.kill()
        self.due.clear()

    def _run(self):
        try:
            sent = 0
            while self.due:
                wait = self.due[0][0] - time.monotonic()
                if wait > 0:
                    sent = 0
                    eventlet.sleep(wait)
                    continue
                engine_socket = self.due.popleft()[1]()
                if engine_socket is not None:
                    ping(engine_socket)
                    sent += 1
                    if sent % self.BURST == 0:
                        eventlet.sleep(0)
        finally:
            self.thread = None


def ping(engine_socket):
    """What upstream's ``Socket._send_ping`` does once its interval has passed."""
    if engine_socket.closing or engine_socket.closed:
        return
    engine_socket.last_ping = time.time()
    try:
        engine_socket.send(eio_packet.Packet(eio_packet.PING))
    except Exception:  # one socket's failure must not stop the others' pings
        log.exception("could not ping %s", engine_socket.sid)


def apply_mask(data, mask, length=None, offset=0):
    """eventlet's ``RFC6455WebSocket._apply_mask``, the same bytes without a loop per byte."""
    if length is None:
        length = len(data)
    if length <= 0:
        return b""
    return unmask(data[:length], bytes(mask[(offset + i) % 4] for i in range(4)))


def write_now(engine_socket, frame):
    """Write ``frame`` to a websocket client now if nothing of its own is pending; True if done.

    Upstream puts each packet in the client's Engine.IO queue, where a writer green thread
    per client wakes to frame and send it. Here a frame built once per emit is written with
    one non-blocking ``send`` when the client's queue is empty and no write of its own is in
    progress (its send lock is free); otherwise (or with a full kernel buffer) the caller
    takes the regular queue, so a client's messages never reorder and a slow client never
    holds up the room. A partial write holds the websocket's send lock until a green thread
    has written the rest. A busy client (written to within ``BUSY_SECONDS``) gets its next
    frames gathered for ``GATHER_SECONDS`` and written together: one system call for many
    messages (an instructor's dashboard under every student's progress). Inside a
    :func:`gathering`, frames are held and written together when it ends.
    """
    ws = getattr(engine_socket, "websocket", None)
    if ws is None:
        return False
    gathered = getattr(ws, "gathered", None)
    if gathered is not None:
        gathered.append(frame)
        return True
    if not writable_now(engine_socket, ws):
        return False
    if _gathering:
        held = _gathering.get(eventlet.getcurrent())
        if held is not None:  # held until the gathering ends (gathering)
            ws._sendlock.acquire()
            ws.gathered = [frame]
            held.append(ws)
            return True
    now = time.monotonic()
    busy = now - getattr(ws, "written_at", 0.0) < BUSY_SECONDS
    ws.written_at = now
    if busy:
        ws._sendlock.acquire()
        ws.gathered = [frame]
        eventlet.spawn_after(GATHER_SECONDS, _write_gathered, ws)
        return True
    try:
        sent = ws.socket.fd.send(frame)
    except OSError:  # kernel buffer full, or the connection broke: the regular path decides
        return False
    if sent < len(frame):
        ws._sendlock.acquire()
        eventlet.spawn_n(_finish_write, ws, frame[sent:])
    return True


def writable_now(engine_socket, ws):
    """Nothing of the client's is pending or being written, and its websocket is open."""
    return not (not engine_socket.upgraded or engine_socket.upgrading or engine_socket.closing
                or engine_socket.closed or engine_socket.queue.qsize() or ws._sendlock.locked()
                or ws.extensions or ws.websocket_closed)


# green thread -> the websockets whose frames it holds until its gathering ends (gathering)
_gathering = {}


@contextmanager
def gathering():
    """Frames written to websockets in this block (by this green thread) are held, and each
    websocket's are written with one ``send`` when it ends.

    A door that fell behind reads several room events at once (``roomlog.py``); writing each
    to every client with a ``send`` of its own made the fan-out's ceiling one system call per
    client per event, where Node socket.io, once behind, writes what waits for a client
    together (docs/benchmarks.md). The answer to a CONNECT (the CONNECT packet, the greeting,
    a resumed session's missed packets) goes the same way. A websocket with something pending
    is left to its usual way (its queue), and one written in the block holds its send lock
    until the block ends, so nothing reorders; another green thread writing to it meanwhile
    adds to what is held. The block should not yield: what it holds waits until it ends.
    Nested blocks are one."""
    me = eventlet.getcurrent()
    if me in _gathering:
        yield
        return
    held = _gathering[me] = []
    try:
        yield
    finally:
        del _gathering[me]
        now = time.monotonic()
        for ws in held:
            frames, ws.gathered = ws.gathered, None
            ws.written_at = now
            _write_or_finish(ws, frames[0] if len(frames) == 1 else b"".join(frames))


def _write_or_finish(ws, data):
    """Write ``data`` (the send lock held) with one non-blocking ``send``; a green thread writes
    what the kernel did not take, then releases the lock."""
    try:
        sent = ws.socket.fd.send(data)
    except BlockingIOError:
        sent = 0
    except OSError:  # the connection broke; its reader notices and closes it
        ws._sendlock.release()
        return
    if sent < len(data):
        eventlet.spawn_n(_finish_write, ws, data[sent:])
    else:
        ws._sendlock.release()


def _write_gathered(ws):
    frames, ws.gathered = ws.gathered, None
    try:
        ws.socket.sendall(b"".join(frames))
    except OSError:  # the connection broke; its reader notices and closes it
        pass
    finally:
        ws._sendlock.release()


def _finish_write(ws, rest):
    try:
        ws.socket.sendall(rest)
    except OSError:  # the connection broke; its reader notices and closes it
        pass
    finally:
        ws._sendlock.release()


class SocketIOApp(socketio.WSGIApp):
    """python-socketio's WSGI app, with the compression policy and malformed frames handled.

    Compression policy: permessage-deflate is refused. eventlet would deflate every frame for
    every client separately and keep a zlib context (~100 KB) per connection; our frames are
    small JSON events (docs/benchmarks.md). Dropping the offer before eventlet's handshake
    reads it makes it answer without the extension, which RFC 6455/7692 clients accept.

    A handshake (a request for ``/socket.io/`` without a session id) is refused before
    Engine.IO sees it when the server says so (``handshake_refusal``: a full door answers
    503, an address with too many unauthenticated sessions 429), in the API's error envelope.

    python-engineio rejects an empty websocket frame by raising ``ValueError`` out of the
    connection's handler (on purpose: python-engineio PR #270); that would reach the WSGI
    server as a 500 with a traceback, and here is one log line instead.
    """

    def __init__(self, socketio_app, wsgi_app=None, **kwargs):
        super().__init__(socketio_app, wsgi_app, **kwargs)
        self.socketio_server = socketio_app

    def __call__(self, environ, start_response):
        environ.pop("HTTP_SEC_WEBSOCKET_EXTENSIONS", None)
        if environ.get("PATH_INFO", "").startswith("/socket.io") and "sid=" not in environ.get("QUERY_STRING", ""):
            refusal = self.socketio_server.handshake_refusal(environ)
            if refusal is not None:  # a new session this door will not take: say so plainly
                status, message = refusal
                reason = {503: "503 SERVICE UNAVAILABLE", 429: "429 TOO MANY REQUESTS"}[status]
                body = json.dumps({"error": {"code": "unavailable" if status == 503 else "rate_limited",
                                             "message": message}}).encode()
                start_response(reason, [("Content-Type", "application/json"), ("Retry-After", "1"),
                                        ("Content-Length", str(len(body)))])
                return [body]
        try:
            return super().__call__(environ, start_response)
        except ValueError as exc:
            if environ.get("HTTP_UPGRADE", "").lower() != "websocket":
                raise
            log.info("closed a websocket that sent a malformed frame: %s", exc)
            eventlet.wsgi.WSGI_LOCAL.already_handled = True
            return []

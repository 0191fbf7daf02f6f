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
"""
import json
import logging
import struct
import time

import eventlet
import eventlet.wsgi
import socketio
from engineio.async_drivers.eventlet import WebSocketWSGI
from eventlet.websocket import RFC6455WebSocket
from nameko.web.server import HttpOnlyProtocol

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


class DoorProtocol(HttpOnlyProtocol):
    """Nameko's HTTP protocol with 4 KB stream buffers instead of 8 KB (read) and 16 KB (write).

    The protocol's buffered reader and writer live as long as the connection, and a websocket
    connection lives for hours: after the upgrade the websocket reads and writes the socket
    itself, so those two buffers sit idle. They were 24.5 of the ~62 KB allocated per idle
    connection (``bench/memory.py``), but mostly pages never touched, so about 2.4 KB of its
    RSS (docs/benchmarks.md, "Memory per connection"). 4 KB still takes an upgrade request
    with its cookies in one ``recv`` and most API responses in one ``send``; larger ones go
    through in more, as any buffered stream does (a positive buffer keeps ``writelines``
    whole, which eventlet's unbuffered warning is about)."""

    rbufsize = 4096
    wbufsize = 4096


class RecordingWebSocketWSGI(WebSocketWSGI):
    """python-engineio's eventlet websocket wrapper, telling the Engine.IO socket its websocket."""

    def __init__(self, handler, server):
        engine_socket = getattr(handler, "__self__", None)

        def handle(ws):
            ws.socket = ReadAhead(ws.socket)
            if engine_socket is not None:
                engine_socket.websocket = ws
            return handler(ws)

        super().__init__(handle, server)


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
    __slots__ = ("socket", "fd", "_ahead", "_at")

    def __init__(self, socket):
        self.socket = socket
        self.fd = socket.fd
        self._ahead = b""
        self._at = 0

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
    """Make ``engineio_server`` record websockets, and eventlet unmask frames in one step."""
    engineio_server._async = dict(engineio_server._async, websocket=RecordingWebSocketWSGI)
    RFC6455WebSocket._apply_mask = staticmethod(apply_mask)


def apply_mask(data, mask, length=None, offset=0):
    """eventlet's ``RFC6455WebSocket._apply_mask``, the same bytes without a loop per byte."""
    if length is None:
        length = len(data)
    if length <= 0:
        return b""
    key = bytes(mask[(offset + i) % 4] for i in range(4)) * (length // 4 + 1)
    return (int.from_bytes(data[:length], "little") ^ int.from_bytes(key[:length], "little")).to_bytes(length, "little")


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
    messages (an instructor's dashboard under every student's progress).
    """
    ws = getattr(engine_socket, "websocket", None)
    if ws is None:
        return False
    gathered = getattr(ws, "gathered", None)
    if gathered is not None:
        gathered.append(frame)
        return True
    if not engine_socket.upgraded or engine_socket.upgrading or engine_socket.closing \
            or engine_socket.closed or engine_socket.queue.qsize() or ws._sendlock.locked() \
            or ws.extensions or ws.websocket_closed:
        return False
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

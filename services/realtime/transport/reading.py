"""Reading websockets when they are readable: no green thread per connection while it is quiet.

Upstream (python-engineio's ``Socket._websocket_handler`` over eventlet's ``RFC6455WebSocket``)
keeps a green thread per websocket for the connection's whole life, parked in ``recv`` while its
client says nothing, which is nearly all of the time. A parked green thread holds its saved C
stack and its interpreter frames (about a quarter of the memory of an idle connection,
docs/benchmarks.md "Memory per connection"), and each message read costs the socket's
registration in epoll and its removal (eventlet's ``trampoline``). Here, once a websocket is
open, the request that opened it ends, and

* its socket stays registered with the hub for reading: the hub calls
  :meth:`ReadsWhenReadable._readable`, which takes what the kernel holds, without blocking, into
  the connection's :class:`FrameParser` (RFC 6455 frames, plain code, no I/O);
* while the connection has whole messages, a green thread from the door's pool
  (:class:`ReadingThreads`) is lent to it and handles them in order, exactly as the connection's
  own green thread did (one client's events run one after the other: a join is done before the
  chat message sent right after it), then goes back to the pool;
* a client that sends faster than its messages are handled is not read past
  ``PAUSE_BYTES``: its socket leaves the hub until the handling catches up (the kernel's buffers
  then push back on the client, as a blocked reader's did).

What ends a connection is what ended upstream's reader: the client's close or end of stream, a
protocol error (answered with a close frame and status, as eventlet does), a message over the
size limit, an error handling one, or the socket closed on the server side (the Engine.IO
socket's writer closes it after a CLOSE; ``close_abruptly`` shuts it down). A client that stops
answering pings is closed by python-engineio's own service task (``check_ping_timeout``).
"""
import logging
import struct

import greenlet
from engineio import exceptions as engineio_exceptions
from engineio import packet as eio_packet
from eventlet import greenio, hubs

log = logging.getLogger(__name__)

READ_BYTES = 65536  # taken from the kernel per readable event, at most
# a connection holding this much unhandled is not read further until its handling catches up
PAUSE_BYTES = 256 * 1024

TEXT, BINARY, CLOSE, PING, PONG = 0x1, 0x2, 0x8, 0x9, 0xA
OPCODES = frozenset({0x0, TEXT, BINARY, CLOSE, PING, PONG})
# close status codes a client may send (RFC 6455 7.4; eventlet's VALID_CLOSE_STATUS)
VALID_CLOSE_STATUS = frozenset(list(range(1000, 1004)) + list(range(1007, 1012)) + list(range(3000, 5000)))


class ProtocolError(Exception):
    """A client broke RFC 6455: the connection is closed with ``status`` and ``reason``."""

    def __init__(self, status, reason):
        super().__init__(reason)
        self.status = status
        self.reason = reason


def unmask(data, mask):
    """``data`` XOR the 4-byte ``mask`` repeated (one integer XOR, not a step per byte)."""
    length = len(data)
    if not length:
        return b""
    key = (mask * (length // 4 + 1))[:length]
    return (int.from_bytes(data, "little") ^ int.from_bytes(key, "little")).to_bytes(length, "little")


class FrameParser:
    """A server's reading of RFC 6455 frames from bytes as they arrive (no I/O).

    ``feed`` what was received; ``next`` gives ``(opcode, payload)`` for each whole message
    (``TEXT`` with a ``str``, ``BINARY`` with ``bytes``, fragments joined) or control frame
    (``CLOSE``, ``PING``, ``PONG`` with ``bytes``), or None until one has arrived whole. It
    enforces what eventlet's ``RFC6455WebSocket._recv_frame`` does, with its statuses: masked
    client frames, no reserved bits (no extension is ever agreed: ``SocketIOApp`` refuses
    compression), known opcodes, whole and short control frames, continuation only within a
    fragmented message, frames and messages of at most ``max_length`` bytes, UTF-8 text. What
    has been handed out is not kept: an idle connection holds no buffer.
    """

    __slots__ = ("max_length", "buffer", "at", "ended", "fragments", "fragments_opcode", "fragments_length")

    def __init__(self, max_length):
        self.max_length = max_length
        self.buffer = b""
        self.at = 0
        self.ended = False  # the client's end of stream came: nothing more will be fed
        self.fragments = None  # the payloads of a fragmented message, while it is incomplete
        self.fragments_opcode = 0
        self.fragments_length = 0

    @property
    def buffered(self):
        return len(self.buffer) - self.at

    def feed(self, data):
        if self.at >= len(self.buffer):
            self.buffer, self.at = data, 0
        else:
            self.buffer, self.at = self.buffer[self.at:] + data, 0

    def next(self):
        while True:
            frame = self._frame()
            if frame is None:
                return None
            final, opcode, payload = frame
            if opcode & 0x8:
                return opcode, payload
            if opcode:  # the first frame of a message
                if self.fragments is not None:
                    raise ProtocolError(1002, "Received a non-continuation opcode within fragmented message.")
                if final:
                    return self._message(opcode, payload)
                self.fragments, self.fragments_opcode, self.fragments_length = [payload], opcode, len(payload)
                continue
            if self.fragments is None:
                raise ProtocolError(1002, "Received continuation opcode with no previous fragments received.")
            self.fragments.append(payload)
            self.fragments_length += len(payload)
            if self.fragments_length > self.max_length:
                raise ProtocolError(1009, f"Incoming message is above length limit of {self.max_length} bytes.")
            if final:
                payload, self.fragments = b"".join(self.fragments), None
                return self._message(self.fragments_opcode, payload)

    @staticmethod
    def _message(opcode, payload):
        if opcode == TEXT:
            try:
                return TEXT, payload.decode("utf-8")
            except UnicodeDecodeError:
                raise ProtocolError(1007, "Text data must be valid utf-8") from None
        return BINARY, payload

    def _frame(self):
        """``(final, opcode, unmasked payload)`` of the next whole frame, or None."""
        buffer, at = self.buffer, self.at
        available = len(buffer) - at
        if available < 2:
            return None
        first, second = buffer[at], buffer[at + 1]
        if first & 0x70:
            raise ProtocolError(1002, "RSV1, RSV2, RSV3: MUST be 0 unless an extension is negotiated "
                                      "that defines meanings for non-zero values.")
        opcode = first & 0xF
        if opcode not in OPCODES:
            raise ProtocolError(1002, "Unknown opcode received.")
        if not second & 0x80:
            raise ProtocolError(1002, "A client MUST mask all frames that it sends to the server")
        final = bool(first & 0x80)
        length = second & 0x7F
        if opcode & 0x8 and (not final or length > 125):
            raise ProtocolError(1002, "Control frames must be whole and of 125 bytes or less")
        head = 2
        if length == 126:
            if available < 4:
                return None
            length, head = struct.unpack_from("!H", buffer, at + 2)[0], 4
        elif length == 127:
            if available < 10:
                return None
            length, head = struct.unpack_from("!Q", buffer, at + 2)[0], 10
        if length > self.max_length:
            raise ProtocolError(1009, f"Incoming frame of {length} bytes is above length limit of "
                                      f"{self.max_length} bytes.")
        start = at + head + 4
        end = start + length
        if len(buffer) < end:
            return None
        payload = unmask(buffer[start:end], buffer[at + head:start])
        if end >= len(buffer):
            self.buffer, self.at = b"", 0
        else:
            self.at = end
        return final, opcode, payload


class ReadingThreads:
    """The door's green threads that handle what clients sent, each lent to one connection at a
    time (while it has whole messages) and kept for the next when done.

    A green thread made for each readable event would cost ~10 us to create and end (its
    interpreter stack is mapped and unmapped each time); a parked one costs a switch. At most
    ``KEEP`` are kept: a burst that needed more ends the rest.
    """

    KEEP = 64

    def __init__(self):
        self.idle = []

    def lend(self, connection):
        """Run ``connection._handle_received()`` in a green thread of the pool, now.

        Called by the hub (its readable callback, or a timer): the thread switches back to the
        hub when it waits or is done, so the hub is where this must be called from."""
        if self.idle:
            thread = self.idle.pop()
        else:
            thread = greenlet.greenlet(self._serve, parent=hubs.get_hub().greenlet)
            # started without arguments: a green thread's first arguments are held for its life
            # (by the C call that runs it), and a connection must not outlive its end in a thread
            thread.switch()  # it parks at once, waiting for its first connection
        thread.switch(connection)

    def lend_soon(self, connection):
        """:meth:`lend`, from any green thread: at the hub's next turn."""
        hubs.get_hub().schedule_call_global(0, self.lend, connection)

    def _serve(self):
        hub = hubs.get_hub()
        while True:
            connection = hub.switch()  # parked until lent
            try:
                connection._handle_received()
            except greenlet.GreenletExit:
                return
            except BaseException:  # never into the hub: it would print and go on anyway
                log.exception("a connection's reading failed")
            connection = None  # not kept while parked
            if len(self.idle) >= self.KEEP:
                return
            self.idle.append(greenlet.getcurrent())


class ReadsWhenReadable:
    """What an Engine.IO websocket socket does to be read when readable (a mixin of
    ``frames.DoorEngineSocket``; see the module's docstring).

    Upstream's reading loop (``Socket._websocket_handler``'s ``while True``) and what followed it
    are :meth:`_handle_received` and :meth:`_end_reading`, step for step."""

    parser = None  # the connection's FrameParser, once it is read when readable
    listener = None  # its registration with the hub, while it is read
    handling = False  # a green thread is lent to it (or it has ended)
    reading_ended = False  # nothing more is read or handled: the socket was closed here

    def _read_when_readable(self, ws, already_read=b""):
        """Hand ``ws``'s reading to the hub (the request that opened it is ending)."""
        self.parser = FrameParser(ws.max_frame_length)
        # eventlet's own reader, a generator made with the websocket, is not used from here on
        # (and, never run to its end, it would hold the websocket in a reference cycle)
        ws.iterator = None
        self.raw_socket = ws.socket.fd
        self.fileno = self.raw_socket.fileno()
        ws.socket.on_close = self._socket_closed
        self.parser.feed(already_read)  # read with the upgrade's last packets, before this
        try:
            self._listen()
        except (OSError, ValueError):  # closed already: end it as a reader would have
            self.parser.ended = True
        if self.parser.buffered or self.parser.ended:
            self.handling = True
            self.server.reading_threads.lend_soon(self)

    def _listen(self):
        if self.listener is None and not self.reading_ended and not self.parser.ended:
            self.listener = hubs.get_hub().add(hubs.hub.READ, self.fileno, self._readable, self._obsoleted, None)
            self.listener.greenlet = None  # eventlet notes who registered (for its debug output): not kept

    def _unlisten(self):
        listener, self.listener = self.listener, None
        if listener is not None:
            hubs.get_hub().remove(listener)

    def _readable(self, fileno):
        """The hub's callback: take what the kernel holds; lend a thread if none handles it."""
        if self.listener is None:  # removed during this turn of the hub
            return
        try:
            data = self.raw_socket.recv(READ_BYTES)
        except BlockingIOError:
            return
        except OSError:  # reset, or closed under us: the end of the stream
            data = b""
        if data:
            self.parser.feed(data)
            if self.parser.buffered > PAUSE_BYTES:
                self._unlisten()  # until the handling catches up (_handle_received)
        else:
            self.parser.ended = True
            self._unlisten()
        if not self.handling:
            self.handling = True
            self.server.reading_threads.lend(self)

    def _obsoleted(self, _error):
        # the hub found the descriptor reused while registered: this socket was closed
        self.listener = None
        self._socket_closed()

    def _socket_closed(self):
        """The websocket's socket is being closed here (``ReadAhead.close``): stop reading it."""
        self.reading_ended = True
        self._unlisten()
        if not self.handling:
            self.handling = True
            self.server.reading_threads.lend_soon(self)  # to end the connection

    def _handle_received(self):
        """Handle every whole message received, in order (in a lent green thread); end the
        connection when reading it is over."""
        try:
            if self._handle_whole_messages():
                self.handling = False  # until more arrives
                return
        except Exception:
            log.exception("reading a websocket failed; closing it")
        self._end_reading()

    def _handle_whole_messages(self):
        """True when all that arrived is handled and more may come; False when reading is over."""
        parser, ws = self.parser, self.websocket
        while not self.reading_ended and not self.closed:
            try:
                received = parser.next()
            except ProtocolError as error:
                ws.close(close_data=(error.status, error.reason))  # as eventlet's _iter_frames
                return False
            if received is None:
                if parser.ended:
                    return False
                self._listen()  # again, if it was paused
                return True
            opcode, data = received
            if opcode & 0x8:
                if opcode == CLOSE:
                    self._answer_close(ws, data)
                    return False
                if opcode == PING:
                    ws.send(data, control_code=PONG)
                continue
            if not self._receive(data):
                return False
        return False

    def _receive(self, data):
        """Upstream's loop body for one message; False when the connection must end."""
        if len(data) > self.server.max_http_buffer_size:
            self.server.logger.info('%s: Unexpected error "packet is too large", closing connection', self.sid)
            return False
        try:
            pkt = eio_packet.Packet(encoded_packet=data)
        except Exception as exc:  # upstream let it out of the request (frames.SocketIOApp logged it)
            log.info("closed a websocket that sent a malformed frame: %s", exc)
            return False
        try:
            self.receive(pkt)
        except engineio_exceptions.UnknownPacketError:
            pass
        except engineio_exceptions.SocketIsClosedError:
            self.server.logger.info('Receive error -- socket is closed')
            return False
        except Exception:
            self.server.logger.exception('Unknown receive error')
            return False
        return True

    @staticmethod
    def _answer_close(ws, data):
        """eventlet's answer to a client's close frame (``_handle_control_frame``)."""
        if not data:
            status = 1000
        elif len(data) > 1:
            status = struct.unpack_from("!H", data)[0]
            try:
                data[2:].decode("utf-8")
            except UnicodeDecodeError:
                status = 1002
            if status not in VALID_CLOSE_STATUS:
                status = 1002
        else:
            status = 1002
        ws.close(close_data=(status, ""))

    def _end_reading(self):
        """What followed upstream's loop, then what eventlet did as the request ended."""
        self.reading_ended = True
        self._unlisten()
        self.queue.put(None)  # the writer closes the websocket after what is queued
        if self.writer is not None:
            self.writer.wait()
        self.queue.on_put = None  # no cycle left between the socket and its queue
        self.close(wait=False, abort=True, reason=self.server.reason.TRANSPORT_CLOSE)
        if self.server.sockets.get(self.sid) is self:  # as engineio.Server does when its handler returns
            del self.server.sockets[self.sid]
        ws = self.websocket
        try:
            ws._send_closing_frame(True)
        except Exception:
            pass
        ws.socket.on_close = None  # no cycle left between the websocket and this socket
        greenio.shutdown_safe(ws.socket)
        ws.socket.close()

"""The door's Socket.IO client manager: rooms shared by every door replica, delivered lean.

python-socketio's ``KombuManager`` does the sharing: an emit is delivered to this
replica's clients at once and published on a fanout exchange for the others (every
replica, this one included, reads that exchange through a queue of its own).
``RoomBroadcast`` keeps that design and removes the per-message costs the benchmark's
profiles showed (docs/benchmarks.md):

* **Publishing.** Upstream builds a new kombu ``Producer`` per emit, and a producer
  declares its exchange when made: a broker round trip before every message. Here one
  producer is kept (declared once) and publishes are serialised on it, since many green
  threads emit at once over the one publisher connection; the emits made while a
  publish is under way leave together as one ``batch`` message (which every door
  replica unpacks; a single emit still goes out in upstream's format).
* **Listening.** Upstream acknowledges every message it reads and decodes it before
  noticing that it published it itself. Here the queue (private to this process, gone with it) is consumed without
  acknowledgements, and a message this replica published is recognised by its ending
  (``"host_id": "<ours>"}`` is always the last key: Python dicts keep their order) and
  dropped undecoded.
* **Delivering to this replica's clients.** Upstream puts the (once-encoded) packet in
  each recipient's Engine.IO queue, and a writer green thread per client wakes to frame
  and send it: a queue hand-off, a green-thread switch and a frame per recipient. Here
  the websocket frame is built once per emit and written straight to each recipient's
  socket with one non-blocking ``send``, when nothing else is pending for that client:
  its queue is empty and no write of its own is in progress (the websocket's send
  lock is free). Otherwise, or when the kernel buffer is full (a slow client), the
  packet takes the regular queue, so a client's messages never reorder and a slow
  client never holds up the room. A partial write holds that websocket's send lock
  until a green thread has written the rest, so the writer thread waits behind it.
  A busy client (written to within 2 ms) gets its next frames gathered for 2 ms and
  written together: one system call for many messages.
* **Finding a client's rooms.** Upstream answers "which rooms is this sid in" (asked on
  every disconnect, twice, and by the door on chat and ``leave_video``) by scanning
  every room, and every connection has a room of its own: O(connections) per question,
  so 10,000 disconnects cost 10,000 x 2 x 10,000 look-ups (minutes of CPU). Here each
  client's rooms are also indexed by sid, kept in step by the two methods through
  which every room change goes (``basic_enter_room`` / ``basic_leave_room``).
"""
import logging
import struct
import time

import eventlet
import socketio
from engineio import packet as eio_packet
from engineio.async_drivers.eventlet import WebSocketWSGI
from eventlet.semaphore import Semaphore
from eventlet.websocket import RFC6455WebSocket
from socketio import packet as sio_packet

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


class RecordingWebSocketWSGI(WebSocketWSGI):
    """python-engineio's eventlet websocket wrapper, telling the Engine.IO socket its websocket.

    Engine.IO keeps the websocket local to the connection's handler; the direct write
    needs it, so it is recorded on the socket (``socket.websocket``) before the handler runs.
    """

    def __init__(self, handler, server):
        engine_socket = getattr(handler, "__self__", None)

        def handle(ws):
            if engine_socket is not None:
                engine_socket.websocket = ws
            return handler(ws)

        super().__init__(handle, server)


def record_websockets(engineio_server):
    """Make ``engineio_server`` record each connection's websocket (see ``RoomBroadcast``)."""
    engineio_server._async = dict(engineio_server._async, websocket=RecordingWebSocketWSGI)
    RFC6455WebSocket._apply_mask = staticmethod(apply_mask)


def apply_mask(data, mask, length=None, offset=0):
    """eventlet's ``RFC6455WebSocket._apply_mask``, the same bytes without a loop per byte.

    Every frame a client sends is masked; eventlet unmasks it one byte at a time in a
    generator (a few microseconds per byte of every incoming event: 6 % of the door's
    CPU while 500 students report progress). One XOR of two big integers does it at once.
    """
    if length is None:
        length = len(data)
    if length <= 0:
        return b""
    key = bytes(mask[(offset + i) % 4] for i in range(4)) * (length // 4 + 1)
    return (int.from_bytes(data[:length], "little") ^ int.from_bytes(key[:length], "little")).to_bytes(length, "little")


class RoomBroadcast(socketio.KombuManager):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._producer = None
        self._publishing = Semaphore()
        self._pending = []
        self._flush_scheduled = False
        self._own_ending = None
        self._rooms_of = {}  # (namespace, sid) -> the rooms it is in (None: "connected", and its own)
        self.direct_writes = 0  # deliveries written straight to the socket (for tests and profiles)
        self.queued_writes = 0  # deliveries that took Engine.IO's queue

    # -- publishing ------------------------------------------------------------------------

    def _publish(self, data):
        """Queue ``data`` for the other replicas; one publish carries what queued meanwhile.

        The flush runs as soon as the emitting green thread yields, so nothing waits on a
        timer: under load, the emits of many workers leave together as one ``batch``
        message (one JSON encoding and one broker write for all), in the order emitted.
        """
        self._pending.append(data)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            eventlet.spawn_n(self._flush)

    def _flush(self):
        with self._publishing:
            self._flush_scheduled = False
            batch, self._pending = self._pending, []
            if not batch:
                return
            # host_id last: how a replica recognises (and skips) its own messages
            message = batch[0] if len(batch) == 1 else {"method": "batch", "messages": batch,
                                                         "host_id": self.host_id}
            self._publish_now(message)

    def _publish_now(self, data):
        body = self.json.dumps(data)
        for attempt in (1, 2):
            try:
                if self._producer is None:
                    self._producer = self.publisher_connection.Producer(
                        exchange=self._exchange(), **self.producer_options)
                self._producer.publish(body)
                return
            except Exception as exc:
                self._producer = None
                try:
                    self.publisher_connection.release()
                except Exception:  # already broken: nothing to release
                    pass
                self.publisher_connection = self._connection()
                log.log(logging.WARNING if attempt == 1 else logging.ERROR,
                        "room broadcast publish failed (%s: %s); %s", type(exc).__name__, exc,
                        "retrying" if attempt == 1 else "giving up")

    # -- listening -------------------------------------------------------------------------

    def _is_own(self, raw_body):
        """Whether a message read back from the exchange was published by this replica."""
        if self._own_ending is None:
            # our JSON text travels as it is (kombu sends a str as text/plain); a JSON-
            # serialised copy of it (escaped quotes) is recognised too
            ending = self.json.dumps({"host_id": self.host_id})[1:]
            self._own_ending = (ending.encode(), self.json.dumps(ending)[1:].encode())
        if isinstance(raw_body, str):
            raw_body = raw_body.encode()
        return raw_body.endswith(self._own_ending)

    def _listen(self):
        retry_sleep = 1
        while True:
            try:
                with self._connection() as connection:
                    messages = []
                    consumer = connection.Consumer(self._queue(), no_ack=True, accept=["json", "text/plain"],
                                                   on_message=messages.append)
                    with consumer:
                        while True:
                            connection.drain_events()
                            retry_sleep = 1
                            while messages:
                                message = messages.pop(0)
                                if self._is_own(message.body):
                                    continue
                                payload = message.payload
                                if isinstance(payload, (str, bytes)):
                                    payload = self.json.loads(payload)
                                if isinstance(payload, dict) and payload.get("method") == "batch":
                                    yield from payload.get("messages") or []
                                else:
                                    yield payload
            except Exception as exc:
                log.error("cannot receive room broadcasts (%s: %s); retrying in %d s",
                          type(exc).__name__, exc, retry_sleep)
                eventlet.sleep(retry_sleep)
                retry_sleep = min(retry_sleep * 2, 60)

    # -- rooms, indexed by client as well -------------------------------------------------

    def basic_enter_room(self, sid, namespace, room, eio_sid=None):
        super().basic_enter_room(sid, namespace, room, eio_sid=eio_sid)
        self._rooms_of.setdefault((namespace, sid), set()).add(room)

    def basic_leave_room(self, sid, namespace, room):
        super().basic_leave_room(sid, namespace, room)
        rooms = self._rooms_of.get((namespace, sid))
        if rooms is not None:
            rooms.discard(room)
            if not rooms:
                del self._rooms_of[(namespace, sid)]

    def get_rooms(self, sid, namespace):
        """The rooms ``sid`` is in (its own included), without scanning every room."""
        return [room for room in self._rooms_of.get((namespace, sid), ()) if room is not None]

    def basic_disconnect(self, sid, namespace, **kwargs):
        """Upstream's, leaving only the rooms ``sid`` is in instead of scanning them all."""
        if namespace not in self.rooms:
            return
        for room in list(self._rooms_of.get((namespace, sid), ())):
            self.basic_leave_room(sid, namespace, room)
        self.callbacks.pop(sid, None)
        for pending in (self.pending_connect, self.pending_disconnect):
            if namespace in pending and sid in pending[namespace]:
                pending[namespace].remove(sid)
                if not pending[namespace]:
                    del pending[namespace]

    # -- delivering to this replica's clients ----------------------------------------------

    def _handle_emit(self, message):
        if message.get("callback") is not None or message.get("binary"):
            return super()._handle_emit(message)
        data = message["data"]
        if isinstance(data, list):
            data = data[0] if len(data) == 1 else tuple(data)
        self._deliver(message["event"], data, message.get("namespace") or "/", message.get("room"),
                      message.get("skip_sid"))

    def _deliver(self, event, data, namespace, room, skip_sid):
        """``Manager.emit`` without callbacks: one packet, one frame, written directly where possible."""
        if namespace not in self.rooms:
            return
        if isinstance(data, tuple):
            data = list(data)
        elif data is not None:
            data = [data]
        else:
            data = []
        skip = skip_sid if isinstance(skip_sid, list) else [skip_sid]
        encoded = self.server.packet_class(sio_packet.EVENT, namespace=namespace, data=[event] + data).encode()
        if isinstance(encoded, list):  # binary attachments: the regular path
            return socketio.Manager.emit(self, event, data[0] if len(data) == 1 else tuple(data), namespace,
                                         room=room, skip_sid=skip_sid)
        eio_pkt = eio_packet.Packet(eio_packet.MESSAGE, encoded)
        frame = text_frame(eio_pkt.encode().encode("utf-8"))
        sockets = self.server.eio.sockets
        direct = queued = 0
        for sid, eio_sid in self.get_participants(namespace, room):
            if sid in skip:
                continue
            engine_socket = sockets.get(eio_sid)
            if engine_socket is not None and self._write_now(engine_socket, frame):
                direct += 1
            else:
                queued += 1
                try:
                    self.server._send_eio_packet(eio_sid, eio_pkt)
                except KeyError:  # gone meanwhile
                    pass
        self.direct_writes += direct
        self.queued_writes += queued

    @staticmethod
    def _write_now(engine_socket, frame):
        """Write ``frame`` to a websocket client now if nothing of its own is pending.

        A client that was written to less than ``BUSY_SECONDS`` ago (an instructor's
        dashboard receiving every student's progress) gets its frames gathered for
        ``GATHER_SECONDS`` and written with one ``sendall``: one system call for many
        messages, at the price of that much delay for that client only. While frames are
        gathered the websocket's send lock is held, so nothing else overtakes them.
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
            # the rest must go before anything else: hold the send lock until it has
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

"""The room log: one RabbitMQ stream every door appends to and every door reads, in one order.

Room emits (and the session records of ``sessions.py``) are appended to a stream queue
(``x-queue-type: stream``) instead of being fanned out through a private queue per door:

* **One order.** Every door reads the same sequence, so a room event has one position on
  every door, and that position is the Socket.IO recovery offset a client keeps.
* **Nothing lost in an outage.** Appends wait in the door's outbox while the broker is away
  and go out, in order, when it is back; each batch is published with a publisher confirm
  and retried until confirmed. A batch is identified by ``(door, seq)``: a retry of a batch
  that did reach the stream (its confirm was lost with the connection) is skipped by every
  reader, so nobody sees it twice.
* **Memory for replay.** Each door keeps the emits of the last ``window_seconds`` (at most
  ``window_entries``) in a :class:`Window`; a recovering client is replayed from there.

Positions are ``(offset, index)``: the stream offset of the message and the record's index
in its batch; clients see them as the string ``"offset.index"``.

Reading a stream over AMQP 0-9-1 needs ``basic_qos``, acknowledgements and the
``x-stream-offset`` consumer argument; each delivery carries its offset in the
``x-stream-offset`` header. A door starts reading at ``now - window`` (a timestamp offset),
so it knows every session and room event a recovering client may ask about, and resumes
from the next offset after a lost connection (no gap, no repeat).
"""
import bisect
from contextlib import nullcontext
import datetime
import itertools
import logging
import socket
import time
import uuid

import amqp
import eventlet
import kombu
from eventlet import patcher
from eventlet.event import Event

from services.realtime.transport import codec

log = logging.getLogger(__name__)

STREAM = "realtime.room-log"
PREFETCH = 1000
ACK_EVERY = 200
BATCH_RECORDS = 500
HEARTBEAT_SECONDS = 30
# messages a door that fell behind reads before it delivers them, together (``gathering``)
TOGETHER_MESSAGES = 100
# the real select: asking the kernel whether more is waiting must not yield
_select = patcher.original("select")
# a door reads this much more than the recovery window at start, so sessions parked just
# before the window's edge are folded too
READ_BACK_MARGIN_SECONDS = 30


def offset_string(pos):
    return f"{pos[0]}.{pos[1]}"


def parse_offset(value):
    """A client's offset string back to a position; None when absent or not one of ours."""
    if not isinstance(value, str):
        return None
    head, _, tail = value.partition(".")
    if not (head.isdigit() and tail.isdigit()):
        return None
    return int(head), int(tail)


def connection_params(amqp_uri):
    """py-amqp's connection arguments for an ``amqp://`` URI (parsed as kombu parses it)."""
    parts = kombu.Connection(amqp_uri)
    return {
        "host": f"{parts.hostname or '127.0.0.1'}:{parts.port or 5672}",
        "userid": parts.userid,
        "password": parts.password,
        "virtual_host": parts.virtual_host or "/",
        "heartbeat": HEARTBEAT_SECONDS,
        "connect_timeout": 5,
    }


def compact_emit(record):
    """An emit record as a door keeps and delivers it: ``(namespace, head, rooms, skip)``.

    ``head`` is the Socket.IO event's JSON array without its closing bracket
    (``["event",{...}``): the frame without the recovery offset is ``head + "]"``, with it
    ``head + ',"12.0"]'``, so neither the delivery nor a replay encodes JSON again.
    ``rooms`` and ``skip`` are tuples of sids and room names.

    It is a plain tuple of strings on purpose. The window holds every emit of the last two
    minutes and more (hundreds of thousands under progress load); as the parsed record (a
    dict, two lists, the payload's dict) each was four or five objects the garbage collector
    walked on every full collection, which took a third of the door's CPU and pauses of
    0.4 s (docs/benchmarks.md). A tuple of strings (and of tuples of strings) is untracked by the
    collections it survives.
    """
    head = codec.dumps([record["e"], *record["d"]])[:-1]
    return (record["ns"], head, tuple(record["to"]), tuple(record["x"]))


class Window:
    """The emits a door has read recently (``compact_emit`` tuples), in log order, for replay.

    ``origin``: the position after which this door has read every record (None until its
    first read). ``evicted``: per room, the last position of an emit dropped from memory,
    so a replay can tell "nothing for these rooms was dropped after here" from "unknown".
    """

    def __init__(self, max_age, max_entries):
        self.max_age = max_age
        self.max_entries = max_entries
        self.origin = None
        self._positions = []
        self._entries = []  # (at, record)
        self._head = 0
        self.evicted = {}

    def __len__(self):
        return len(self._positions) - self._head

    def add(self, pos, emit, now):
        self._positions.append(pos)
        self._entries.append((now, emit))
        self._evict(now)

    def _evict(self, now):
        limit = now - self.max_age
        while len(self) > self.max_entries or (len(self) and self._entries[self._head][0] < limit):
            pos, emit = self._positions[self._head], self._entries[self._head][1]
            for room in emit[2]:
                self.evicted[room] = pos
            self._positions[self._head] = self._entries[self._head] = None
            self._head += 1
        if self._head > 1024 and self._head * 2 > len(self._positions):
            del self._positions[:self._head], self._entries[:self._head]
            self._head = 0

    def held(self, start, rooms):
        """Whether every emit to ``rooms`` after ``start`` is still here."""
        if self.origin is None or start < self.origin:
            return False
        return all(self.evicted.get(room, start) <= start for room in rooms)

    def after(self, start):
        """``(position, emit)`` of every emit after ``start``, oldest first."""
        first = bisect.bisect_right(self._positions, start, lo=self._head)
        for index in range(first, len(self._positions)):
            yield self._positions[index], self._entries[index][1]


class RoomLog:
    """A door's end of the log: ``append`` records, and every record of every door is handed
    on in log order, from one green thread: an emit (``"k": "emit"``) as ``on_emit(position,
    emit)`` with the ``compact_emit`` tuple the window keeps, any other as ``on_record(position,
    record, door)``.

    ``position`` is where this door has read up to; ``ready`` is set once it has read
    everything that was in the log when it started (its own first mark came back).

    ``gathering`` (a context manager factory) is entered around the records of more than one
    room event read at once: a door that fell behind reads what waits (up to
    ``TOGETHER_MESSAGES`` messages) and hands it on inside one, so the transport can write each
    client's share of it together (``frames.gathering``).
    """

    def __init__(self, amqp_uri, on_emit, on_record, window_seconds, window_entries, max_age="30m",
                 max_bytes=2 * 1024 ** 3, door_id=None, gathering=nullcontext):
        self.amqp_uri = amqp_uri
        self.gathering = gathering
        self.on_emit = on_emit
        self.on_record = on_record
        self.door_id = door_id or uuid.uuid4().hex
        self.window_seconds = window_seconds
        self.window = Window(window_seconds + READ_BACK_MARGIN_SECONDS, window_entries)
        self.stream_arguments = {"x-queue-type": "stream", "x-max-age": max_age,
                                 "x-max-length-bytes": int(max_bytes)}
        self.position = (-1, 0)
        self.ready = Event()
        self._outbox = []
        self._more = Event()
        self._seq = itertools.count(1)
        self._inflight = None  # (seq, records) being published: retried as it is
        self._read_upto = {}  # door -> last seq read (a retried batch is skipped)
        self._mark = uuid.uuid4().hex
        self._stopping = False
        self._threads = []
        self.appended = self.published_batches = 0

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self):
        self._threads = [eventlet.spawn(self._publish_forever), eventlet.spawn(self._read_forever),
                         eventlet.spawn(self._mark_until_read)]

    def _mark_until_read(self):
        """Append our mark until we read one back: then everything before it has been read.

        Once is not enough: a stream the publisher has just created may be attached to at its
        end by a reader that comes a moment later, which then never sees a mark sent before.
        """
        while not self.ready.ready():
            self.append({"k": "mark", "token": self._mark})
            self.ready.wait(1.0)

    def stop(self, timeout=10):
        """Publish what is waiting (up to ``timeout``), then stop reading and writing."""
        deadline = time.monotonic() + timeout
        while (self._outbox or self._inflight) and time.monotonic() < deadline:
            eventlet.sleep(0.02)
        if self._outbox or self._inflight:
            log.error("room log: stopping with %d records not appended", len(self._outbox))
        self._stopping = True
        for thread in self._threads:
            thread.kill()

    @property
    def waiting(self):
        """Records not yet confirmed by the broker."""
        return len(self._outbox) + (len(self._inflight[1]) if self._inflight else 0)

    # -- appending ---------------------------------------------------------------------------

    def append(self, record):
        self._outbox.append(record)
        self.appended += 1
        if not self._more.ready():
            self._more.send()

    def _publish_forever(self):
        retry = 0.2
        connection = channel = None
        while not self._stopping:
            try:
                if connection is None:
                    connection = amqp.Connection(confirm_publish=True, **connection_params(self.amqp_uri))
                    connection.connect()
                    channel = connection.channel()
                    self._declare(channel)
                if self._inflight is None:
                    if not self._outbox:
                        self._more.wait(HEARTBEAT_SECONDS / 3)
                        self._more = Event()
                        connection.heartbeat_tick()
                        continue
                    records, self._outbox = self._outbox[:BATCH_RECORDS], self._outbox[BATCH_RECORDS:]
                    self._inflight = (next(self._seq), records)
                seq, records = self._inflight
                body = codec.dumpb({"door": self.door_id, "seq": seq, "r": records})
                channel.basic_publish(amqp.Message(body, delivery_mode=2, content_type="application/json"),
                                      exchange="", routing_key=STREAM)
                self._inflight = None
                self.published_batches += 1
                retry = 0.2
            except Exception as exc:  # the broker went away: keep everything, reconnect, retry
                log.warning("room log: cannot append (%s: %s); %d records wait, retrying in %.1f s",
                            type(exc).__name__, exc, len(self._outbox) + len(self._inflight[1] if self._inflight else ()),
                            retry)
                _close_quietly(connection)
                connection = channel = None
                eventlet.sleep(retry)
                retry = min(retry * 2, 5)
        _close_quietly(connection)

    def _declare(self, channel):
        channel.queue_declare(STREAM, durable=True, auto_delete=False, arguments=self.stream_arguments)

    # -- reading -----------------------------------------------------------------------------

    def _read_forever(self):
        retry = 0.2
        while not self._stopping:
            connection = None
            try:
                connection = amqp.Connection(**connection_params(self.amqp_uri))
                connection.connect()
                channel = connection.channel()
                self._declare(channel)
                channel.basic_qos(0, PREFETCH, False)
                if self.position[0] >= 0:
                    start = self.position[0] + 1  # resume right after the last message read
                else:
                    back = self.window_seconds + READ_BACK_MARGIN_SECONDS
                    # py-amqp sends a naive datetime as an AMQP timestamp through time.mktime (local time)
                    start = datetime.datetime.fromtimestamp(time.time() - back)
                unacked = []
                channel.basic_consume(STREAM, callback=unacked.append, arguments={"x-stream-offset": start})
                retry = 0.2
                while not self._stopping:
                    try:
                        connection.drain_events(timeout=0.2)
                        # a door that fell behind finds more waiting: read it now, to deliver it together
                        while len(unacked) < TOGETHER_MESSAGES and _more_waiting(connection):
                            connection.drain_events(timeout=0.2)
                    except socket.timeout:
                        pass
                    if unacked:
                        messages, unacked[:] = list(unacked), []
                        with self._together(len(messages)):
                            for message in messages:
                                self._read(message)
                        channel.basic_ack(messages[-1].delivery_tag, multiple=True)
                    connection.heartbeat_tick()
            except Exception as exc:
                log.warning("room log: cannot read (%s: %s); retrying in %.1f s", type(exc).__name__, exc, retry)
                eventlet.sleep(retry)
                retry = min(retry * 2, 5)
            finally:
                _close_quietly(connection)

    def _read(self, message):
        offset = message.headers["x-stream-offset"]
        if offset <= self.position[0]:
            return  # already read (a redelivery after reconnecting)
        if self.window.origin is None:
            self.window.origin = (offset - 1, 1 << 30)  # what came before: never read here
        self.position = (offset, 1 << 30)
        try:
            batch = codec.loads(message.body)
            door, seq, records = batch["door"], batch["seq"], batch["r"]
        except (ValueError, TypeError, KeyError):
            log.error("room log: skipped an unreadable message at offset %d", offset)
            return
        if seq <= self._read_upto.get(door, 0):
            return  # a retried batch that had reached the stream already
        self._read_upto[door] = seq
        with self._together(len(records)):
            self._hand_on(offset, door, records)
        self.position = (offset, 1 << 30)

    def _together(self, count):
        """A gathering around ``count`` messages or records, if there is more than one (nested ones are one)."""
        return self.gathering() if count > 1 else nullcontext()

    def _hand_on(self, offset, door, records):
        now = time.time()
        for index, record in enumerate(records):
            pos = (offset, index)
            self.position = pos
            if record.get("k") == "mark":
                if door == self.door_id and record.get("token") == self._mark and not self.ready.ready():
                    self.ready.send(True)
                continue
            try:
                if record.get("k") == "emit":
                    emit = compact_emit(record)
                    self.window.add(pos, emit, now)
                    self.on_emit(pos, emit)
                else:
                    self.on_record(pos, record, door)
            except Exception:
                log.exception("room log: a %s record could not be handled", record.get("k"))


def _more_waiting(connection):
    """Has the broker sent more than has been read (without waiting, or yielding)?"""
    sock = connection.transport.sock
    return bool(_select.select([getattr(sock, "fd", sock)], [], [], 0)[0])


def _close_quietly(connection):
    if connection is None:
        return
    try:
        connection.collect()
    except Exception:  # already gone
        pass

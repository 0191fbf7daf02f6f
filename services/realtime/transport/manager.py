"""The door's client manager: rooms on this door, room emits through the room log.

``RoomLogManager`` plays the part python-socketio's ``KombuManager`` plays upstream (a
``socketio.Manager`` whose emits reach the clients of every server), but over the room log
(``roomlog.py``) instead of a fanout exchange: an emit is appended to the log, and every door,
the emitting one included, delivers it to its own clients when it reads it back. So every
client sees room events in one order, each with a position: the recovery offset, sent as the
last argument to the clients that asked for recovery and to no one else.

Departures from upstream, each for a measured reason (overrides listed in ``__init__.py``):

* ``BaseManager.basic_enter_room`` / ``basic_leave_room`` / ``get_rooms`` / ``basic_disconnect``
  (python-socketio 5.18.1): each client's rooms are indexed by sid as well. Upstream answers
  "which rooms is this sid in" (every disconnect, twice) by scanning every room, and every
  connection has a room of its own: 10,000 disconnects cost minutes of CPU; here, seconds.
* ``Manager.emit`` (python-socketio 5.18.1): a room emit is appended to the log instead of
  being sent; a direct emit (``ignore_queue``: replies to one client) is sent as upstream does.
* Delivery: a packet is framed once per emit (twice when some recipients get the offset) and
  written straight to each idle websocket (``frames.write_now``), through Engine.IO's queue
  otherwise, so nothing reorders. Room events read together (a door that fell behind, or a
  batch of several emits) are written together: one ``send`` per client for all of them
  (``frames.gathering``).
"""
import logging
import secrets
import socket
import time

import eventlet
import socketio
from engineio import packet as eio_packet

from services.realtime.transport.frames import gathering, text_frame, write_now
from services.realtime.transport.presence import PRESENCE_RECORDS, Attendance, PresenceTable
from services.realtime.transport.roomlog import RoomLog, offset_string
from services.realtime.transport.sessions import (
    BEAT_SECONDS, REFRESH_SECONDS, SILENT_DOOR_SECONDS, Session, SessionTable, replay_start,
)

log = logging.getLogger(__name__)

# records that describe sessions; the door that appends one has applied it already
SESSION_RECORDS = frozenset({"open", "state", "join", "leave", "park", "resume", "close", "beat"})
# how often the leader announces the rooms whose number of users changed
COUNTS_SECONDS = 1.0
# changes a door that does not lead keeps for the next leader (a dead leader is replaced
# once it has been silent for SILENT_DOOR_SECONDS)
UNANNOUNCED_SECONDS = 2 * SILENT_DOOR_SECONDS
# connections a roster record lists at most
ROSTER_CHUNK = 500


class RoomLogManager(socketio.Manager):
    """Rooms of this door, emits through the room log, and the recoverable sessions.

    :param amqp_uri: the broker holding the log.
    :param window_seconds: how long a dropped session stays recoverable.
    :param window_entries: room events kept in memory for replay, at most.
    :param max_age: how long the broker keeps the log (a RabbitMQ ``x-max-age``).
    :param max_bytes: how big the broker lets the log grow.
    :param on_drop: called with a sid whose transport this door closed quietly because its
        session was resumed elsewhere (the door forgets that connection).
    :param on_presence: called with each presence :class:`~.presence.Change` this door
        announces (it appended the record that caused it).
    :param on_count: called as ``on_count(room, count, about)`` when this door is the leader
        and a presence room's number of users changed (at most every ``COUNTS_SECONDS``).
    """

    def __init__(self, amqp_uri, window_seconds=120, window_entries=200_000, max_age="30m",
                 max_bytes=2 * 1024 ** 3, on_drop=None, on_presence=None, on_count=None):
        super().__init__()
        self.log = RoomLog(amqp_uri, self._deliver, self._on_record, window_seconds, window_entries, max_age, max_bytes,
                           gathering=gathering)
        self.door_id = self.log.door_id
        self.sessions = SessionTable(window_seconds)
        self.presence = PresenceTable(window_seconds)
        self.on_drop = on_drop
        self.on_presence = on_presence
        self.on_count = on_count
        self.present = {}  # sid -> its Attendance, for the connections with presence on this door
        self._expiring = {}  # sid -> when this door (the leader) appended its ``gone``
        self._announced = {}  # presence room -> the count this door announced last, while it leads
        self._unannounced = {}  # presence room -> (count, about, when) changed, not yet announced
        self._rooms_of = {}  # (namespace, sid) -> the rooms it is in (None: "connected", and its own)
        self.pids = {}  # sid -> pid, for the recoverable sessions connected here
        self.last_sent = {}  # sid -> position of the last room event sent to it
        self.direct_writes = 0  # deliveries written straight to the socket
        self.queued_writes = 0  # deliveries that took Engine.IO's queue
        self._beating = self._counting = None

    # -- lifecycle (the door calls these) -----------------------------------------------------

    def start(self):
        self.log.start()
        self._beating = eventlet.spawn(self._beat_forever)
        self._counting = eventlet.spawn(self._count_forever)

    def stop(self, timeout=10):
        for loop in (self._beating, self._counting):
            if loop is not None:
                loop.kill()
        self.log.stop(timeout)

    def initialize(self):
        """Upstream starts a listener on the first connection; the door starts the log itself."""

    def _beat_forever(self):
        described = {}  # pid -> when its live session was last described in full
        rostered = time.time()  # when this door last restated its presence
        while True:
            now = time.time()
            self.log.append({"k": "beat", "door": self.door_id})
            for pid in self.pids.values():
                if now - described.setdefault(pid, now) >= REFRESH_SECONDS:
                    session = self.sessions.get(pid)
                    if session is not None and session.door == self.door_id:
                        self.log.append(session.describe("state"))
                    described[pid] = now
            live = set(self.pids.values())
            for pid in [pid for pid in described if pid not in live]:
                del described[pid]
            if now - rostered >= REFRESH_SECONDS:
                self._append_rosters()
                rostered = now
            self.sessions.collect_garbage(now)
            try:
                self._expire_presence(now)
                self.presence.collect_garbage(now)
            except Exception:  # never worth the beat: a door that stops beating is taken for dead
                log.exception("could not expire presence")
            eventlet.sleep(BEAT_SECONDS)

    # -- emitting ----------------------------------------------------------------------------

    def emit(self, event, data, namespace, room=None, skip_sid=None, callback=None, to=None,
             ignore_queue=False, **kwargs):
        room = to or room
        if ignore_queue or callback is not None or room is None:
            return super().emit(event, data, namespace, room=room, skip_sid=skip_sid, callback=callback)
        if isinstance(data, tuple):
            data = list(data)
        elif data is not None:
            data = [data]
        else:
            data = []
        if self.server.packet_class.data_is_binary(data):
            raise ValueError("room emits carry JSON only: binary data cannot go through the room log")
        skip = skip_sid if isinstance(skip_sid, list) else ([] if skip_sid is None else [skip_sid])
        rooms = [room] if isinstance(room, str) else list(room)
        self.log.append({"k": "emit", "ns": namespace, "e": event, "d": data, "to": rooms, "x": skip})

    # -- reading the log ---------------------------------------------------------------------

    def _on_record(self, pos, record, door):
        kind = record["k"]
        if kind in PRESENCE_RECORDS:
            self._fold_presence(record, door)
        elif kind in SESSION_RECORDS and door != self.door_id:
            if kind == "resume" and self.pids.get(record["sid"]) == record["pid"]:
                self.drop_quietly(record["sid"], "/")  # it came back on another door
            self.sessions.apply(record, time.time())

    def _deliver(self, pos, emit):
        namespace, head, to, skip = emit
        if namespace not in self.rooms:
            return
        plain = with_offset = None
        sockets = self.server.eio.sockets
        direct = queued = 0
        for sid, eio_sid in self.get_participants(namespace, to):
            if skip and sid in skip:
                continue
            if sid in self.pids:
                if with_offset is None:
                    with_offset = self._frame(namespace, head, pos)
                packet, frame = with_offset
                self.last_sent[sid] = pos
            else:
                if plain is None:
                    plain = self._frame(namespace, head)
                packet, frame = plain
            engine_socket = sockets.get(eio_sid)
            if engine_socket is not None and write_now(engine_socket, frame):
                direct += 1
            else:
                queued += 1
                try:
                    self.server._send_eio_packet(eio_sid, packet)
                except KeyError:  # gone meanwhile
                    pass
        self.direct_writes += direct
        self.queued_writes += queued

    @staticmethod
    def _frame(namespace, head, pos=None):
        """The Engine.IO packet and websocket frame of an emit (``compact_emit``'s ``head``),
        with the recovery offset ``pos`` as its last argument when given: what python-socketio's
        packet encoding makes of ``[event, *data]`` (``[event, *data, offset]``), by concatenation."""
        prefix = "2" if namespace == "/" else f"2{namespace},"
        tail = "]" if pos is None else f',"{offset_string(pos)}"]'
        packet = eio_packet.Packet(eio_packet.MESSAGE, prefix + head + tail)
        return packet, text_frame(packet.encode().encode("utf-8"))

    # -- recoverable sessions ----------------------------------------------------------------

    def _record(self, record):
        """Apply a session record here at once, and append it for every other door."""
        self.sessions.apply(record, time.time())
        self.log.append(record)

    def open_session(self, sid, user_id):
        """A new recoverable session for ``sid``: its pid."""
        pid = secrets.token_urlsafe(16)
        self.pids[sid] = pid
        self._record(Session(pid=pid, sid=sid, user_id=user_id, start=self.log.position, door=self.door_id)
                     .describe("open"))
        return pid

    def find_resumable(self, pid, user_id, offset):
        """``(session, start, why_not)``: the session ``pid`` and where its replay starts, if
        this connection may resume it; else ``why_not``.

        It may when the session exists, belongs to ``user_id``, is within the recovery window,
        and every room event it may have missed after ``offset`` is still held here.
        ``why_not`` is ``"unknown"`` or ``"ahead"`` when this door may simply not have read
        that far in the log yet (worth a short wait), and a final reason otherwise.
        """
        session = self.sessions.get(pid) if isinstance(pid, str) else None
        if session is None:
            return None, None, "unknown"
        if session.user_id != user_id:
            return None, None, "another user's session"
        if not self.sessions.recoverable(session, time.time()):
            return None, None, "past the recovery window"
        start = replay_start(session, offset)
        if start > self.log.position:
            return None, None, "ahead"
        if not self.log.window.held(start, [*session.rooms, session.sid]):
            return None, None, "offset no longer held"
        return session, start, None

    def resume(self, session, start, eio_sid, namespace="/"):
        """Give ``session`` the connection ``eio_sid``: its sid, its rooms, and the missed room
        events after ``start`` (returned as Engine.IO packets, oldest first, to send right after
        the CONNECT packet). Nothing here yields, so no room event is read meanwhile.
        """
        sid = session.sid
        if self.eio_sid_from_sid(sid, namespace) is not None:
            self.drop_quietly(sid, namespace)  # a half-open transport on this door
        self.basic_enter_room(sid, namespace, None, eio_sid=eio_sid)
        self.basic_enter_room(sid, namespace, sid, eio_sid=eio_sid)
        for room in session.rooms:
            self.basic_enter_room(sid, namespace, room, eio_sid=eio_sid)
        self.pids[sid] = session.pid
        missed = []
        for pos, (emit_namespace, head, to, skip) in self.log.window.after(start):
            if emit_namespace != namespace or sid in skip:
                continue
            if any(pos > joined for joined in map(session.joined_at, to) if joined is not None):
                missed.append(self._frame(namespace, head, pos)[0])
                self.last_sent[sid] = pos
        self._record(dict(session.describe("resume"), door=self.door_id, gen=session.generation + 1))
        self._presence_back(sid)
        return missed

    def end_session(self, sid, recoverable, moving=False):
        """The transport of ``sid`` is gone: park its session, or end it (``recoverable`` False).

        Its presence is parked (it still counts for a grace, see ``presence.py``) when it may
        come back: a recoverable session, or any client ``moving`` to another door because
        this one is shutting down (it rejoins there, with the user still counted). Otherwise
        it is gone at once: the room hears that the user left without waiting.
        """
        if sid in self.present:
            del self.present[sid]
            parked = recoverable and (moving or sid in self.pids)
            self.log.append({"k": "parked" if parked else "gone", "sid": sid, "by": self.door_id})
        pid = self.pids.pop(sid, None)
        last_sent = self.last_sent.pop(sid, None)
        session = self.sessions.get(pid) if pid else None
        if session is None or session.door != self.door_id:
            return
        if recoverable:
            self._record(dict(session.describe("park", by=self.door_id, through=list(self.log.position),
                                               last_sent=list(last_sent) if last_sent else None), door=None))
        else:
            self._record({"k": "close", "pid": pid, "gen": session.generation})

    def drop_quietly(self, sid, namespace):
        """Close this door's transport of ``sid`` without a disconnect: its session lives on elsewhere."""
        eio_sid = self.eio_sid_from_sid(sid, namespace)
        self.basic_disconnect(sid, namespace)  # the old transport no longer maps to the sid
        self.pids.pop(sid, None)
        self.last_sent.pop(sid, None)
        self.present.pop(sid, None)  # its new door says ``back``
        if self.on_drop is not None:
            self.on_drop(sid)
        engine_socket = self.server.eio.sockets.get(eio_sid) if eio_sid is not None else None
        if engine_socket is not None:
            close_abruptly(engine_socket)

    # -- rooms (and presence rooms) -------------------------------------------------------------

    def enter_room(self, sid, namespace, room, eio_sid=None):
        if room not in self._rooms_of.get((namespace, sid), ()):
            self.basic_enter_room(sid, namespace, room, eio_sid=eio_sid)
            pid = self.pids.get(sid)
            if pid is not None and room != sid:
                self._record({"k": "join", "pid": pid, "room": room, "at": list(self.log.position)})

    def attend(self, sid, room, presence):
        """Count ``sid``, already in ``room``, in the room's presence on every door
        (``presence``: ``{user, who, about}``; see ``presence.py``). Once per room."""
        attendance = self.present.get(sid)
        if attendance is None:
            attendance = self.present[sid] = Attendance(sid, presence["user"], presence["who"], self.door_id)
        if room not in attendance.rooms:
            attendance.rooms[room] = presence["about"]
            self.log.append({"k": "here", "sid": sid, "room": room, "user": presence["user"],
                             "who": presence["who"], "about": presence["about"], "door": self.door_id})

    def leave_room(self, sid, namespace, room):
        self.basic_leave_room(sid, namespace, room)
        pid = self.pids.get(sid)
        if pid is not None and room != sid:
            self._record({"k": "leave", "pid": pid, "room": room})
        attendance = self.present.get(sid)
        if attendance is not None and attendance.rooms.pop(room, None) is not None:
            self.log.append({"k": "left", "sid": sid, "room": room})
            if not attendance.rooms:
                del self.present[sid]

    # -- presence ----------------------------------------------------------------------------

    def watching(self, room, limit):
        """Up to ``limit`` users in ``room`` on every door (each once) and how many there are."""
        return self.presence.watching(room, limit)

    def _fold_presence(self, record, door):
        now = time.time()
        if door != self.door_id and record.get("door"):
            self.sessions.beats.setdefault(record["door"], now)  # a door we have not heard beat yet
        changes = self.presence.apply(record, now)
        if record["k"] == "gone":
            self._expiring.pop(record["sid"], None)
        if door == self.door_id and self.on_presence is not None:
            for change in changes:
                self.on_presence(change)

    def _presence_back(self, sid):
        """A resumed session: its presence (if any door still counts it, or it expired lately) is this door's."""
        known = self.presence.attendances.get(sid) or self.presence.departed.get(sid, (None,))[0]
        if known is not None:
            self.present[sid] = Attendance(sid, known.user, known.who, self.door_id, dict(known.rooms))
            self.log.append({"k": "back", "sid": sid, "door": self.door_id})

    def _append_rosters(self):
        conns = [[sid, a.user, a.who, a.rooms] for sid, a in self.present.items()]
        for start in range(0, len(conns), ROSTER_CHUNK):
            self.log.append({"k": "roster", "door": self.door_id, "conns": conns[start:start + ROSTER_CHUNK]})

    def _is_leader(self, now):
        """The live door with the smallest id takes presence's time-based decisions (once this
        door has read the log's window: before, it does not know who else is alive)."""
        return self.log.ready.ready() and all(self.door_id < door for door, beat in self.sessions.beats.items()
                   if door != self.door_id and now - beat <= SILENT_DOOR_SECONDS)

    def _silent_since(self, door):
        if door == self.door_id:
            return None
        beat = self.sessions.beats.get(door)
        if beat is None:
            return 0.0  # forgotten: silent for longer than anything we keep
        return beat if time.time() - beat > SILENT_DOOR_SECONDS else None

    def _expire_presence(self, now):
        if not self._is_leader(now):
            return
        for sid, by in self.presence.expired(now, self._silent_since):
            if now - self._expiring.get(sid, 0.0) > BEAT_SECONDS * 2:  # not already on its way
                self._expiring[sid] = now
                self.log.append({"k": "gone", "sid": sid, "by": by, "expired": True})

    def _count_forever(self):
        while True:
            eventlet.sleep(COUNTS_SECONDS)
            try:
                self._announce_counts(time.time())
            except Exception:  # an announcement is not worth the loop
                log.exception("could not announce presence counts")

    def _announce_counts(self, now):
        """The leader announces the counts that changed. Every door keeps the changes of the
        last ``UNANNOUNCED_SECONDS``, so when a leader dies the next one (once the dead one
        has been silent for long enough) announces what changed in between; it may repeat a
        count the dead leader had announced, and never misses one."""
        for room, (count, about) in self.presence.take_changed().items():
            self._unannounced[room] = (count, about, now)
        if not (self._is_leader(now) and self.on_count is not None):
            self._announced.clear()  # another door's to keep
            for room in [r for r, (_, _, when) in self._unannounced.items() if now - when > UNANNOUNCED_SECONDS]:
                del self._unannounced[room]
            return
        for room, (count, about, _) in self._unannounced.items():
            if self._announced.get(room) != count and about is not None:
                self.on_count(room, count, about)
            if count:
                self._announced[room] = count
            else:
                self._announced.pop(room, None)
        self._unannounced = {}

    # -- rooms, indexed by client as well ----------------------------------------------------

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


def close_abruptly(engine_socket, reason=None):
    """Close an Engine.IO socket now, without a CLOSE packet and without waiting for its queue.

    (``engineio.Server.disconnect`` waits for the queue to drain, which a half-open transport
    never does, and it would yield in the middle of a resume.) Its TCP socket is shut down so
    the green thread reading it ends too, and the client sees a transport close: both the
    JavaScript and the Python clients reconnect by themselves after one (a CLOSE packet makes
    python-engineio's client give up: "server disconnect").
    """
    try:
        engine_socket.close(wait=False, abort=True, reason=reason)
    except Exception:  # already closing
        pass
    ws = getattr(engine_socket, "websocket", None)
    if ws is not None:
        try:
            ws.socket.shutdown(socket.SHUT_RDWR)
        except OSError:  # already gone
            pass

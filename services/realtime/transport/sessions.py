"""Session records: who a recoverable connection is, its rooms, and which door holds it now.

A recoverable session (a client that connected with ``auth: {recover: true}``) is described by
records that doors append to the room log (``roomlog.py``) and that every door folds, in log
order, into its own :class:`SessionTable`. So the record outlives the door that made it: after
that door is SIGKILLed, every other door still knows the session's user, sid and rooms.

The records (JSON objects; positions are room-log positions ``[offset, index]``). Four carry
the whole session (``pid, sid, user, start, rooms: [[room, at], ...], gen, door``), so a door
that started reading the log after the session began still learns all of it:

``open``   a session begins; room events after ``start`` may be its.
``state``  the door holding a live session says it again (every ``REFRESH_SECONDS``), so a
           door that reads only the last window of the log knows every live session.
``park``   its transport dropped (``door`` null); it may come back within the recovery window.
           ``through``: the door had sent it every room event up to there; ``last_sent``: the
           last one it sent.
``resume`` it came back on ``door``; whoever held its old transport closes that quietly (a
           half-open drop, or a client moved to another door).

and three more:

``join``   ``{pid, room, at}``: it entered ``room`` when the door had delivered up to ``at``
           (events to that room after ``at`` are its own; earlier ones never reached it).
``leave``  ``{pid, room}``.
``close``  ``{pid, gen}``: it ended for good (the client left, or the server ended it).
``beat``   ``{door}``: a door is alive (every ``BEAT_SECONDS``); sessions of a door that stopped
           beating count as parked since its last beat.

``gen`` (generation) grows with each resume: a late ``park`` or ``close`` from a door that no
longer holds the session carries an older generation and changes nothing, whatever order
the records of two doors reach the log in.

This module is plain data: no sockets, no broker, no clock of its own (``now`` is passed in).
"""
from dataclasses import dataclass, field

BEAT_SECONDS = 5.0
# a live session is described in full this often (well inside the part of the log a starting
# door reads: the recovery window and a margin)
REFRESH_SECONDS = 60.0
FULL_RECORDS = frozenset({"open", "state", "park", "resume"})
# a door that has not beaten for this long is taken for dead
SILENT_DOOR_SECONDS = 3 * BEAT_SECONDS


def position(value):
    """A room-log position from its JSON form (``[offset, index]``), or None."""
    return None if value is None else (int(value[0]), int(value[1]))


@dataclass
class Session:
    pid: str
    sid: str
    user_id: str
    start: tuple
    door: str | None
    generation: int = 0
    rooms: dict = field(default_factory=dict)  # room -> position when it entered
    parked_at: float | None = None
    through: tuple | None = None
    last_sent: tuple | None = None

    def describe(self, kind, **extra):
        """A record of ``kind`` carrying the whole session."""
        return {"k": kind, "pid": self.pid, "sid": self.sid, "user": self.user_id, "start": list(self.start),
                "rooms": [[room, list(at)] for room, at in self.rooms.items()], "gen": self.generation,
                "door": self.door, **extra}

    @classmethod
    def from_record(cls, record):
        return cls(pid=record["pid"], sid=record["sid"], user_id=record["user"], start=position(record["start"]),
                   door=record.get("door"), generation=record.get("gen", 0),
                   rooms={room: position(at) for room, at in record.get("rooms", ())})

    def joined_at(self, room):
        """Where this session's share of ``room`` begins (its own sid room: where it began)."""
        if room == self.sid:
            return self.start
        return self.rooms.get(room)


class SessionTable:
    """Every recoverable session the log has told this door about, folded in log order."""

    def __init__(self, window_seconds):
        self.window_seconds = window_seconds
        self.sessions = {}
        self.beats = {}  # door -> when (by our clock) we last heard it

    def __len__(self):
        return len(self.sessions)

    def get(self, pid):
        return self.sessions.get(pid)

    def apply(self, record, now):
        """Fold one record; returns the session it changed (or None)."""
        kind = record.get("k")
        pid = record.get("pid")
        if kind == "beat":
            self.beats[record["door"]] = now
            return None
        if kind in FULL_RECORDS and pid not in self.sessions:
            session = self.sessions[pid] = Session.from_record(record)
            if session.door is not None:
                self.beats.setdefault(session.door, now)
            if kind == "park":
                session.parked_at = now
                session.through = position(record.get("through"))
                session.last_sent = position(record.get("last_sent"))
            return session
        session = self.sessions.get(pid)
        if session is None or kind in ("open", "state"):
            return None
        if kind == "join":
            session.rooms.setdefault(record["room"], position(record["at"]))
        elif kind == "leave":
            session.rooms.pop(record["room"], None)
        elif kind == "park":
            if record["gen"] == session.generation and record["by"] == session.door:
                session.door = None
                session.parked_at = now
                session.through = position(record.get("through"))
                session.last_sent = position(record.get("last_sent"))
        elif kind == "resume":
            if record["gen"] > session.generation:
                session.generation = record["gen"]
                session.door = record["door"]
                session.parked_at = None
                session.through = session.last_sent = None
        elif kind == "close":
            if record["gen"] >= session.generation:
                del self.sessions[pid]
        return session

    def parked_since(self, session, now):
        """When the session stopped being served: parked, or its door fell silent (None: served)."""
        if session.door is None:
            return session.parked_at
        beat = self.beats.get(session.door)
        if beat is not None and now - beat > SILENT_DOOR_SECONDS:
            return beat
        return None

    def recoverable(self, session, now):
        since = self.parked_since(session, now)
        return since is None or now - since <= self.window_seconds

    def collect_garbage(self, now):
        """Forget sessions past their window; returns how many."""
        expired = [pid for pid, session in self.sessions.items() if not self.recoverable(session, now)]
        for pid in expired:
            del self.sessions[pid]
        silent = [door for door, beat in self.beats.items()
                  if now - beat > self.window_seconds + SILENT_DOOR_SECONDS]
        for door in silent:
            del self.beats[door]
        return len(expired)


def replay_start(session, offset):
    """Where missed room events begin for a client that last received ``offset`` (None: nothing yet).

    If the door that parked it had sent it nothing after ``offset`` (the client got all it
    was sent), nothing between ``offset`` and the park position can be missing, so replay
    may start at the park position: a client of a quiet room stays recoverable even when
    its last room event is older than what doors keep.
    """
    start = offset if offset is not None else session.start
    if session.through is not None and session.last_sent == offset:
        return max(start, session.through)
    return start
